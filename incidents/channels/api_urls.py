from django.urls import path

from incidents.channels import api

urlpatterns = [
    path("incidents/<ref:ref>/chat-channel/", api.IncidentChatChannelView.as_view(), name="api-incident-chat-channel"),
    path("webhooks/", api.WebhookEndpointListView.as_view(), name="api-webhook-list"),
    path(
        "webhooks/<int:endpoint_id>/rotate-secret/",
        api.WebhookEndpointRotateSecretView.as_view(),
        name="api-webhook-rotate-secret",
    ),
    path("webhooks/<int:endpoint_id>/disable/", api.WebhookEndpointDisableView.as_view(), name="api-webhook-disable"),
]
