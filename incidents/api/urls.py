from django.urls import include, path

from incidents.api import people, views
from incidents.api.audit import IncidentBundleView
from incidents.api.preferences import NotificationPreferencesView
from incidents.metrics.api import MetricsView

urlpatterns = [
    path("incidents/", views.IncidentListView.as_view(), name="api-incident-list"),
    path("incidents/<ref:ref>/", views.IncidentDetailView.as_view(), name="api-incident-detail"),
    path("incidents/<ref:ref>/escalate/", views.IncidentEscalateView.as_view(), name="api-incident-escalate"),
    path("incidents/<ref:ref>/assign/", people.IncidentAssignView.as_view(), name="api-incident-assign"),
    path("incidents/<ref:ref>/access/", people.IncidentAccessView.as_view(), name="api-incident-access"),
    path("incidents/<ref:ref>/access/revoke/", people.IncidentAccessRevokeView.as_view(),
         name="api-incident-access-revoke"),
    path("incidents/<ref:ref>/bundle/", IncidentBundleView.as_view(), name="api-incident-bundle"),
    path("incidents/<ref:ref>/timeline/", views.IncidentTimelineView.as_view(), name="api-incident-timeline"),
    path("incidents/<ref:ref>/checklist/", views.IncidentChecklistView.as_view(), name="api-incident-checklist"),
    path("incidents/<ref:ref>/checklist/<int:item_id>/tick/", views.ChecklistTickView.as_view(),
         name="api-checklist-tick"),
    path("metrics/", MetricsView.as_view(), name="api-metrics"),
    path("deployments/", views.DeploymentListView.as_view(), name="api-deployment-list"),
    path("signals/", views.SignalListView.as_view(), name="api-signal-list"),
    path("signals/<int:signal_id>/promote/", views.SignalPromoteView.as_view(), name="api-signal-promote"),
    path("signals/<int:signal_id>/dismiss/", views.SignalDismissView.as_view(), name="api-signal-dismiss"),
    path("", include("incidents.reviews.api.urls")),
    path("", include("incidents.reports.api.urls")),
    path("", include("incidents.channels.api_urls")),
    path("", include("incidents.oncall.api.urls")),
    path("me/notification-preferences/", NotificationPreferencesView.as_view(), name="api-notification-preferences"),
    path("", include("incidents.integrations.urls")),
    path("", include("incidents.reporting.api.urls")),
    path("", include("incidents.customers.urls")),
    path("", include("incidents.evidence.api_urls")),
    path("", include("incidents.sharing.api_urls")),
]  # fmt: skip
