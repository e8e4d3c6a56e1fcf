"""Auditor pages, at /audit/ (see config.urls)."""

from django.urls import path

from incidents import audit_views

urlpatterns = [
    path("", audit_views.event_list, name="audit-events"),
    path("verify/", audit_views.verify, name="audit-verify"),
    path("export.jsonl", audit_views.export_jsonl, name="audit-export-jsonl"),
    path("export.csv", audit_views.export_csv, name="audit-export-csv"),
    path("incidents/", audit_views.incident_list, name="audit-incidents"),
    path("incidents/<ref:ref>/", audit_views.incident_history, name="audit-incident"),
    path("incidents/<ref:ref>/access/", audit_views.incident_access, name="audit-incident-access"),
]
