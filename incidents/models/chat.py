"""Where notifications go besides email: Slack (a channel per role, an incident's own channel, people's
Slack member ids) and outgoing webhooks signed per Standard Webhooks. Written only through
incidents.channels.services (every change ledgered)."""

from __future__ import annotations

import secrets
from base64 import b64encode

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.roles import Role
from incidents.models.notifications import Event

# The events a webhook endpoint (and a person's preferences) may subscribe to: the Event enum's values.
EVENT_NAMES: tuple[str, ...] = tuple(Event.values)

# Slack ids: channels C…/G…, members U…/W…, upper-case letters and digits (conversations.create
# answers with one, and the admin types them).
SLACK_ID_REGEX = r"^[CGDUW][A-Z0-9]{2,30}$"


class SlackRoleChannel(models.Model):
    """The Slack channel a role's notifications also go to (e.g. leadership → #failsafe-leadership)."""

    role = models.CharField(max_length=32, choices=[(r.value, r.value.replace("_", " ")) for r in Role], unique=True)
    channel_id = models.CharField(max_length=32, help_text="A Slack channel id such as C0123456789.")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["role"]
        verbose_name = "Slack channel for a role"

    def __str__(self) -> str:
        return f"{self.role} → {self.channel_id}"


class SlackIdentity(models.Model):
    """A person's Slack member id, so an incident's own channel can invite them and DMs reach them."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slack_identity")
    member_id = models.CharField(max_length=32, unique=True, help_text="A Slack member id such as U0123456789.")

    class Meta:
        ordering = ["user__username"]
        verbose_name = "Slack identity"
        verbose_name_plural = "Slack identities"

    def __str__(self) -> str:
        return f"{self.user} → {self.member_id}"


class IncidentChatChannel(models.Model):
    """The Slack channel an incident opened for itself (one per incident)."""

    incident = models.OneToOneField("incidents.Incident", on_delete=models.PROTECT, related_name="chat_channel")
    channel_id = models.CharField(max_length=32)
    name = models.CharField(max_length=80)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"#{self.name} ({self.channel_id})"


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: "whsec_" + base64 of 32 random bytes."""
    return "whsec_" + b64encode(secrets.token_bytes(32)).decode()


class WebhookEndpoint(models.Model):
    """A customer's receiver of signed webhooks. The secret signs every delivery; it is shown once,
    when the endpoint is created or its secret rotated, and never again."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, editable=False)
    events = models.JSONField(default=list, help_text="Event names it subscribes to.")
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name
