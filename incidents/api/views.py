"""The incidents API. Each view parses with a serializer, calls one service or selector with the
acting user, and renders; services raise DomainError, which config.api turns into 4xx JSON."""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.api.base import ApiListView, ApiView, actor_of
from config.api import MAX_ID, REF_PATTERN, CanWrite, HasAnyRole, error_responses
from incidents import selectors, services
from incidents.api.serializers import (
    ChecklistItemSerializer,
    ChecklistSerializer,
    ChecklistTickSerializer,
    DeploymentSerializer,
    IncidentCreateSerializer,
    IncidentEscalateSerializer,
    IncidentSerializer,
    IncidentSummarySerializer,
    IncidentUpdateSerializer,
    SignalDismissSerializer,
    SignalIngestSerializer,
    SignalPromoteSerializer,
    SignalSerializer,
    TimelineEntryCreateSerializer,
    TimelineEntrySerializer,
    TimelineSerializer,
)
from incidents.filters import IncidentFilter, SignalFilter
from incidents.models import Incident, Signal
from incidents.pagination import CappedPageNumberPagination


def incident_or_404(request, ref: str) -> Incident:
    incident = selectors.incident_get_for(user=request.user, ref=ref) if REF_PATTERN.match(ref) else None
    if incident is None:
        raise NotFound("No such incident.")
    return incident


def _signal_or_404(request, signal_id: int) -> Signal:
    signal = selectors.signals_for(user=request.user).filter(pk=signal_id).first() if signal_id <= MAX_ID else None
    if signal is None:
        raise NotFound("No such signal.")
    return signal


# --- incidents ----------------------------------------------------------------------------------


class IncidentListView(ApiListView):
    permission_classes = [CanWrite]
    pagination_class = CappedPageNumberPagination
    serializer_class = IncidentCreateSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = IncidentFilter
    queryset = Incident.objects.none()  # names the model for the schema; get_queryset() decides the rows

    def get_queryset(self):
        return selectors.incident_list_for(user=self.request.user)

    @extend_schema(
        responses={200: IncidentSummarySerializer(many=True), **error_responses(400)},
        tags=["incidents"],
    )
    def get(self, request):
        """Incidents visible to you, most severe first (best match first when searching)."""
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(IncidentSummarySerializer(page, many=True).data)

    @extend_schema(
        request=IncidentCreateSerializer,
        responses={201: IncidentSerializer, **error_responses(400, 403)},
        tags=["incidents"],
    )
    def post(self, request):
        """Log a new incident."""
        params = IncidentCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        incident = services.incident_create(actor=actor_of(request), **params.validated_data)
        return Response(IncidentSerializer(incident).data, status=status.HTTP_201_CREATED)


class IncidentDetailView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses={200: IncidentSerializer, **error_responses(404)}, tags=["incidents"])
    def get(self, request, ref: str):
        return Response(IncidentSerializer(incident_or_404(request, ref)).data)

    @extend_schema(
        request=IncidentUpdateSerializer,
        responses={200: IncidentSerializer, **error_responses(400, 403, 404, 409)},
        tags=["incidents"],
    )
    def patch(self, request, ref: str):
        """Change fields, severity and status in one step; severity or status needs a `reason`."""
        incident = incident_or_404(request, ref)
        params = IncidentUpdateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        changes = dict(params.validated_data)
        reason = changes.pop("reason")
        exception = changes.pop("closing_exception")
        incident = services.incident_edit(
            actor=actor_of(request), incident=incident, changes=changes, reason=reason, closing_exception=exception
        )
        return Response(IncidentSerializer(incident).data)


class IncidentEscalateView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(
        request=IncidentEscalateSerializer,
        responses={200: IncidentSerializer, **error_responses(400, 403, 404, 409)},
        tags=["incidents"],
    )
    def post(self, request, ref: str):
        """Raise severity (never lower it) and call in the next role up."""
        incident = incident_or_404(request, ref)
        params = IncidentEscalateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        incident = services.incident_escalate(actor=actor_of(request), incident=incident, **params.validated_data)
        return Response(IncidentSerializer(incident).data)


class IncidentTimelineView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses={200: TimelineSerializer, **error_responses(404)}, tags=["incidents"])
    def get(self, request, ref: str):
        """Notes, decisions and recorded events, oldest first."""
        incident = incident_or_404(request, ref)
        items = selectors.timeline_for(incident=incident)
        return Response(TimelineSerializer({"ref": incident.ref, "items": items}).data)

    @extend_schema(
        request=TimelineEntryCreateSerializer,
        responses={201: TimelineEntrySerializer, **error_responses(400, 403, 404)},
        tags=["incidents"],
    )
    def post(self, request, ref: str):
        """Add a note, or a decision with the options considered and its rationale."""
        incident = incident_or_404(request, ref)
        params = TimelineEntryCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        entry = services.timeline_entry_add(actor=actor_of(request), incident=incident, **params.validated_data)
        return Response(TimelineEntrySerializer(entry).data, status=status.HTTP_201_CREATED)


# --- checklist ----------------------------------------------------------------------------------


class IncidentChecklistView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses={200: ChecklistSerializer, **error_responses(404)}, tags=["incidents"])
    def get(self, request, ref: str):
        """The incident's checklist (copied from its playbook), with who ticked each step and when."""
        incident = incident_or_404(request, ref)
        items = selectors.checklist_for(incident=incident)
        data = {"ref": incident.ref, "done": incident.checklist_done, "total": incident.checklist_total, "items": items}
        return Response(ChecklistSerializer(data).data)


class ChecklistTickView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(
        request=ChecklistTickSerializer,
        responses={200: ChecklistItemSerializer, **error_responses(400, 403, 404, 409)},
        tags=["incidents"],
    )
    def post(self, request, ref: str, item_id: int):
        """Tick one step: who and when are recorded, and the timeline says so. Ticking it again is 409."""
        incident = incident_or_404(request, ref)
        ChecklistTickSerializer(data=request.data).is_valid(raise_exception=True)
        if item_id > MAX_ID:
            raise NotFound("No such step on this incident's checklist.")
        item = services.checklist_item_tick(actor=actor_of(request), incident=incident, item_id=item_id)
        return Response(ChecklistItemSerializer(item).data)


# --- registry -----------------------------------------------------------------------------------


class DeploymentListView(ApiListView):
    permission_classes = [HasAnyRole]
    serializer_class = DeploymentSerializer

    @extend_schema(responses={200: DeploymentSerializer(many=True)}, tags=["registry"])
    def get(self, request):
        """Deployments with their model and its versions."""
        deployments = selectors.deployment_list().prefetch_related("model__versions")
        page = self.paginate_queryset(deployments)
        return self.get_paginated_response(DeploymentSerializer(page, many=True).data)


# --- signals ------------------------------------------------------------------------------------


class SignalListView(ApiListView):
    permission_classes = [CanWrite]
    serializer_class = SignalIngestSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = SignalFilter
    queryset = Signal.objects.none()  # names the model for the schema; get_queryset() decides the rows

    def get_queryset(self):
        return selectors.signals_for(user=self.request.user)

    @extend_schema(
        responses={200: SignalSerializer(many=True), **error_responses(400)},
        tags=["signals"],
    )
    def get(self, request):
        """Signals, most recently seen first."""
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(SignalSerializer(page, many=True).data)

    @extend_schema(
        request=SignalIngestSerializer,
        responses={
            201: OpenApiResponse(SignalSerializer, description="A new signal."),
            200: OpenApiResponse(
                SignalSerializer, description="Folded into an existing signal with the same dedup_key."
            ),
            **error_responses(400, 403),
        },
        tags=["signals"],
    )
    def post(self, request):
        """Post a signal from a monitor or a person; duplicates (same dedup_key) fold together."""
        params = SignalIngestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        signal, created = services.signal_ingest(actor=actor_of(request), **params.validated_data)
        redact = (
            not created
            and signal.incident_id is not None
            and not selectors.signals_for(user=request.user).filter(pk=signal.pk).exists()
        )
        body = SignalSerializer(signal, context={"folded": not created, "redact": redact}).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class SignalPromoteView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(
        request=SignalPromoteSerializer,
        responses={201: IncidentSerializer, **error_responses(400, 403, 404, 409)},
        tags=["signals"],
    )
    def post(self, request, signal_id: int):
        """Turn an open signal into an incident."""
        signal = _signal_or_404(request, signal_id)
        params = SignalPromoteSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        incident = services.signal_promote(actor=actor_of(request), signal=signal, **params.validated_data)
        return Response(IncidentSerializer(incident).data, status=status.HTTP_201_CREATED)


class SignalDismissView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(
        request=SignalDismissSerializer,
        responses={200: SignalSerializer, **error_responses(400, 403, 404, 409)},
        tags=["signals"],
    )
    def post(self, request, signal_id: int):
        """Dismiss an open signal as noise, with a reason."""
        signal = _signal_or_404(request, signal_id)
        params = SignalDismissSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        signal = services.signal_dismiss(actor=actor_of(request), signal=signal, **params.validated_data)
        return Response(SignalSerializer(signal).data)
