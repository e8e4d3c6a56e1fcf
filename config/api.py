"""API plumbing shared by every app that needs no app of its own: the error format, the permission
classes, the ref pattern and the documented error answers. The base views (every POST of which
honours an Idempotency-Key header) and the schema class are accounts.api.base: they need the user."""

import re

from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, permissions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.converters import REF_REGEX
from config.errors import DomainError
from config.strict import ErrorSerializer


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
