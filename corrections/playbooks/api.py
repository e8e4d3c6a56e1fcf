"""The playbooks API: list, one with every version, create, save a new version, approve a version's
pre-authorisation; and the playbook attached to an incident with its recommended corrections, each
ready to request (the incident's checklist is the incidents API's: /incidents/{ref}/checklist/)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.api.base import ApiListView, ApiView, actor_of
from config.api import MAX_ID, CanWrite, error_responses
from config.strict import StrictSerializer, TextField
from corrections.models import Playbook, PlaybookVersion
from corrections.playbooks import selectors, services
from incidents.api.views import incident_or_404

TEXT_MAX = 20000


class PlaybookVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(read_only=True, slug_field="username")
    preauth_approved_by = serializers.SlugRelatedField(read_only=True, slug_field="username", allow_null=True)
    preauthorised = serializers.BooleanField(read_only=True, help_text="Named and approved by leadership.")
    escalation_criteria = serializers.ListField(child=serializers.DictField(), read_only=True)
    recommendations = serializers.ListField(child=serializers.DictField(), read_only=True)

    class Meta:
        model = PlaybookVersion
        fields = [
            "number", "is_current", "active", "categories", "risk_domains", "min_severity", "priority",
            "escalation_criteria", "steps", "recommendations", "preauthorised_type", "preauthorised", "note",
            "created_by", "created_at", "preauth_approved_by", "preauth_approved_at",
        ]  # fmt: skip
        read_only_fields = fields


class PlaybookSerializer(serializers.ModelSerializer):
    current = serializers.SerializerMethodField()

    class Meta:
        model = Playbook
        fields = ["id", "slug", "title", "current"]
        read_only_fields = fields

    @extend_schema_field(PlaybookVersionSerializer(allow_null=True))
    def get_current(self, playbook):
        versions = getattr(playbook, "current", None) or []
        return PlaybookVersionSerializer(versions[0]).data if versions else None


class PlaybookDetailSerializer(serializers.ModelSerializer):
    versions = PlaybookVersionSerializer(many=True, source="all_versions", help_text="Newest first.")

    class Meta:
        model = Playbook
        fields = ["id", "slug", "title", "versions"]
        read_only_fields = fields


class PlaybookContentSerializer(StrictSerializer):
    """What a version says. Types only here; corrections.playbooks.content checks the rest, field by field."""

    title = TextField(max_length=200)
    active = serializers.BooleanField(required=False, default=True)
    categories = serializers.ListField(child=TextField(max_length=64), max_length=20, required=False, default=list,
                                       help_text="Empty: any category.")  # fmt: skip
    risk_domains = serializers.ListField(child=TextField(max_length=64), max_length=20, required=False,
                                         default=list, help_text="Empty: any risk domain.")  # fmt: skip
    min_severity = TextField(max_length=4, required=False, default="SEV4", help_text="Matches this and worse.")
    priority = serializers.IntegerField(required=False, default=100, help_text="Higher wins when several match.")
    escalation_criteria = serializers.ListField(
        child=serializers.DictField(), max_length=20, required=False, default=list,
        help_text='E.g. {"text": "SEV1 if uplift is confirmed in CBRN", "risk_domain": "cbrn", '
        '"signal": "uplift_confirmed", "severity": "SEV1"}.',
    )  # fmt: skip
    steps = serializers.ListField(child=TextField(max_length=300), max_length=50, help_text="The checklist.")
    recommendations = serializers.ListField(
        child=serializers.DictField(), max_length=10, required=False, default=list,
        help_text='E.g. {"type": "disable_capability", "params": {"capability": "tool_use"}, '
        '"duration_minutes": 4320, "note": "..."}: checked by the catalogue.',
    )  # fmt: skip
    preauthorised_type = TextField(
        max_length=32, required=False, allow_blank=True, default="",
        help_text="One recommended type to pre-authorise (leadership approves).",
    )  # fmt: skip
    note = TextField(max_length=TEXT_MAX, required=False, allow_blank=True, default="", help_text="Why this version.")


class PlaybookCreateSerializer(PlaybookContentSerializer):
    slug = TextField(max_length=64)


class PreauthApproveSerializer(StrictSerializer):
    comment = TextField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")


class RequestBodySerializer(serializers.Serializer):
    deployment = serializers.CharField(allow_blank=True)
    form_url = serializers.CharField(help_text="The request page, filled in.")
    body = serializers.DictField(help_text="What POST /api/v1/incidents/{ref}/corrections/ takes.")


class RecommendationSerializer(serializers.Serializer):
    type = serializers.CharField()
    label = serializers.CharField()
    params = serializers.DictField()
    duration_minutes = serializers.IntegerField(allow_null=True)
    note = serializers.CharField()
    preauthorised = serializers.BooleanField(help_text="Runs at tier 1 here if requested as it stands.")
    requests = RequestBodySerializer(many=True)


class IncidentPlaybookSerializer(serializers.Serializer):
    ref = serializers.CharField()
    playbook = serializers.CharField(allow_null=True, help_text="The playbook's slug, or null when none matched.")
    title = serializers.CharField(allow_null=True)
    version = PlaybookVersionSerializer(allow_null=True)
    recommendations = RecommendationSerializer(many=True)


def _playbook_or_404(playbook_id: int) -> Playbook:
    playbook = selectors.playbook_get(playbook_id) if playbook_id <= MAX_ID else None
    if playbook is None:
        raise NotFound("No such playbook.")
    return playbook


def _detail(playbook_id: int, code: int = status.HTTP_200_OK) -> Response:
    return Response(PlaybookDetailSerializer(_playbook_or_404(playbook_id)).data, status=code)


class PlaybookListView(ApiListView):
    permission_classes = [CanWrite]
    serializer_class = PlaybookCreateSerializer
    queryset = Playbook.objects.none()  # names the model for the schema; the selector decides the rows

    @extend_schema(responses={200: PlaybookSerializer(many=True)}, tags=["playbooks"])
    def get(self, request):
        """Every playbook with its current version."""
        page = self.paginate_queryset(selectors.playbook_list())
        return self.get_paginated_response(PlaybookSerializer(page, many=True).data)

    @extend_schema(
        request=PlaybookCreateSerializer,
        responses={201: PlaybookDetailSerializer, **error_responses(400, 403)},
        tags=["playbooks"],
    )
    def post(self, request):
        """Create a playbook (admins and incident commanders): its version 1."""
        params = PlaybookCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = dict(params.validated_data)
        version = services.playbook_create(actor=actor_of(request), slug=data.pop("slug"), data=data)
        return _detail(version.playbook_id, status.HTTP_201_CREATED)


class PlaybookDetailView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses={200: PlaybookDetailSerializer, **error_responses(404)}, tags=["playbooks"])
    def get(self, request, playbook_id: int):
        """A playbook with every version, newest first."""
        return _detail(playbook_id)


class PlaybookVersionCreateView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(
        request=PlaybookContentSerializer,
        responses={201: PlaybookDetailSerializer, **error_responses(400, 403, 404)},
        tags=["playbooks"],
    )
    def post(self, request, playbook_id: int):
        """Save an edit as a new current version (admins and incident commanders). Earlier versions are kept;
        a pre-authorisation is not carried over: leadership approves the new version again."""
        playbook = _playbook_or_404(playbook_id)
        params = PlaybookContentSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        services.playbook_version_create(actor=actor_of(request), playbook=playbook, data=dict(params.validated_data))
        return _detail(playbook.pk, status.HTTP_201_CREATED)


class PlaybookPreauthApproveView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(
        request=PreauthApproveSerializer,
        responses={200: PlaybookDetailSerializer, **error_responses(400, 403, 404, 409)},
        tags=["playbooks"],
    )
    def post(self, request, playbook_id: int, number: int):
        """Leadership approves this version's pre-authorised correction (not the version's author)."""
        playbook = _playbook_or_404(playbook_id)
        version = next((v for v in playbook.all_versions if v.number == number), None)
        if version is None:
            raise NotFound("No such version of this playbook.")
        params = PreauthApproveSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        services.playbook_preauth_approve(actor=actor_of(request), version=version, **params.validated_data)
        return _detail(playbook.pk)


class IncidentPlaybookView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses={200: IncidentPlaybookSerializer, **error_responses(404)}, tags=["playbooks"])
    def get(self, request, ref: str):
        """The playbook version attached to the incident (or null) and its recommended corrections, each
        with the request body to POST and the request page filled in, per deployment of the incident."""
        incident = incident_or_404(request, ref)
        version = selectors.playbook_for(incident)
        rows = selectors.recommendations_for(incident, version)
        return Response(
            {
                "ref": incident.ref,
                "playbook": version.playbook.slug if version else None,
                "title": version.playbook.title if version else None,
                "version": PlaybookVersionSerializer(version).data if version else None,
                "recommendations": [row.as_dict() for row in rows],
            }
        )
