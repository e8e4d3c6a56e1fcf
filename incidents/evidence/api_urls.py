from django.urls import path

from incidents.evidence import api

urlpatterns = [
    path("incidents/<ref:ref>/evidence/", api.IncidentEvidenceView.as_view(), name="api-evidence-list"),
    path("incidents/<ref:ref>/evidence/<int:evidence_id>/download/", api.EvidenceDownloadView.as_view(),
         name="api-evidence-download"),
]  # fmt: skip
