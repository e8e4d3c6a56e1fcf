"""The drills API: POST /api/v1/drills/ (start), GET /api/v1/drills/ (reports),
GET /api/v1/drills/reports/{id}/, POST /api/v1/incidents/{ref}/drill-report/ (keep one now)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.api.base import ApiListView, ApiView, actor_of
from config.api import MAX_ID, REF_PATTERN, CanWrite, error_responses
from config.strict import SlugRelatedField, StrictBooleanField, StrictSerializer, TextField
from corrections.drills import selectors, services
from corrections.models import Drill, DrillReport, DrillSchedule, Playbook
from incidents.api.serializers import MAX_DEPLOYMENTS, IncidentSerializer
from incidents.models import Category, Deployment, RiskDomain, Severity

TEXT_MAX = 20000


class DrillStartSerializer(StrictSerializer):
    """The scenario, or a playbook that fills in what the scenario leaves out (title, category, risk
    domain, severity); the playbook's current version is attached to the drill's incident."""

    playbook = TextField(
        max_length=64, required=False, allow_blank=True, default="",
        help_text="A playbook's slug: rehearse it (its current version is attached and recorded on the drill).",
    )  # fmt: skip
    title = TextField(
        max_length=200, required=False, allow_blank=True, default="", help_text="Optional with a playbook."
    )
    summary = TextField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")
    category = serializers.ChoiceField(
        choices=Category.choices, required=False, allow_blank=True, default="", help_text="Optional with a playbook."
    )
    risk_domain = serializers.ChoiceField(
        choices=RiskDomain.choices, required=False, allow_blank=True, default="", help_text="Optional with a playbook."
    )
    severity = serializers.ChoiceField(
        choices=Severity.choices, required=False, allow_blank=True, default="",
        help_text="Optional with a playbook (its minimum severity).",
    )  # fmt: skip
    deployments = serializers.ListField(
        child=SlugRelatedField(
            slug_field="slug",
            queryset=Deployment.objects.all(),
            error_messages={"does_not_exist": "Unknown deployment {value!r}."},
        ),
        max_length=MAX_DEPLOYMENTS,
        required=False,
        default=list,
        help_text="Deployment slugs.",
    )
    detected_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="When the scenario says it was detected."
    )
    restricted = StrictBooleanField(required=False, default=False)
    team = TextField(
        max_length=100, required=False, allow_blank=True, default="",
        help_text="The drill schedule (team) this drill counts for; empty for none.",
    )  # fmt: skip

    def validate_playbook(self, value: str) -> Playbook | None:
        if not value:
            return None
        playbook = Playbook.objects.filter(slug=value).first()
        if playbook is None:
            raise serializers.ValidationError(f"No playbook {value!r}.")
        return playbook

    def validate_team(self, value: str) -> DrillSchedule | None:
        if not value:
            return None
        schedule = DrillSchedule.objects.filter(team=value).first()
        if schedule is None:
            raise serializers.ValidationError(f"No drill schedule for team {value!r}.")
        return schedule


class PhaseSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    seconds = serializers.FloatField(allow_null=True, help_text="None: not reached yet (or out of order).")
    who = serializers.CharField(allow_null=True, help_text="Who was slowest in this phase (or whose step it was).")
    who_seconds = serializers.FloatField(allow_null=True)
    correction = serializers.IntegerField(allow_null=True)


class DrillReportSerializer(serializers.ModelSerializer):
    incident = serializers.CharField(source="drill.incident.ref")
    team = serializers.CharField(source="drill.schedule.team", allow_null=True, default=None)
    playbook = serializers.CharField(
        source="drill.playbook_version.label", allow_null=True, default=None,
        help_text="The playbook version the drill rehearsed (slug vN), or null.",
    )  # fmt: skip
    made_by = serializers.CharField(source="made_by.username", allow_null=True, default=None)
    phases = PhaseSerializer(many=True)
    summary = serializers.JSONField()

    class Meta:
        model = DrillReport
        fields = ["id", "incident", "team", "playbook", "trigger", "made_at", "made_by", "phases", "summary"]
        read_only_fields = fields


class DrillSerializer(serializers.ModelSerializer):
    incident = IncidentSerializer()
    team = serializers.CharField(source="schedule.team", allow_null=True, default=None)
    playbook = serializers.CharField(source="playbook_version.label", allow_null=True, default=None)
    started_by = serializers.CharField(source="started_by.username")

    class Meta:
        model = Drill
        fields = ["id", "incident", "team", "playbook", "scenario", "started_by", "started_at"]
        read_only_fields = fields


class DrillFilterSerializer(serializers.Serializer):
    playbook = serializers.SlugField(
        max_length=64, required=False, default="", help_text="Only drills started from this playbook (its slug)."
    )


class DrillListView(ApiListView):
    permission_classes = [CanWrite]
    serializer_class = DrillStartSerializer
    queryset = DrillReport.objects.none()  # names the model for the schema

    def get_queryset(self):
        return selectors.reports_for(user=self.request.user)

    @extend_schema(
        parameters=[DrillFilterSerializer],
        responses={200: DrillReportSerializer(many=True), **error_responses(400)},
        tags=["drills"],
    )
    def get(self, request):
        """Drill reports, newest first (drills you may see); `playbook` compares the drills of one playbook."""
        query = DrillFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        reports = selectors.reports_for(user=request.user, playbook=query.validated_data["playbook"])
        page = self.paginate_queryset(reports)
        return self.get_paginated_response(DrillReportSerializer(page, many=True).data)

    @extend_schema(
        request=DrillStartSerializer,
        responses={201: DrillSerializer, **error_responses(400, 403)},
        tags=["drills"],
    )
    def post(self, request):
        """Start a drill: an incident marked DRILL, real sign-off, dispatch with dry_run (commanders and up)."""
        params = DrillStartSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = dict(params.validated_data)
        drill = services.drill_start(actor=actor_of(request), schedule=data.pop("team"), **data)
        return Response(DrillSerializer(drill).data, status=status.HTTP_201_CREATED)


class DrillReportView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses={200: DrillReportSerializer, **error_responses(404)}, tags=["drills"])
    def get(self, request, report_id: int):
        """One kept drill report: every phase timed, and who was slowest in each."""
        report = selectors.report_get_for(user=request.user, report_id=report_id) if report_id <= MAX_ID else None
        if report is None:
            raise NotFound("No such drill report.")
        return Response(DrillReportSerializer(report).data)


class DrillReportMakeView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(request=None, responses={201: DrillReportSerializer, **error_responses(403, 404)}, tags=["drills"])
    def post(self, request, ref: str):
        """Keep a report of this drill's timing as it stands now."""
        drill = selectors.drill_for_incident(user=request.user, ref=ref) if REF_PATTERN.match(ref) else None
        if drill is None:
            raise NotFound("No such drill.")
        report = services.drill_report_make(actor=actor_of(request), drill=drill)
        return Response(DrillReportSerializer(report).data, status=status.HTTP_201_CREATED)
