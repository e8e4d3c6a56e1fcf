"""The incidents API. Each view parses with a serializer, calls one service or selector with the
acting user, and renders; services raise DomainError, which config.api turns into 4xx JSON."""

from __future__ import annotations

import re

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actor import Actor
from accounts.api.strict import BoundedJSONParser, ErrorSerializer
from config.api import CanWrite, HasAnyRole
from incidents import selectors, services
from incidents.api.serializers import (
    DeploymentSerializer,
    IncidentCreateSerializer,
    IncidentEscalateSerializer,
    IncidentFilterSerializer,
    IncidentSerializer,
    IncidentSummarySerializer,
    IncidentUpdateSerializer,
    SignalDismissSerializer,
    SignalFilterSerializer,
    SignalIngestSerializer,
    SignalPromoteSerializer,
    SignalSerializer,
    TimelineEntryCreateSerializer,
    TimelineEntrySerializer,
    TimelineSerializer,
)
from incidents.models import Incident, Signal

# Anything else cannot be a ref; refusing it early keeps odd bytes (NUL) away from the database.
_REF = re.compile(r"^[A-Za-z0-9-]{1,20}$")
_MAX_ID = 2**63 - 1


def _actor(request) -> Actor:
    return Actor.from_request(request, source="api")


def _incident_or_404(request, ref: str) -> Incident:
    incident = selectors.incident_get_for(user=request.user, ref=ref) if _REF.match(ref) else None
    if incident is None:
        raise NotFound("No such incident.")
    return incident


def _signal_or_404(request, signal_id: int) -> Signal:
    signal = selectors.signals_for(user=request.user).filter(pk=signal_id).first() if signal_id <= _MAX_ID else None
    if signal is None:
        raise NotFound("No such signal.")
    return signal


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    descriptions = {
        400: "Invalid input; `errors` names each field.",
        403: "Your role may not do this.",
        404: "No such object, or not visible to you.",
        409: "Not allowed in the object's current state.",
    }
    return {code: OpenApiResponse(ErrorSerializer, description=descriptions[code]) for code in codes}


class ApiView(APIView):
    parser_classes = [BoundedJSONParser]


class ApiListView(GenericAPIView):
    parser_classes = [BoundedJSONParser]


# --- incidents ----------------------------------------------------------------------------------


class IncidentListView(ApiListView):
    permission_classes = [CanWrite]
    serializer_class = IncidentCreateSerializer

    @extend_schema(
        parameters=[IncidentFilterSerializer],
        responses={200: IncidentSummarySerializer(many=True), **_errors(400)},
        tags=["incidents"],
    )
    def get(self, request):
        """Incidents visible to you, most severe first."""
        params = IncidentFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        page = self.paginate_queryset(selectors.incident_list_for(user=request.user, filters=params.to_filters()))
        return self.get_paginated_response(IncidentSummarySerializer(page, many=True).data)

    @extend_schema(
        request=IncidentCreateSerializer,
        responses={201: IncidentSerializer, **_errors(400, 403)},
        tags=["incidents"],
    )
    def post(self, request):
        """Log a new incident."""
        params = IncidentCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        incident = services.incident_create(actor=_actor(request), **params.validated_data)
        return Response(IncidentSerializer(incident).data, status=status.HTTP_201_CREATED)


class IncidentDetailView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses={200: IncidentSerializer, **_errors(404)}, tags=["incidents"])
    def get(self, request, ref: str):
        return Response(IncidentSerializer(_incident_or_404(request, ref)).data)

    @extend_schema(
        request=IncidentUpdateSerializer,
        responses={200: IncidentSerializer, **_errors(400, 403, 404, 409)},
        tags=["incidents"],
    )
    def patch(self, request, ref: str):
        """Change fields, severity and status in one step; severity or status needs a `reason`."""
        incident = _incident_or_404(request, ref)
        params = IncidentUpdateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        changes = dict(params.validated_data)
        reason = changes.pop("reason")
        incident = services.incident_edit(actor=_actor(request), incident=incident, changes=changes, reason=reason)
        return Response(IncidentSerializer(incident).data)


class IncidentEscalateView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(
        request=IncidentEscalateSerializer,
        responses={200: IncidentSerializer, **_errors(400, 403, 404, 409)},
        tags=["incidents"],
    )
    def post(self, request, ref: str):
        """Raise severity (never lower it) and call in the next role up."""
        incident = _incident_or_404(request, ref)
        params = IncidentEscalateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        incident = services.incident_escalate(actor=_actor(request), incident=incident, **params.validated_data)
        return Response(IncidentSerializer(incident).data)


class IncidentTimelineView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses={200: TimelineSerializer, **_errors(404)}, tags=["incidents"])
    def get(self, request, ref: str):
        """Notes, decisions and recorded events, oldest first."""
        incident = _incident_or_404(request, ref)
        items = selectors.timeline_for(incident=incident)
        return Response(TimelineSerializer({"ref": incident.ref, "items": items}).data)

    @extend_schema(
        request=TimelineEntryCreateSerializer,
        responses={201: TimelineEntrySerializer, **_errors(400, 403, 404)},
        tags=["incidents"],
    )
    def post(self, request, ref: str):
        """Add a note, or a decision with the options considered and its rationale."""
        incident = _incident_or_404(request, ref)
        params = TimelineEntryCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        entry = services.timeline_entry_add(actor=_actor(request), incident=incident, **params.validated_data)
        return Response(TimelineEntrySerializer(entry).data, status=status.HTTP_201_CREATED)


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

    @extend_schema(
        parameters=[SignalFilterSerializer],
        responses={200: SignalSerializer(many=True), **_errors(400)},
        tags=["signals"],
    )
    def get(self, request):
        """Signals, most recently seen first."""
        params = SignalFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        signals = selectors.signals_for(user=request.user)
        if params.validated_data.get("state"):
            signals = signals.filter(state=params.validated_data["state"])
        page = self.paginate_queryset(signals)
        return self.get_paginated_response(SignalSerializer(page, many=True).data)

    @extend_schema(
        request=SignalIngestSerializer,
        responses={
            201: OpenApiResponse(SignalSerializer, description="A new signal."),
            200: OpenApiResponse(
                SignalSerializer, description="Folded into an existing signal with the same dedup_key."
            ),
            **_errors(400, 403),
        },
        tags=["signals"],
    )
    def post(self, request):
        """Post a signal from a monitor or a person; duplicates (same dedup_key) fold together."""
        params = SignalIngestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        signal, created = services.signal_ingest(actor=_actor(request), **params.validated_data)
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
        responses={201: IncidentSerializer, **_errors(400, 403, 404, 409)},
        tags=["signals"],
    )
    def post(self, request, signal_id: int):
        """Turn an open signal into an incident."""
        signal = _signal_or_404(request, signal_id)
        params = SignalPromoteSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        incident = services.signal_promote(actor=_actor(request), signal=signal, **params.validated_data)
        return Response(IncidentSerializer(incident).data, status=status.HTTP_201_CREATED)


class SignalDismissView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(
        request=SignalDismissSerializer,
        responses={200: SignalSerializer, **_errors(400, 403, 404, 409)},
        tags=["signals"],
    )
    def post(self, request, signal_id: int):
        """Dismiss an open signal as noise, with a reason."""
        signal = _signal_or_404(request, signal_id)
        params = SignalDismissSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        signal = services.signal_dismiss(actor=_actor(request), signal=signal, **params.validated_data)
        return Response(SignalSerializer(signal).data)
