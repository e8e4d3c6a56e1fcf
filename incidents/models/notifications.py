"""Notifications as data (issue 11 §1): what happened, and one delivery per recipient and channel.

A Notification and its Deliveries are written in the transaction of the change they announce
(incidents.notifications.notify); a Celery task delivers each Delivery after commit through the
shared outbox machinery (accounts.outbox), so a slow or absent mail server never touches the web
request and a broker outage loses nothing. What each recipient may read is decided when the rows
are written (DESIGN §7) and stored on the Delivery: the worker sends exactly that.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.outbox import OutboxRow


class Event(models.TextChoices):
    """What a notification is about. Preferences switch events on and off per channel."""

    SEV1 = "sev1", "An incident is raised to SEV1"
    ESCALATION = "escalation", "An incident is escalated to your role"
    APPROVAL_NEEDED = "approval_needed", "A correction (or its early lift) needs your approval"
    BREAK_GLASS = "break_glass", "Someone broke glass"
    PREAUTHORISED = "preauthorised", "A pre-authorised correction was applied"
    DISPATCH_FAILED = "dispatch_failed", "A correction failed to apply or lift"
    DISPATCH_RETRYING = "dispatch_retrying", "A correction is retrying"
    MANUAL_STEPS = "manual_steps", "A correction needs a manual step"
    PAGE = "page", "You are paged (on call)"
    REMINDER = "reminder", "Reminders (pending approvals, ratification, due dates)"
    REVIEW = "review", "Post-incident reviews and follow-up actions"
    GENERAL = "general", "Anything else"


# Always urgent, whatever the caller says: they ignore quiet hours and cannot be switched off.
URGENT_EVENTS = frozenset({Event.PAGE, Event.SEV1, Event.BREAK_GLASS})


class Notification(models.Model):
    """One thing that happened and was announced; its full text is for those who may see the incident."""

    event = models.CharField(max_length=32, choices=Event, default=Event.GENERAL)
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.PROTECT, null=True, blank=True, related_name="notifications"
    )
    urgent = models.BooleanField(default=False, help_text="Ignores quiet hours and switched-off events.")
    subject = models.CharField(max_length=300)
    body = models.TextField()
    ack_url = models.CharField(max_length=500, blank=True, help_text="An absolute acknowledge link, for pages.")
    # What the incident needs, in the fixed words of incidents.notifications.Need: all that a
    # redacted webhook payload carries besides the ref and the event.
    needs = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event}: {self.subject}"


class DeliveryState(models.TextChoices):
    PENDING = "pending"
    DEFERRED = "deferred", "Deferred (quiet hours)"
    SENT = "sent"
    FAILED = "failed"


class Delivery(OutboxRow):
    """One recipient on one channel: what they are sent (already filtered), and how sending went."""

    notification = models.ForeignKey(Notification, on_delete=models.PROTECT, related_name="deliveries")
    # None: an address that is no person (a role's Slack channel, a webhook endpoint).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(max_length=32)
    address = models.CharField(max_length=320)
    redacted = models.BooleanField(default=False, help_text="Got the generic message (may not see the incident).")
    subject = models.CharField(max_length=300)
    text = models.TextField()
    state = models.CharField(max_length=16, choices=DeliveryState, default=DeliveryState.PENDING)
    idempotency_key = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["done_at", "sent_at"], name="delivery_relay")]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return self.idempotency_key


class NotificationPreference(models.Model):
    """Which events reach a person on which channel, and when not to disturb them.

    No row means the defaults: every event by email, nothing on Slack, no quiet hours. The Slack
    member id DMs go to is the person's SlackIdentity (one store; incidents.preferences reads it).
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    email_events = models.JSONField(default=list, blank=True)
    slack_events = models.JSONField(default=list, blank=True)
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"notification preferences of user {self.user_id}"
