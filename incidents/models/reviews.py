"""Post-incident review tables. Imported by incidents.models, so they belong to the incidents app.

A Review is one per incident; its content lives in numbered ReviewVersions. A version is a draft
until it is published; then the service refuses every change and, on PostgreSQL, a trigger
refuses UPDATE and DELETE of the row (migration 0006). Follow-up actions belong to the review,
not to a version: they are tracked work, editable after publishing; each published version keeps
a snapshot of them as they stood.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

# The document's text sections, in the order the page and the export show them.
SECTIONS = (
    ("summary", "Summary"),
    ("impact", "Impact"),
    ("root_cause", "Root cause"),
    ("contributing_causes", "Contributing causes"),
    ("went_well", "What went well"),
    ("went_badly", "What went badly"),
    ("lessons", "Lessons"),
)
SECTION_FIELDS = tuple(name for name, _ in SECTIONS)
SECTION_MAX = 20000


class Review(models.Model):
    incident = models.OneToOneField("incidents.Incident", on_delete=models.PROTECT, related_name="review")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"review of {self.incident_id}"


class ReviewVersion(models.Model):
    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    summary = models.TextField(blank=True)
    impact = models.TextField(blank=True)
    root_cause = models.TextField(blank=True)
    contributing_causes = models.TextField(blank=True)
    went_well = models.TextField(blank=True)
    went_badly = models.TextField(blank=True)
    lessons = models.TextField(blank=True)
    # [{"kind": "event"|"entry", "id": ledger seq or entry id, "at", "actor", "text"}]: the
    # reference and the words as they were when picked, so a published version never changes.
    timeline_excerpt = models.JSONField(default=list, blank=True)
    # SHA-256 of the sections and the excerpt: what an approval is bound to.
    content_hash = models.CharField(max_length=64)
    # Why this version amends the previous one (empty for version 1).
    amendment_reason = models.TextField(blank=True)
    # Whoever changed this version's content; none of them may approve it.
    editors = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="+", blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    # The follow-up actions as they stood when this version was published.
    follow_ups_snapshot = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["review", "number"]
        constraints = [
            models.UniqueConstraint(fields=["review", "number"], name="review_version_number_once"),
            models.UniqueConstraint(fields=["review"], condition=Q(published_at__isnull=True), name="one_review_draft"),
        ]

    def __str__(self) -> str:
        return f"v{self.number} of {self.review_id}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None

    def sections(self) -> list[tuple[str, str, str]]:
        return [(name, label, getattr(self, name)) for name, label in SECTIONS]


class ReviewApproval(models.Model):
    """A leadership approval of one version, bound to the hash of its content when approved."""

    version = models.ForeignKey(ReviewVersion, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    content_hash = models.CharField(max_length=64)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the draft is edited after the approval: it approved other words.
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "approver"], condition=Q(voided_at__isnull=True), name="one_live_review_approval"
            )
        ]

    def __str__(self) -> str:
        return f"approval of {self.version_id} by {self.approver_id}"


class FollowUpStatus(models.TextChoices):
    OPEN = "open"
    DONE = "done"
    WONT_DO = "wont_do", "Won't do"


class FollowUpAction(models.Model):
    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="follow_ups")
    title = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="follow_ups")
    due_date = models.DateField()
    status = models.CharField(max_length=8, choices=FollowUpStatus, default=FollowUpStatus.OPEN)
    # Once part of a published version it is on the record: it can be closed, never removed.
    published = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_date", "id"]
        indexes = [
            # The owner's overdue list: open actions by due date.
            models.Index(fields=["owner", "due_date"], condition=Q(status="open"), name="follow_up_open_by_owner"),
        ]

    def __str__(self) -> str:
        return self.title
