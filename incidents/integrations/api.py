"""Inbound webhooks (an integration's bearer token) and the admins' API to manage integrations."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.actor import Actor
from accounts.api.base import ApiListView, ApiView, actor_of
from accounts.roles import Role
from config.api import MAX_ID, error_responses
from config.strict import SlugRelatedField, StrictSerializer, TextField
from incidents.api.serializers import SeverityHintField
from incidents.integrations import formats, selectors, services
from incidents.integrations.auth import IntegrationRateThrottle, IntegrationTokenAuthentication, IsIntegrationOfKind
from incidents.models import Deployment, Integration, IntegrationKind

# --- receiving ----------------------------------------------------------------------------------


class ReceiptSerializer(serializers.Serializer):
    received = serializers.IntegerField(help_text="Alerts in the delivery.")
    created = serializers.IntegerField(help_text="New signals.")
    folded = serializers.IntegerField(help_text="Alerts that started again while their signal was open.")
    reopened = serializers.IntegerField(help_text="Resolved signals firing again.")
    resolved = serializers.IntegerField(help_text="Signals marked resolved.")
    unchanged = serializers.IntegerField(help_text="Repeats of what was already recorded.")
    ignored = serializers.IntegerField(help_text="Resolved alerts with no open signal.")
    signals = serializers.ListField(child=serializers.IntegerField(), help_text="Ids of the signals touched.")


class WebhookView(ApiView):
    """POST-only; Alertmanager and Grafana send no Idempotency-Key and have no user to scope one to:
    a repeated delivery is harmless instead (the same episode of an alert changes nothing)."""

    idempotent = False
    # No person signs in here: only an integration's bearer token counts (a session or a user's API
    # token is a missing token: 401), so the per-role checks of user endpoints do not apply.
    public_endpoint = True
    authentication_classes = [IntegrationTokenAuthentication]
    permission_classes = [IsIntegrationOfKind]
    throttle_classes = [IntegrationRateThrottle]
    integration_kind = ""

    def alerts(self, body) -> list[formats.Alert]:
        return formats.parse_webhook(self.integration_kind, body)

    def post(self, request):
        integration = request.auth
        alerts = self.alerts(request.data)
        actor = Actor.for_integration(request, pk=integration.pk, name=integration.name)
        receipt = services.alerts_receive(actor=actor, integration=integration, alerts=alerts)
        return Response(ReceiptSerializer(receipt.as_dict()).data, status=status.HTTP_200_OK)


_WEBHOOK_ERRORS = error_responses(
    400, descriptions={400: "Malformed body; `errors` names each field (e.g. `alerts[0].status`). Nothing stored."}
)
_WEBHOOK_RESPONSES = {
    200: ReceiptSerializer,
    **_WEBHOOK_ERRORS,
    401: OpenApiResponse(description="Missing, wrong or revoked token, or another kind's. Nothing stored."),
    413: OpenApiResponse(description="Body over 1 MiB."),
    429: OpenApiResponse(description="Over this integration's rate; see Retry-After."),
}


class AlertmanagerWebhookView(WebhookView):
    integration_kind = IntegrationKind.ALERTMANAGER

    @extend_schema(request=OpenApiTypes.OBJECT, responses=_WEBHOOK_RESPONSES, tags=["integrations"])
    def post(self, request):
        """Prometheus Alertmanager's webhook (version 4). Each alert is one signal, kept by fingerprint."""
        return super().post(request)


class GrafanaWebhookView(WebhookView):
    integration_kind = IntegrationKind.GRAFANA

    @extend_schema(request=OpenApiTypes.OBJECT, responses=_WEBHOOK_RESPONSES, tags=["integrations"])
    def post(self, request):
        """Grafana alerting's webhook contact point. Each alert is one signal, kept by fingerprint."""
        return super().post(request)


class GenericSignalSerializer(serializers.Serializer):
    """Documentation of the generic body; parsing is formats.parse_generic."""

    title = serializers.CharField(max_length=formats.TITLE_MAX)
    detail = serializers.CharField(required=False, max_length=formats.DETAIL_MAX)
    severity_hint = SeverityHintField(required=False)
    deployment = serializers.CharField(required=False, help_text="A deployment's slug.")
    dedup_key = serializers.CharField(
        required=False, max_length=128, help_text="Plays the fingerprint: same key, same signal (per integration)."
    )
    status = serializers.ChoiceField(choices=["firing", "resolved"], required=False, default="firing")
    link = serializers.URLField(required=False, max_length=formats.URL_MAX)
    started_at = serializers.DateTimeField(
        required=False, help_text="When this episode started; repeats change nothing."
    )


class GenericWebhookView(WebhookView):
    integration_kind = IntegrationKind.GENERIC

    def alerts(self, body) -> list[formats.Alert]:
        return [formats.parse_generic(body)]

    @extend_schema(request=GenericSignalSerializer, responses=_WEBHOOK_RESPONSES, tags=["integrations"])
    def post(self, request):
        """The generic signal, from a monitor with an integration token (people use POST /api/v1/signals/)."""
        return super().post(request)


# --- managing (admins) --------------------------------------------------------------------------


class IsAdmin(permissions.BasePermission):
    message = "Only an admin manages integrations."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and (user.is_superuser or user.has_role(Role.ADMIN)))


class IntegrationSerializer(serializers.ModelSerializer):
    token_prefix = serializers.SerializerMethodField()
    default_deployment = serializers.SlugRelatedField(read_only=True, slug_field="slug", allow_null=True)
    default_severity_hint = SeverityHintField(read_only=True)
    created_by = serializers.SlugRelatedField(read_only=True, slug_field="username")
    url = serializers.SerializerMethodField(help_text="Where this integration posts.")

    class Meta:
        model = Integration
        fields = [
            "id", "name", "kind", "token_prefix", "url", "default_deployment", "default_severity_hint", "created_by",
            "created_at", "rotated_at", "revoked_at", "last_used_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_token_prefix(self, obj: Integration) -> str:
        return f"{Integration.TOKEN_PREFIX}{obj.lookup}…"

    def get_url(self, obj: Integration) -> str:
        return f"/api/v1/integrations/{obj.kind}/"


class IntegrationWithTokenSerializer(IntegrationSerializer):
    token = serializers.SerializerMethodField(help_text="Shown this once; only its hash is kept.")

    class Meta(IntegrationSerializer.Meta):
        fields = [*IntegrationSerializer.Meta.fields, "token"]
        read_only_fields = fields

    def get_token(self, obj: Integration) -> str:
        return self.context["token"]


class IntegrationCreateSerializer(StrictSerializer):
    name = TextField(max_length=services.NAME_MAX)
    kind = serializers.ChoiceField(choices=IntegrationKind.choices)
    default_deployment = SlugRelatedField(
        slug_field="slug", queryset=Deployment.objects.all(), required=False, allow_null=True, default=None,
        error_messages={"does_not_exist": "Unknown deployment {value!r}."},
    )  # fmt: skip
    default_severity_hint = SeverityHintField(required=False, default="")


class IntegrationRevokeSerializer(StrictSerializer):
    reason = TextField(max_length=2000)


def _integration_or_404(integration_id: int) -> Integration:
    integration = Integration.objects.filter(pk=integration_id).first() if integration_id <= MAX_ID else None
    if integration is None:
        raise NotFound("No such integration.")
    return integration


class IntegrationListView(ApiListView):
    # The answer carries the new token: an idempotency record would keep it in clear.
    idempotent = False
    permission_classes = [IsAdmin]
    serializer_class = IntegrationSerializer
    queryset = Integration.objects.none()

    @extend_schema(responses={200: IntegrationSerializer(many=True), **error_responses(403)}, tags=["integrations"])
    def get(self, request):
        """Every integration, revoked ones included."""
        page = self.paginate_queryset(selectors.integration_list())
        return self.get_paginated_response(IntegrationSerializer(page, many=True).data)

    @extend_schema(
        request=IntegrationCreateSerializer,
        responses={201: IntegrationWithTokenSerializer, **error_responses(400, 403)},
        tags=["integrations"],
    )
    def post(self, request):
        """Create an integration; its token is in this answer only."""
        params = IntegrationCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        integration, token = services.integration_create(actor=actor_of(request), **params.validated_data)
        body = IntegrationWithTokenSerializer(integration, context={"token": token}).data
        return Response(body, status=status.HTTP_201_CREATED)


class IntegrationRotateView(ApiView):
    # The answer carries the new token: an idempotency record would keep it in clear.
    idempotent = False
    permission_classes = [IsAdmin]

    @extend_schema(
        request=None,
        responses={200: IntegrationWithTokenSerializer, **error_responses(403, 404, 409)},
        tags=["integrations"],
    )
    def post(self, request, integration_id: int):
        """A new token for this integration; the old one stops working at once."""
        integration, token = services.integration_rotate(
            actor=actor_of(request), integration=_integration_or_404(integration_id)
        )
        return Response(IntegrationWithTokenSerializer(integration, context={"token": token}).data)


class IntegrationRevokeView(ApiView):
    permission_classes = [IsAdmin]

    @extend_schema(
        request=IntegrationRevokeSerializer,
        responses={200: IntegrationSerializer, **error_responses(400, 403, 404, 409)},
        tags=["integrations"],
    )
    def post(self, request, integration_id: int):
        """Revoke an integration, with a reason: its token answers 401 from now on."""
        integration = _integration_or_404(integration_id)
        params = IntegrationRevokeSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        integration = services.integration_revoke(
            actor=actor_of(request), integration=integration, reason=params.validated_data["reason"]
        )
        return Response(IntegrationSerializer(integration).data)
