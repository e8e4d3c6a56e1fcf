"""On-call rotations and pages. Imported by incidents.models, so they belong to the incidents app.

A Rotation is one per role: ordered members who take weekly turns, or explicit shifts (custom),
with overrides on top. A Page calls someone in for an incident: whoever is on call for a role,
then the next person in the rotation, then the whole role, until someone acknowledges.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.roles import Role


class Rotation(models.Model):
    class Handoff(models.TextChoices):
        WEEKLY = "weekly"
        CUSTOM = "custom", "Custom shifts"

    role = models.CharField(max_length=32, choices=[(r.value, r.value.replace("_", " ")) for r in Role], unique=True)
    name = models.CharField(max_length=100)
    time_zone = models.CharField(max_length=64, default="UTC")
    handoff = models.CharField(max_length=16, choices=Handoff.choices, default=Handoff.WEEKLY)
    # Weekly handoffs: the weekday (0 = Monday) and wall-clock time in time_zone, and the day the
    # first member's first week starts (a handoff day).
    handoff_weekday = models.PositiveSmallIntegerField(null=True, blank=True)
    handoff_time = models.TimeField(null=True, blank=True)
    start_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["role"]

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"


class RotationMember(models.Model):
    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["rotation", "position"]
        constraints = [
            models.UniqueConstraint(fields=["rotation", "position"], name="rotation_member_position_once"),
            models.UniqueConstraint(fields=["rotation", "user"], name="rotation_member_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} at {self.position}"


class Shift(models.Model):
    """One explicit turn of a custom rotation; a rotation's shifts follow each other without gaps."""

    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="shifts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        ordering = ["rotation", "starts_at"]

    def __str__(self) -> str:
        return f"{self.user_id} from {self.starts_at:%Y-%m-%d %H:%M}"


class Override(models.Model):
    """Someone covers the rotation for a while (overrides of one rotation never overlap)."""

    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["rotation", "starts_at"]
        indexes = [models.Index(fields=["rotation", "ends_at"], name="override_current")]

    def __str__(self) -> str:
        return f"{self.user_id} from {self.starts_at:%Y-%m-%d %H:%M}"


class Page(models.Model):
    class Reason(models.TextChoices):
        SEV1 = "sev1", "SEV1"
        BREAK_GLASS = "break_glass", "Break glass"
        APPROVAL_NEEDED = "approval_needed", "Approval needed (tier 3–4)"
        DISPATCH_FAILED = "dispatch_failed", "Correction failed"

    class Step(models.IntegerChoices):
        ON_CALL = 0, "on call"
        NEXT = 1, "next in the rotation"
        WHOLE_ROLE = 2, "the whole role"

    incident = models.ForeignKey("incidents.Incident", on_delete=models.PROTECT, related_name="pages")
    reason = models.CharField(max_length=32, choices=Reason.choices)
    role = models.CharField(max_length=32)
    step = models.PositiveSmallIntegerField(choices=Step.choices, default=Step.ON_CALL)
    created_at = models.DateTimeField()
    # When the beat sweep escalates it if nobody has acknowledged; None once acknowledged or once
    # the whole role has been paged (nothing further to escalate to).
    next_step_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The escalation sweep: the few unacknowledged pages, by when they are due.
            models.Index(fields=["next_step_at"], condition=Q(next_step_at__isnull=False), name="page_due"),
        ]
        constraints = [
            # One open page per incident, role and reason: two failures of one correction at the
            # same moment page once (page_open returns the page the other transaction saved).
            models.UniqueConstraint(
                fields=["incident", "role", "reason"], condition=Q(acknowledged_at__isnull=True), name="page_open_once"
            ),
        ]

    def __str__(self) -> str:
        return f"page {self.pk} ({self.reason}, {self.role})"

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None

    @property
    def role_label(self) -> str:
        return self.role.replace("_", " ")


class PageRecipient(models.Model):
    """Someone a page reached, and at which step."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="recipients")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    step = models.PositiveSmallIntegerField(choices=Page.Step.choices)
    paged_at = models.DateTimeField()

    class Meta:
        ordering = ["page", "step", "id"]
        constraints = [models.UniqueConstraint(fields=["page", "user"], name="page_recipient_once")]

    def __str__(self) -> str:
        return f"{self.user_id} on page {self.page_id}"
