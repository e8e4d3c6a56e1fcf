"""API plumbing shared by every app: the error format, the permission classes, the base views
(every POST of which honours an Idempotency-Key header) and the schema class that documents it."""

import functools
import json
import re

from django.http import HttpResponse
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, permissions, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from accounts import idempotency
from accounts.actor import Actor
from config.converters import REF_REGEX
from config.errors import DomainError
from config.strict import BoundedJSONParser, ErrorSerializer


def exception_handler(exc, context):
    """Every error is JSON: {"detail": "...", "code": "...", "errors": {field: [messages]}}."""
    if isinstance(exc, DomainError):
        body = {"detail": exc.message, "code": exc.code}
        if exc.fields:
            body["errors"] = exc.fields
        return Response(body, status=exc.status)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        response.data = {"detail": "Invalid input.", "code": "invalid", "errors": errors}
    elif isinstance(response.data, dict) and "detail" in response.data:
        code = getattr(response.data["detail"], "code", None) or _code_for(response.status_code)
        response.data = {"detail": str(response.data["detail"]), "code": code}
    return response


def _code_for(status_code: int) -> str:
    return {
        status.HTTP_403_FORBIDDEN: "forbidden",
        status.HTTP_404_NOT_FOUND: "not_found",
    }.get(status_code, "error")


class CanWrite(permissions.BasePermission):
    """Reads for any signed-in user with a role; writes for the roles that may change things."""

    message = "Your role may read but not change this."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated and user.roles):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        return user.can_write


class HasAnyRole(permissions.BasePermission):
    """Read-only endpoints: any signed-in user holding one of the five roles."""

    message = "Your account has no role in Failsafe."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.roles and request.method in permissions.SAFE_METHODS)


# --- base views and helpers every app's API uses -----------------------------------------------

# An incident ref; anything else is refused before it reaches the database (e.g. a NUL byte).
REF_PATTERN = re.compile(rf"^{REF_REGEX}\Z")
MAX_ID = 2**63 - 1  # ids beyond a bigint are 404 without a query

ERROR_DESCRIPTIONS = {
    400: "Invalid input; `errors` names each field.",
    403: "Your role may not do this.",
    404: "No such object, or not visible to you.",
    409: "Not allowed in the object's current state.",
}


def error_responses(*codes: int, descriptions: dict[int, str] | None = None) -> dict[int, OpenApiResponse]:
    """The documented 4xx answers of an endpoint (every one has the ErrorSerializer shape)."""
    described = ERROR_DESCRIPTIONS | (descriptions or {})
    return {code: OpenApiResponse(ErrorSerializer, description=described[code]) for code in codes}


def actor_of(request) -> Actor:
    return Actor.from_request(request, source="api")


# --- Idempotency-Key: a repeated POST runs once (accounts.idempotency) ----------------------------

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENCY_DESCRIPTION = (
    "Optional, 1–255 printable ASCII characters, chosen by the client (e.g. a UUID) and scoped to your "
    "user. Repeating a request with the same key and the same method, path and body within 24 hours "
    "runs it once: the repeat gets the first answer again (status and body, 4xx included; a 5xx is not "
    f"kept) with the header `{REPLAYED_HEADER}: true`. A repeat sent while the first is still running "
    "waits for it and gets its answer. The same key with a different request is refused with 422."
)


def _request_fingerprint(request) -> str:
    """Method, path and body; the body as canonical JSON, so spacing and key order do not matter."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return idempotency.fingerprint(request.method, request.get_full_path(), body)


def _run_once(post):
    """Wrap a view's post(): with an Idempotency-Key header it runs through idempotency_run_once."""

    @functools.wraps(post)  # keeps @extend_schema's annotation
    def post_once(self, request, *args, **kwargs):
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None or getattr(request, "_idempotency_claimed", False):  # no key, or a super().post()
            return post(self, request, *args, **kwargs)
        key = idempotency.validate_key(key, field=IDEMPOTENCY_HEADER)
        print_ = _request_fingerprint(request)  # parses the body first: bad JSON is a 400 that claims nothing
        request._idempotency_claimed = True
        first = None

        def run() -> idempotency.Answer | None:
            nonlocal first
            try:
                response = post(self, request, *args, **kwargs)
            except Exception as exc:
                response = self.handle_exception(exc)  # 4xx as a response; anything else raises and rolls back
            first = self.finalize_response(request, response, *args, **kwargs)
            first.render()
            if first.status_code >= 500:
                return None
            return idempotency.Answer(first.status_code, first.get("Content-Type", ""), first.content.decode())

        outcome = idempotency.idempotency_run_once(
            actor=actor_of(request), channel=idempotency.Channel.API, key=key, fingerprint=print_, run=run,
            field=IDEMPOTENCY_HEADER,
        )  # fmt: skip
        if not outcome.replayed:
            return first
        answer = outcome.answer
        replay = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type or None)
        replay[REPLAYED_HEADER] = "true"
        return replay

    post_once.runs_once = True
    return post_once


class IdempotentPost:
    """Every POST of a subclass honours an Idempotency-Key header (tests/test_idempotency_routes.py
    walks the URL conf to check each POST route does). A view may set `idempotent = False` only for
    a reason the test names."""

    idempotent = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        post = vars(cls).get("post")
        if post is not None and cls.idempotent and not getattr(post, "runs_once", False):
            cls.post = _run_once(post)


class ApiView(IdempotentPost, APIView):
    parser_classes = [BoundedJSONParser]


class ApiListView(IdempotentPost, GenericAPIView):
    parser_classes = [BoundedJSONParser]


class FailsafeAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus the Idempotency-Key header and its 422 on every idempotent POST."""

    def _runs_once(self) -> bool:
        post = getattr(self.view, "post", None)
        return self.method == "POST" and getattr(post, "runs_once", False)

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self._runs_once():
            header = OpenApiParameter(
                IDEMPOTENCY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, description=IDEMPOTENCY_DESCRIPTION
            )
            parameters = [*parameters, header]
        return parameters

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is not None and self._runs_once():
            # @extend_schema(responses=...) replaces get_response_serializers, so the 422 is added here.
            error = self.resolve_serializer(ErrorSerializer, "response")
            operation["responses"].setdefault(
                "422",
                {
                    "description": f"The {IDEMPOTENCY_HEADER} was already used for a different request.",
                    "content": {"application/json": {"schema": error.ref}},
                },
            )
        return operation
