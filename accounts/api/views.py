from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle

from accounts import client, lockout, services
from accounts.actor import Actor
from accounts.api.base import ApiView
from accounts.api.serializers import TokenRequestSerializer, TokenSerializer
from config.strict import ErrorSerializer


class TokenObtainThrottle(AnonRateThrottle):
    """Slows password guessing: a few attempts a minute per client address."""

    scope = "token_obtain"
    rate = "10/minute"

    def get_ident(self, request):
        # The address the ledger and the sign-in lockout use: a forged X-Forwarded-For is no fresh identity.
        return client.client_ip(request)


class TokenObtainView(ApiView):
    """Exchange a username and password for an API token (shown once)."""

    authentication_classes: list = []  # a stale Authorization header must not block getting a new token
    permission_classes = [permissions.AllowAny]
    public_endpoint = True  # the one way in for a client that has no token yet
    throttle_classes = [TokenObtainThrottle]
    # No Idempotency-Key here: there is no user yet to scope a key to, and replaying the answer would
    # mean storing the token in clear (tokens are only ever stored hashed). A repeat issues a second token.
    idempotent = False

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: TokenSerializer,
            400: OpenApiResponse(ErrorSerializer, description="Missing fields, or a wrong username or password."),
            429: OpenApiResponse(
                ErrorSerializer,
                description="Too many attempts, or sign-in locked out for this username or address "
                "(`code` `locked_out`); `Retry-After` says when to try again.",
            ),
        },
        auth=[],
        tags=["auth"],
    )
    def post(self, request):
        params = TokenRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        user = authenticate(
            request._request, username=params.validated_data["username"], password=params.validated_data["password"]
        )
        if user is None:
            # A lockout (django-axes, accounts.lockout) replaces this answer with a 429 on the way out.
            raise serializers.ValidationError(
                {"non_field_errors": ["Unable to sign in with that username and password."]}
            )
        lockout.password_failures_forgive(request=request._request, username=user.get_username())
        actor = Actor(user=user, source="api", request_id=getattr(request, "request_id", ""),
                      client_ip=client.client_ip(request))  # fmt: skip
        return Response(TokenSerializer({"token": services.api_token_issue(actor=actor)}).data)
