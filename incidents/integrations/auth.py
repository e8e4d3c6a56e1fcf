"""How an integration proves itself: `Authorization: Bearer <token>`, one rate limit per integration.

Missing, wrong, revoked or another kind's token: 401 before the body is read, nothing stored."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling

from incidents.integrations.selectors import integration_for_token
from incidents.models import Integration

REALM = 'Bearer realm="failsafe-integrations"'


class IntegrationTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send `Authorization: Bearer <integration token>`.")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid or revoked integration token.") from exc
        integration = integration_for_token(token)
        if integration is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked integration token.")
        return AnonymousUser(), integration

    def authenticate_header(self, request):
        return REALM  # makes DRF answer 401 (not 403) with WWW-Authenticate


class IsIntegrationOfKind(permissions.BasePermission):
    """The request carries a live integration token of the kind this endpoint speaks."""

    def has_permission(self, request, view):
        integration = request.auth
        if not isinstance(integration, Integration):
            return False  # unauthenticated: DRF answers 401
        if integration.kind != view.integration_kind:
            kind = integration.kind
            raise exceptions.AuthenticationFailed(
                f"This token belongs to a {kind} integration; post to /api/v1/integrations/{kind}/."
            )
        return True


class IntegrationRateThrottle(throttling.SimpleRateThrottle):
    """FAILSAFE_INTEGRATION_RATE per integration (e.g. `120/min`); over it, 429 with Retry-After."""

    scope = "integration"

    def get_rate(self):
        return settings.FAILSAFE_INTEGRATION_RATE

    def get_cache_key(self, request, view):
        integration = request.auth
        return f"throttle_integration_{integration.pk}" if isinstance(integration, Integration) else None


class IntegrationTokenScheme(OpenApiAuthenticationExtension):
    target_class = IntegrationTokenAuthentication
    name = "integrationToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An integration's token (`fsi_…`), made by an admin and shown once.",
        }
