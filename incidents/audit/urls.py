"""Auditor pages, at /audit/ (see config.urls)."""

from django.urls import path

from incidents.audit import views

urlpatterns = [
    path("", views.event_list, name="audit-events"),
    path("verify/", views.verify, name="audit-verify"),
    path("export.jsonl", views.export_jsonl, name="audit-export-jsonl"),
    path("export.csv", views.export_csv, name="audit-export-csv"),
    path("incidents/", views.incident_list, name="audit-incidents"),
    path("incidents/<ref:ref>/", views.incident_history, name="audit-incident"),
    path("incidents/<ref:ref>/access/", views.incident_access, name="audit-incident-access"),
]
