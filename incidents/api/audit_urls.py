"""The audit API, at /api/v1/audit/ (the bundle lives at /api/v1/incidents/{ref}/bundle/, see config.urls)."""

from django.urls import path

from incidents.api import audit

urlpatterns = [
    path("events/", audit.AuditEventListView.as_view(), name="api-audit-events"),
    path("verify/", audit.AuditVerifyView.as_view(), name="api-audit-verify"),
    path("export.jsonl", audit.AuditExportJsonlView.as_view(), name="api-audit-export-jsonl"),
    path("export.csv", audit.AuditExportCsvView.as_view(), name="api-audit-export-csv"),
]
