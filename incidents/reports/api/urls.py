from django.urls import path

from incidents.reports.api import views

BASE = "incidents/<ref:ref>/reports/"

urlpatterns = [
    path(BASE, views.IncidentReportListView.as_view(), name="api-report-list"),
    path(f"{BASE}<regime:regime>/", views.ReportDetailView.as_view(), name="api-report-detail"),
    path(f"{BASE}<regime:regime>/draft/", views.ReportDraftView.as_view(), name="api-report-draft"),
    path(f"{BASE}<regime:regime>/submit/", views.ReportSubmitView.as_view(), name="api-report-submit"),
    path(f"{BASE}<regime:regime>/versions/", views.ReportVersionListView.as_view(), name="api-report-versions"),
    path(
        f"{BASE}<regime:regime>/versions/<int:number>/",
        views.ReportVersionView.as_view(),
        name="api-report-version",
    ),
    path(f"{BASE}<regime:regime>/versions/<int:number>/diff/", views.ReportDiffView.as_view(), name="api-report-diff"),
]
