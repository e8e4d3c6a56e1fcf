"""Evidence files and information sharing (issue 13 §4, §6). Imported by incidents.models.

Evidence is a file attached to an incident: its bytes live in the "evidence" storage
(settings.STORAGES), under a name Failsafe chooses and never reuses; the row keeps what the
upload was found to be (incidents.evidence.sniff), its size and its SHA-256, which the ledger
records too. Rows are never changed or deleted by the app: evidence is kept.

A Share is one package sent to one recipient from the register (SharingRecipient): the fields
chosen, the traffic-light level, and the exact bytes produced (JSON and STIX 2.1) with their
hashes, so what was shared can be shown and proven later.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class EvidenceKind(models.TextChoices):
    PNG = "png", "PNG image"
    JPEG = "jpeg", "JPEG image"
    GIF = "gif", "GIF image"
    WEBP = "webp", "WebP image"
    PDF = "pdf", "PDF document"
    TEXT = "text", "Text (UTF-8)"
    JSON = "json", "JSON"
    CSV = "csv", "CSV"


class Evidence(models.Model):
    incident = models.ForeignKey("incidents.Incident", on_delete=models.PROTECT, related_name="evidence")
    name = models.CharField(max_length=200, help_text="The file name, as uploaded (cleaned).")
    description = models.CharField(max_length=500, blank=True)
    kind = models.CharField(max_length=8, choices=EvidenceKind)
    content_type = models.CharField(max_length=64, help_text="The type it is served with, from its content.")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    # The name in the "evidence" storage: chosen by Failsafe (never the uploader's), never reused.
    storage_name = models.CharField(max_length=255, unique=True, editable=False)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        verbose_name_plural = "evidence"
        indexes = [models.Index(fields=["incident", "-uploaded_at", "-id"], name="evidence_by_incident")]

    def __str__(self) -> str:
        return f"{self.name} ({self.sha256[:12]})"
