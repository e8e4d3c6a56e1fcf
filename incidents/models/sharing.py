"""Information sharing (issue 13 §6): the register of recipients, and each package shared.

See incidents.models.evidence for the evidence files whose hashes a package may carry.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class RecipientKind(models.TextChoices):
    DEVELOPER = "developer", "Another AI developer"
    GOVERNMENT = "government", "Government body"
    OTHER = "other", "Other (e.g. an information-sharing centre)"


class Tlp(models.TextChoices):
    """Traffic Light Protocol 2.0 (FIRST)."""

    CLEAR = "CLEAR", "TLP:CLEAR — no limit on disclosure"
    GREEN = "GREEN", "TLP:GREEN — the recipient's community"
    AMBER = "AMBER", "TLP:AMBER — the recipient's organisation and its clients"
    AMBER_STRICT = "AMBER+STRICT", "TLP:AMBER+STRICT — the recipient's organisation only"
    RED = "RED", "TLP:RED — the named recipients only"


class SharingRecipient(models.Model):
    """Someone Failsafe may share incidents with. Managed by admins (each change is ledgered)."""

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=RecipientKind)
    contact = models.CharField(max_length=300, help_text="Who receives it and how, e.g. an address or a portal.")
    notes = models.TextField(max_length=2000, blank=True)
    active = models.BooleanField(default=True, help_text="Only active recipients can be chosen.")

    class Meta:
        ordering = ["name"]
        verbose_name = "sharing recipient"

    def __str__(self) -> str:
        return self.name


class Share(models.Model):
    """One package shared with one recipient: never changed once made."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text="Names it inside the package.")
    incident = models.ForeignKey("incidents.Incident", on_delete=models.PROTECT, related_name="shares")
    recipient = models.ForeignKey(SharingRecipient, on_delete=models.PROTECT, related_name="shares")
    tlp = models.CharField(max_length=16, choices=Tlp)
    fields = models.JSONField(default=list, help_text="The fields chosen, in the order of the allowlist.")
    purpose = models.TextField(max_length=2000, help_text="Why it is shared (kept in the record).")
    # The exact bytes produced (UTF-8 JSON text), and the SHA-256 of each.
    package = models.TextField()
    package_sha256 = models.CharField(max_length=64)
    stix = models.TextField()
    stix_sha256 = models.CharField(max_length=64)
    shared_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    shared_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-shared_at", "-id"]
        indexes = [models.Index(fields=["incident", "-shared_at", "-id"], name="share_by_incident")]

    def __str__(self) -> str:
        return f"{self.incident_id} to {self.recipient_id} ({self.tlp})"
