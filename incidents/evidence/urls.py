from django.urls import path

from incidents.evidence import views

urlpatterns = [
    path("incidents/<ref:ref>/evidence/", views.evidence_list, name="evidence-list"),
    path("incidents/<ref:ref>/evidence/<int:evidence_id>/download/", views.evidence_download,
         name="evidence-download"),
]  # fmt: skip
