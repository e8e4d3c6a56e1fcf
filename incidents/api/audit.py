"""The audit API: read-only, for the audit roles (incidents.audit.AUDIT_ROLES).

Every view parses its query with incidents.audit.filters.AuditEventFilter (the history page's
FilterSet) and calls one selector from incidents.audit;
exports stream (StreamingHttpResponse over a server-side cursor), never loading the ledger.
"""

from __future__ import annotations

import json

import django_filters
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import permissions, serializers
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import ledger
from accounts.models import LedgerEvent
from config.api import REF_PATTERN, CursorPagination, error_responses
from incidents import audit
from incidents.audit.filters import AuditEventFilter


class CanAudit(permissions.BasePermission):
    """Auditors, leadership, incident commanders and admins may read; nobody may write here."""

    message = "The audit API is read-only and needs an auditor, leadership, commander or admin role."

    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS and audit.can_audit(request.user)


_AUDIT_ERRORS = {
    400: "Invalid query; `errors` names each parameter.",
    403: "Your role may not read the audit trail (or the method is not GET).",
    404: "No such incident, or not visible to you.",
}


def _errors(*codes: int):
    return error_responses(*codes, descriptions=_AUDIT_ERRORS)


# --- query parameters and serializers -----------------------------------------------------------


def _filter_parameters() -> list[OpenApiParameter]:
    """The query parameters of the event list and the exports, from the FilterSet itself."""
    return [
        OpenApiParameter(
            name,
            OpenApiTypes.DATETIME if isinstance(f, django_filters.DateTimeFilter) else OpenApiTypes.STR,
            OpenApiParameter.QUERY,
            description=f.extra.get("help_text", ""),
        )
        for name, f in AuditEventFilter.base_filters.items()
    ]


def _filters(request) -> AuditEventFilter:
    """The same filters as the history page (incidents.audit.filters); any bad value is a 400."""
    filters = AuditEventFilter(request.query_params)
    if filters.errors:
        raise serializers.ValidationError(filters.error_dict())
    return filters


class LedgerEventSerializer(serializers.ModelSerializer):
    at = serializers.SerializerMethodField()
    actor_roles = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = LedgerEvent
        fields = [*ledger.HASHED_FIELDS, "prev_hash", "hash"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_at(self, event: LedgerEvent) -> str:
        """In the canonical form the hash covers: 2026-01-31T12:00:00.000000Z."""
        return ledger.format_time(event.at)


class VerificationSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    events = serializers.IntegerField(help_text="Events verified (on a break: the intact ones before it).")
    head_hash = serializers.CharField(help_text="Hash of the last verified event.")
    first_bad_seq = serializers.IntegerField(allow_null=True)
    problem = serializers.CharField(help_text="What is wrong at first_bad_seq; empty when ok.")


# --- views ---------------------------------------------------------------------------------------


class EventCursorPagination(CursorPagination):
    ordering = "seq"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class AuditEventListView(GenericAPIView):
    permission_classes = [CanAudit]
    pagination_class = EventCursorPagination
    serializer_class = LedgerEventSerializer

    @extend_schema(
        parameters=_filter_parameters(),
        responses={200: LedgerEventSerializer(many=True), **_errors(400, 403)},
        tags=["audit"],
    )
    def get(self, request):
        """Ledger events you may see, oldest first, a cursor page at a time."""
        page = self.paginate_queryset(audit.events_for(user=request.user, filters=_filters(request)))
        return self.get_paginated_response(LedgerEventSerializer(page, many=True).data)


class AuditVerifyView(APIView):
    permission_classes = [CanAudit]

    @extend_schema(responses={200: VerificationSerializer, **_errors(403)}, tags=["audit"])
    def get(self, request):
        """Walk the whole chain now; `ok` is false and `first_bad_seq` set if anything was altered."""
        result = ledger.verify()
        return Response(VerificationSerializer({**result.as_dict(), "problem": result.problem}).data)


class JSONLinesRenderer(BaseRenderer):
    """Lets clients ask for JSON Lines; error bodies are still one JSON document."""

    media_type = "application/x-ndjson"
    format = "jsonl"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


class CSVRenderer(JSONLinesRenderer):
    media_type = "text/csv"
    format = "csv"


def _streamed(request, kind: str, generate, content_type: str) -> StreamingHttpResponse:
    filters = _filters(request)
    response = StreamingHttpResponse(generate(user=request.user, filters=filters), content_type=content_type)
    stamp = ledger.format_time(timezone.now()).replace(":", "")[:15]
    response["Content-Disposition"] = f'attachment; filename="failsafe-ledger-{stamp}.{kind}"'
    response["Cache-Control"] = "no-store"
    return response


class AuditExportJsonlView(APIView):
    permission_classes = [CanAudit]
    renderer_classes = [JSONRenderer, JSONLinesRenderer]

    @extend_schema(
        operation_id="audit_export_jsonl",
        parameters=_filter_parameters(),
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR,
                description="JSON Lines, streamed: a `head` record (head_seq, head_hash), one `event` record per "
                "event with prev_hash and hash, then a `verification` record (ok, events, head_hash, first_bad_seq).",
            ),
            **_errors(400, 403),
        },
        tags=["audit"],
    )
    def get(self, request):
        """Export the events you may see as JSON Lines, verifying the whole chain on the way."""
        return _streamed(request, "jsonl", audit.export_jsonl, "application/x-ndjson; charset=utf-8")


class AuditExportCsvView(APIView):
    permission_classes = [CanAudit]
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(
        operation_id="audit_export_csv",
        parameters=_filter_parameters(),
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="CSV, streamed, with a header row. The first row (record=head) carries the head's seq "
                "and hash; the last (record=verification) the result of verifying the chain.",
            ),
            **_errors(400, 403),
        },
        tags=["audit"],
    )
    def get(self, request):
        """Export the events you may see as CSV, verifying the whole chain on the way."""
        return _streamed(request, "csv", audit.export_csv, "text/csv; charset=utf-8")


class IncidentBundleView(APIView):
    permission_classes = [CanAudit]

    @extend_schema(
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="One JSON document: format, generated_at, generated_by, incident, timeline, decisions, "
                "ledger (head_seq, head_hash, events with prev_hash and hash, events_hash_ok), and one key per "
                "section other apps register (e.g. corrections with approvals and dispatch attempts).",
            ),
            **_errors(403, 404, 409),
        },
        tags=["audit"],
    )
    def get(self, request, ref: str):
        """The regulator bundle for one incident (409 for a drill: nothing about one goes to regulators)."""
        bundle = audit.incident_bundle(user=request.user, ref=ref) if REF_PATTERN.match(ref) else None
        if bundle is None:
            raise NotFound("No such incident.")
        response = Response(bundle)
        response["Content-Disposition"] = f'inline; filename="{ref}-bundle.json"'
        return response
