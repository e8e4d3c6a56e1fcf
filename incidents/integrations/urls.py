from django.urls import path

from incidents.integrations import api

urlpatterns = [
    path("integrations/", api.IntegrationListView.as_view(), name="api-integration-list"),
    path("integrations/alertmanager/", api.AlertmanagerWebhookView.as_view(), name="api-integration-alertmanager"),
    path("integrations/grafana/", api.GrafanaWebhookView.as_view(), name="api-integration-grafana"),
    path("integrations/generic/", api.GenericWebhookView.as_view(), name="api-integration-generic"),
    path(
        "integrations/<int:integration_id>/rotate/",
        api.IntegrationRotateView.as_view(),
        name="api-integration-rotate",
    ),
    path(
        "integrations/<int:integration_id>/revoke/",
        api.IntegrationRevokeView.as_view(),
        name="api-integration-revoke",
    ),
]
