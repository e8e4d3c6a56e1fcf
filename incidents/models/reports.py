"""Regulator reports (issue 13 §3). Imported by incidents.models, so they belong to the incidents app.

A Report is one per (incident, regime); its content lives in numbered ReportVersions. A version is
a draft until it is submitted; then the service refuses every change and, on PostgreSQL, a trigger
refuses UPDATE and DELETE of the row (migration 0016). The submitted record is hashed (SHA-256
over canonical JSON, incidents.reports.records) and that hash is in the ledger event of the
submission, so the bundle can verify every version against the hash chain.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from incidents.models.reporting import Regime  # one list of regimes: reporting's (clocks) and reports' own


class ReportKind(models.TextChoices):
    INITIAL = "initial", "Initial"
    INTERMEDIATE = "intermediate", "Intermediate"
    AMENDED = "amended", "Amended"
    FINAL = "final", "Final"


class ReportChannel(models.TextChoices):
    """How a version reached the regulator."""

    PORTAL = "portal", "Regulator's portal"
    EMAIL = "email", "Email"
    API = "api", "Regulator's API"
    OTHER = "other", "Other"


class Report(models.Model):
    incident = models.ForeignKey("incidents.Incident", on_delete=models.PROTECT, related_name="reports")
    regime = models.CharField(max_length=32, choices=Regime.choices)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["incident", "regime"]
        constraints = [models.UniqueConstraint(fields=["incident", "regime"], name="one_report_per_regime")]

    def __str__(self) -> str:
        return f"{self.regime} report of {self.incident_id}"


class ReportVersion(models.Model):
    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=ReportKind)
    # The regime's fields (validated against incidents.reports.regimes), times in the ledger's form.
    fields = models.JSONField(default=dict, blank=True)
    # The template version (incidents.reports.regimes.SCHEMA_VERSION) the fields were checked against.
    schema_version = models.CharField(max_length=20)
    # SHA-256 of kind + fields: what the submitter read (a stale submit is refused).
    content_hash = models.CharField(max_length=64)
    # Why this version follows the previous one (empty for version 1).
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    channel = models.CharField(max_length=8, choices=ReportChannel, blank=True)
    channel_reference = models.CharField(max_length=500, blank=True)
    # SHA-256 over the canonical JSON of the submitted record (incidents.reports.records.version_record).
    sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["report", "number"]
        constraints = [
            models.UniqueConstraint(fields=["report", "number"], name="report_version_number_once"),
            models.UniqueConstraint(fields=["report"], condition=Q(submitted_at__isnull=True), name="one_report_draft"),
        ]

    def __str__(self) -> str:
        return f"v{self.number} of {self.report_id}"

    @property
    def is_submitted(self) -> bool:
        return self.submitted_at is not None
