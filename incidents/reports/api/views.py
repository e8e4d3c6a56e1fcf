"""The reports API. Each view parses with a serializer, calls one service or selector with the
acting user, and renders; services raise DomainError, which config.api turns into 4xx JSON.
A report follows its incident's visibility: an incident the user may not see is a 404. Every POST
honours Idempotency-Key (accounts.api.base): a repeated submit gets the first answer again."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.api.base import ApiListView, ApiView, actor_of
from config.api import CanWrite, error_responses
from incidents.api.views import incident_or_404
from incidents.models import Incident
from incidents.models.reports import Regime, Report, ReportVersion
from incidents.reports import selectors, services
from incidents.reports.api.serializers import (
    ReportDetailSerializer,
    ReportDiffSerializer,
    ReportDocumentSerializer,
    ReportDraftSerializer,
    ReportSerializer,
    ReportStartSerializer,
    ReportSubmitSerializer,
    ReportVersionSerializer,
    ReportVersionSummarySerializer,
    diff,
    document,
)

TAGS = ["reports"]
MAX_VERSION = 10**6


def _report_or_404(request, ref: str, regime: str) -> Report:
    incident = incident_or_404(request, ref)
    report = selectors.report_for(user=request.user, incident=incident, regime=regime)
    if report is None or regime not in Regime.values:
        raise NotFound(f"{incident.ref} has no {regime} report.")
    return report


def _version_or_404(report: Report, number: int | None) -> ReportVersion:
    version = selectors.pick_version(report, number) if number is None or number <= MAX_VERSION else None
    if version is None:
        raise NotFound("No such version.")
    return version


def _draft_or_404(report: Report) -> ReportVersion:
    version = selectors.pick_version(report, None)
    if version is None or version.is_submitted:
        raise NotFound("This report has no draft: start a new version to follow the last one.")
    return version


class IncidentReportListView(ApiListView):
    permission_classes = [CanWrite]
    serializer_class = ReportStartSerializer

    @extend_schema(responses={200: ReportSerializer(many=True), **error_responses(404)}, tags=TAGS)
    def get(self, request, ref: str):
        """The incident's regulator reports, one per regime, with their versions."""
        incident = incident_or_404(request, ref)
        page = self.paginate_queryset(selectors.reports_of(user=request.user, incident=incident))
        return self.get_paginated_response(ReportSerializer(page, many=True).data)

    @extend_schema(
        request=ReportStartSerializer,
        responses={201: ReportVersionSerializer, **error_responses(400, 403, 404, 409)},
        tags=TAGS,
    )
    def post(self, request, ref: str):
        """Start a draft for a regime: version 1 (initial) pre-filled from the incident, or the next
        version (intermediate, amended — with a reason — or final) copied from the last submitted one.
        A drill gets no reports (409)."""
        incident: Incident = incident_or_404(request, ref)
        params = ReportStartSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        version = services.report_start(actor=actor_of(request), incident=incident, **params.validated_data)
        return Response(ReportVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class ReportDetailView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses={200: ReportDetailSerializer, **error_responses(404)}, tags=TAGS)
    def get(self, request, ref: str, regime: str):
        """One regime's report: its versions and the JSON Schema of its fields."""
        return Response(ReportDetailSerializer(_report_or_404(request, ref, regime)).data)


class ReportDraftView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses={200: ReportVersionSerializer, **error_responses(404)}, tags=TAGS)
    def get(self, request, ref: str, regime: str):
        """The open draft with its fields and `content_hash`."""
        return Response(ReportVersionSerializer(_draft_or_404(_report_or_404(request, ref, regime))).data)

    @extend_schema(
        request=ReportDraftSerializer,
        responses={200: ReportVersionSerializer, **error_responses(400, 403, 404, 409)},
        tags=TAGS,
    )
    def put(self, request, ref: str, regime: str):
        """Save the draft: any of the regime's fields (each checked; errors name the field), its kind,
        and optionally `content_hash` (409 if someone saved since). Submitted versions never change."""
        report = _report_or_404(request, ref, regime)
        params = ReportDraftSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        version = services.report_save_draft(
            actor=actor_of(request), incident=report.incident, regime=regime, fields=data["fields"],
            kind=data["kind"], content_hash_seen=data["content_hash"], refresh_facts=data["refresh_facts"],
        )  # fmt: skip
        return Response(ReportVersionSerializer(version).data)


class ReportSubmitView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(
        request=ReportSubmitSerializer,
        responses={200: ReportDocumentSerializer, **error_responses(400, 403, 404, 409)},
        tags=TAGS,
    )
    def post(self, request, ref: str, regime: str):
        """Submit the draft you read (`content_hash`) through `channel`: the version is frozen, its
        record hashed (SHA-256) and ledgered. Fields the regime requires are checked (400 names them).
        Submitting again finds no draft (409); with the same Idempotency-Key it replays the answer."""
        report = _report_or_404(request, ref, regime)
        params = ReportSubmitSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        version = services.report_submit(
            actor=actor_of(request), incident=report.incident, regime=regime, **params.validated_data
        )
        report = _report_or_404(request, ref, regime)
        return Response(document(report, _version_or_404(report, version.number)))


class ReportVersionListView(ApiListView):
    permission_classes = [CanWrite]
    serializer_class = ReportVersionSummarySerializer

    @extend_schema(responses={200: ReportVersionSummarySerializer(many=True), **error_responses(404)}, tags=TAGS)
    def get(self, request, ref: str, regime: str):
        """Every version of the report, oldest first (drafts included)."""
        report = _report_or_404(request, ref, regime)
        page = self.paginate_queryset(list(report.versions.all()))
        return self.get_paginated_response(ReportVersionSummarySerializer(page, many=True).data)


class ReportVersionView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses={200: ReportDocumentSerializer, **error_responses(404)}, tags=TAGS)
    def get(self, request, ref: str, regime: str, number: int):
        """One version as JSON: the record as submitted, its SHA-256, and whether it re-hashes the same."""
        report = _report_or_404(request, ref, regime)
        version = _version_or_404(report, number)
        response = Response(document(report, version))
        response["Content-Disposition"] = f'inline; filename="{report.incident.ref}-{regime}-v{number}.json"'
        return response


class ReportDiffView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses={200: ReportDiffSerializer, **error_responses(404)}, tags=TAGS)
    def get(self, request, ref: str, regime: str, number: int):
        """What version `number` changed from the one before it, field by field."""
        report = _report_or_404(request, ref, regime)
        return Response(diff(report, _version_or_404(report, number)))
