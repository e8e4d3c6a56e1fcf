"""API plumbing shared by every app that needs no app of its own: the error format (and the 404 of an
address no API route matches), the permission classes, pagination, the ref pattern and the documented
error answers. The base views (every POST of which
honours an Idempotency-Key header) and the schema class are accounts.api.base: they need the user."""

import re

from django.core.paginator import InvalidPage
from django.http import Http404, JsonResponse
from django.views import defaults
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, pagination, permissions, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response

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
    # Imported here: rest_framework.views reads DEFAULT_CONTENT_NEGOTIATION_CLASS (this module's) when
    # it loads, so importing it at the top made `import config.api` first in a process circular.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        flat = {str(field): _messages(value) for field, value in errors.items()}
        response.data = {"detail": "Invalid input.", "code": "invalid", "errors": flat}
    elif isinstance(response.data, dict) and "detail" in response.data:
        code = getattr(response.data["detail"], "code", None) or _code_for(response.status_code)
        response.data = {"detail": str(response.data["detail"]), "code": code}
    return response


def _messages(value, where: str = "") -> list[str]:
    """A field's errors as the sentences the schema documents; an item of a list or a key of an object
    is named before its own messages ("[2]: This field may not be blank.", "params.capability: …")."""
    if isinstance(value, dict):  # a ListField's errors are keyed by the item's position
        return [m for key, inner in value.items() for m in _messages(inner, _inside(where, key))]
    if isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        return [m for i, inner in enumerate(value) for m in _messages(inner, f"{where}[{i}]")]
    items = value if isinstance(value, list) else [value]
    return [f"{where}: {item}" if where else str(item) for item in items]


def _inside(where: str, key) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else str(key)


def not_found(request, exception):
    """handler404: an address under /api/ that no route matches answers in the API's error format."""
    if request.path.startswith("/api/"):
        body = {"detail": "Nothing in the API at this address.", "code": "not_found"}
        return JsonResponse(body, status=status.HTTP_404_NOT_FOUND)
    return defaults.page_not_found(request, exception)


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


class ContentNegotiation(DefaultContentNegotiation):
    """?format= (the schema documents it where an endpoint has more than one representation) naming none
    of them is bad input, a 400 naming `format`; DRF's own answer is a 404, as if nothing were there."""

    def filter_renderers(self, renderers, format):
        try:
            return super().filter_renderers(renderers, format)
        except Http404:
            formats = ", ".join(renderer.format for renderer in renderers)
            raise exceptions.ValidationError({"format": [f"Not a format this answers in; use {formats}."]}) from None


# --- pagination: a page or cursor that does not exist is bad input (400), not a missing object -----


class PageNumberPagination(pagination.PageNumberPagination):
    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except exceptions.NotFound as exc:
            if not isinstance(exc.__context__, InvalidPage):
                raise
            raise exceptions.ValidationError({self.page_query_param: [str(exc.__context__)]}) from exc


class CursorPagination(pagination.CursorPagination):
    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound as exc:
            raise exceptions.ValidationError({self.cursor_query_param: ["Not a cursor this list gave out."]}) from exc


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
