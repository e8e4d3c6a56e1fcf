"""The channels' API: an incident's own Slack channel (commanders) and webhook endpoints (admins).
Each view parses, calls one service and renders; DomainError becomes 4xx JSON (config.api)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.api.base import ApiListView, ApiView, actor_of
from accounts.roles import Role
from config.api import MAX_ID, REF_PATTERN, CanWrite, error_responses
from config.strict import StrictSerializer, TextField
from incidents import selectors
from incidents.channels import services
from incidents.models import EVENT_NAMES, Incident, IncidentChatChannel, WebhookEndpoint


class IsAdminRole(permissions.BasePermission):
    """Reads and writes for the admin role only (webhook endpoints are configuration)."""

    message = "Only an admin may manage webhooks."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.has_role(Role.ADMIN))


# --- an incident's Slack channel ------------------------------------------------------------------


class ChatChannelSerializer(serializers.ModelSerializer):
    created = serializers.SerializerMethodField()

    class Meta:
        model = IncidentChatChannel
        fields = ["channel_id", "name", "created_at", "created"]

    def get_created(self, chat) -> bool:
        """True when this request opened it; false when it was already open."""
        return bool(self.context.get("created"))


def _incident_or_404(request, ref: str) -> Incident:
    incident = selectors.incident_get_for(user=request.user, ref=ref) if REF_PATTERN.match(ref) else None
    if incident is None:
        raise NotFound("No such incident.")
    return incident


class ChatChannelOpenSerializer(StrictSerializer):
    """No fields: an empty object (or no body)."""


class IncidentChatChannelView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(
        request=ChatChannelOpenSerializer,
        responses={200: ChatChannelSerializer, 201: ChatChannelSerializer, **error_responses(400, 403, 404, 409)},
        tags=["incidents"],
    )
    def post(self, request, ref: str):
        """Open the incident's own Slack channel (201), or return the one already open (200).
        Its people whose Slack ids are known are invited; a restricted incident's channel is
        private and holds only the ref and a link. 409 when Slack is off or refuses."""
        ChatChannelOpenSerializer(data=request.data).is_valid(raise_exception=True)
        incident = _incident_or_404(request, ref)
        chat, created = services.incident_open_chat_channel(actor=actor_of(request), incident=incident)
        body = ChatChannelSerializer(chat, context={"created": created}).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


# --- webhook endpoints -------------------------------------------------------------------------------


class WebhookEndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_NAMES))

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "name", "url", "events", "active", "created_at", "secret_rotated_at", "disabled_at"]


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(help_text="Shown this once: store it to verify signatures.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookEndpointCreateSerializer(StrictSerializer):
    name = TextField(max_length=100)
    url = TextField(max_length=500)
    events = serializers.ListField(
        child=TextField(max_length=50), max_length=len(EVENT_NAMES) * 2, help_text=f"Any of: {', '.join(EVENT_NAMES)}."
    )


def _endpoint_or_404(endpoint_id: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first() if endpoint_id <= MAX_ID else None
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


class WebhookEndpointListView(ApiListView):
    permission_classes = [IsAdminRole]
    serializer_class = WebhookEndpointCreateSerializer
    queryset = WebhookEndpoint.objects.none()  # names the model for the schema

    def get_queryset(self):
        return WebhookEndpoint.objects.order_by("name", "id")

    @extend_schema(responses={200: WebhookEndpointSerializer(many=True), **error_responses(403)}, tags=["webhooks"])
    def get(self, request):
        """Every webhook endpoint (secrets are never shown again)."""
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(WebhookEndpointSerializer(page, many=True).data)

    @extend_schema(
        request=WebhookEndpointCreateSerializer,
        responses={201: WebhookEndpointWithSecretSerializer, **error_responses(400, 403)},
        tags=["webhooks"],
    )
    def post(self, request):
        """Add an endpoint; the answer carries its `whsec_…` secret, this once."""
        params = WebhookEndpointCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_create(actor=actor_of(request), **params.validated_data)
        return Response(WebhookEndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class WebhookEndpointRotateSecretView(ApiView):
    permission_classes = [IsAdminRole]

    @extend_schema(
        request=None,
        responses={200: WebhookEndpointWithSecretSerializer, **error_responses(403, 404)},
        tags=["webhooks"],
    )
    def post(self, request, endpoint_id: int):
        """A new secret, effective at once; the answer carries it, this once."""
        endpoint = services.webhook_endpoint_rotate_secret(
            actor=actor_of(request), endpoint=_endpoint_or_404(endpoint_id)
        )
        return Response(WebhookEndpointWithSecretSerializer(endpoint).data)


class WebhookEndpointDisableView(ApiView):
    permission_classes = [IsAdminRole]

    @extend_schema(
        request=None, responses={200: WebhookEndpointSerializer, **error_responses(403, 404)}, tags=["webhooks"]
    )
    def post(self, request, endpoint_id: int):
        """Stop delivering to this endpoint (deliveries still queued fail for good)."""
        endpoint = services.webhook_endpoint_disable(actor=actor_of(request), endpoint=_endpoint_or_404(endpoint_id))
        return Response(WebhookEndpointSerializer(endpoint).data)
