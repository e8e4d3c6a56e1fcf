"""The reportability API: an incident's assessments and clocks, the deadlines across incidents,
and the rule versions. Each view parses, calls one service or selector with the acting user, and
renders; services raise DomainError, which config.api turns into 4xx JSON."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from accounts.api.base import ApiListView, ApiView, actor_of
from config.api import CanWrite, error_responses
from incidents.api.views import incident_or_404
from incidents.models import Incident
from incidents.models.reporting import Clock, RuleVersion
from incidents.pagination import CappedPageNumberPagination
from incidents.reporting import rules, selectors, services
from incidents.reporting.api.serializers import (
    AssessmentCreateSerializer,
    ClockSerializer,
    DeadlineFilterSerializer,
    ReportabilitySerializer,
    RuleVersionCreateSerializer,
    RuleVersionSerializer,
)

TAGS = ["reportability"]


def reportability_data(incident: Incident) -> dict:
    regimes = []
    for status_ in selectors.reportability_of(incident=incident):
        current = status_.current
        running = [c for c in status_.clocks if c.state == "running"]
        waiting = (
            services.plan_for(current).waiting if current and current.decision == "applies" and not running else ""
        )
        regimes.append({
            "regime": status_.regime, "label": status_.label, "facts": rules.REGIME_FACTS[status_.regime],
            "current": current, "history": status_.history, "clocks": status_.clocks, "waiting": waiting,
        })  # fmt: skip
    return {"ref": incident.ref, "regimes": regimes}


class ReportabilityView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses={200: ReportabilitySerializer, **error_responses(404)}, tags=TAGS)
    def get(self, request, ref: str):
        """Each regime's assessment (with its history of revisions) and clocks, earliest due first."""
        incident = incident_or_404(request, ref)
        return Response(ReportabilitySerializer(reportability_data(incident)).data)

    @extend_schema(
        request=AssessmentCreateSerializer,
        responses={201: ReportabilitySerializer, **error_responses(400, 403, 404)},
        tags=TAGS,
    )
    def post(self, request, ref: str):
        """Record or revise whether a regime applies (incident commanders and leadership). A revision
        needs a reason; so does "does not apply". Starts, keeps or stops the regime's clocks."""
        incident = incident_or_404(request, ref)
        params = AssessmentCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        services.assessment_record(
            actor=actor_of(request), incident=incident, regime=data["regime"], decision=data["decision"],
            reason=data["reason"], facts=data["facts"], milestones=params.milestones(),
        )  # fmt: skip
        return Response(ReportabilitySerializer(reportability_data(incident)).data, status=status.HTTP_201_CREATED)


class DeadlineListView(ApiListView):
    permission_classes = [CanWrite]
    pagination_class = CappedPageNumberPagination
    serializer_class = ClockSerializer
    queryset = Clock.objects.none()

    @extend_schema(
        parameters=[
            OpenApiParameter("state", str, enum=["running", "overdue", "met", "stopped"]),
            OpenApiParameter("regime", str, enum=[r.value for r in rules.Regime]),
        ],
        responses={200: ClockSerializer(many=True), **error_responses(400)},
        tags=TAGS,
    )
    def get(self, request):
        """Regulators' clocks of every incident visible to you: running ones first, earliest due first."""
        params = DeadlineFilterSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        clocks = selectors.deadlines_for(
            user=request.user,
            state=params.validated_data.get("state", ""),
            regime=params.validated_data.get("regime", ""),
        )
        page = self.paginate_queryset(clocks)
        return self.get_paginated_response(ClockSerializer(page, many=True).data)


class RuleVersionListView(ApiListView):
    permission_classes = [CanWrite]
    pagination_class = CappedPageNumberPagination
    serializer_class = RuleVersionSerializer
    queryset = RuleVersion.objects.none()

    @extend_schema(responses={200: RuleVersionSerializer(many=True)}, tags=TAGS)
    def get(self, request):
        """Every version of every regime's rule, newest first per regime."""
        page = self.paginate_queryset(selectors.rule_versions())
        return self.get_paginated_response(RuleVersionSerializer(page, many=True).data)

    @extend_schema(
        request=RuleVersionCreateSerializer,
        responses={201: RuleVersionSerializer, **error_responses(400, 403, 409)},
        tags=TAGS,
    )
    def post(self, request):
        """Publish a new version of a regime's rule (admins). It applies to clocks whose milestone falls
        on or after `effective_from`; clocks already started keep the version they used."""
        params = RuleVersionCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        rule = services.rule_version_create(actor=actor_of(request), **params.validated_data)
        return Response(RuleVersionSerializer(rule).data, status=status.HTTP_201_CREATED)
