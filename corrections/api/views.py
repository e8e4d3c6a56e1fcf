"""The corrections API: request, decide, lift and retry corrections; the approval inbox.

Each view parses, calls one service or selector with the acting user, and renders. Illegal
transitions come back from the services as DomainError(code="conflict"), answered as 409.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.api.base import ApiListView, ApiView, actor_of
from config.api import MAX_ID, CanWrite, HasAnyRole, error_responses
from corrections import readiness, selectors, services
from corrections.api.serializers import (
    ApproveSerializer,
    ConfirmSerializer,
    CorrectionDetailSerializer,
    CorrectionEditSerializer,
    CorrectionRequestSerializer,
    CorrectionSerializer,
    CorrectionTypeSerializer,
    InForceFilterSerializer,
    InForceSerializer,
    LiftApproveSerializer,
    ReadinessFilterSerializer,
    ReadinessRowSerializer,
    ReasonSerializer,
    RejectSerializer,
    TargetConfirmSerializer,
)
from corrections.catalogue import TYPES
from corrections.filters import CorrectionFilter
from corrections.in_force import in_force_for
from corrections.models import Correction, DispatchAttempt
from incidents.api.views import incident_or_404


def _correction_or_404(request, pk: int, *, detail: bool = False) -> Correction:
    qs = selectors.corrections_visible_to(request.user)
    if detail:
        qs = qs.prefetch_related(
            Prefetch("attempts", queryset=DispatchAttempt.objects.select_related("deployment").order_by("id"))
        )
    correction = qs.filter(pk=pk).first() if pk <= MAX_ID else None
    if correction is None:
        raise NotFound("No such correction.")
    return correction


def _render(request, correction: Correction, code: int = status.HTTP_200_OK) -> Response:
    fresh = _correction_or_404(request, correction.pk, detail=True)
    return Response(CorrectionDetailSerializer(fresh).data, status=code)


class CorrectionTypeListView(ApiView):
    permission_classes = [HasAnyRole]

    @extend_schema(responses={200: CorrectionTypeSerializer(many=True)}, tags=["corrections"])
    def get(self, request):
        """The catalogue: every correction type, its parameters, tier and reversibility."""
        return Response([t.as_dict() for t in TYPES.values()])


class IncidentCorrectionListView(ApiListView):
    permission_classes = [CanWrite]
    serializer_class = CorrectionRequestSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = CorrectionFilter
    queryset = Correction.objects.none()  # names the model for the schema; the selector decides the rows

    @extend_schema(responses={200: CorrectionSerializer(many=True), **error_responses(400, 404)}, tags=["corrections"])
    def get(self, request, ref: str):
        """Corrections requested on this incident, newest first."""
        incident = incident_or_404(request, ref)
        corrections = selectors.corrections_for_incident(user=request.user, incident=incident)
        page = self.paginate_queryset(self.filter_queryset(corrections))
        return self.get_paginated_response(CorrectionSerializer(page, many=True).data)

    @extend_schema(
        request=CorrectionRequestSerializer,
        responses={201: CorrectionDetailSerializer, **error_responses(400, 403, 404, 409)},
        tags=["corrections"],
    )
    def post(self, request, ref: str):
        """Request a correction. Tier 1 runs at once; `break_glass` runs a tier 3–4 one at once."""
        incident = incident_or_404(request, ref)
        params = CorrectionRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        correction = services.correction_request(actor=actor_of(request), incident=incident, **params.validated_data)
        return _render(request, correction, status.HTTP_201_CREATED)


class CorrectionDetailView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses={200: CorrectionDetailSerializer, **error_responses(404)}, tags=["corrections"])
    def get(self, request, pk: int):
        """A correction with its policy snapshot, approvals, what is still needed and every dispatch attempt."""
        return Response(CorrectionDetailSerializer(_correction_or_404(request, pk, detail=True)).data)

    @extend_schema(
        request=CorrectionEditSerializer,
        responses={200: CorrectionDetailSerializer, **error_responses(400, 403, 404, 409)},
        tags=["corrections"],
    )
    def patch(self, request, pk: int):
        """Edit a pending request. A change to what would run voids every earlier approval."""
        correction = _correction_or_404(request, pk)
        params = CorrectionEditSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        services.correction_edit(actor=actor_of(request), correction=correction, **params.validated_data)
        return _render(request, correction)


def _action(service, serializer_class, summary: str):
    """A POST endpoint that runs one service on one correction."""

    class ActionView(ApiView):
        permission_classes = [CanWrite]

        @extend_schema(
            request=serializer_class,
            responses={200: CorrectionDetailSerializer, **error_responses(400, 403, 404, 409)},
            tags=["corrections"],
            summary=summary,
        )
        def post(self, request, pk: int):
            correction = _correction_or_404(request, pk)
            params = serializer_class(data=request.data)
            params.is_valid(raise_exception=True)
            service(actor=actor_of(request), correction=correction, **params.validated_data)
            return _render(request, correction)

    ActionView.__name__ = ActionView.__qualname__ = f"Correction{service.__name__.title().replace('_', '')}View"
    return ActionView


CorrectionApproveView = _action(services.correction_approve, ApproveSerializer,
                                "Approve (or ratify a break-glass correction)")  # fmt: skip
CorrectionRejectView = _action(services.correction_reject, RejectSerializer, "Reject: one rejection ends it")
CorrectionCancelView = _action(services.correction_cancel, ReasonSerializer, "Cancel before it runs")
CorrectionLiftView = _action(services.correction_lift, ReasonSerializer,
                             "Lift an active correction (tier 3–4: asks for one leadership approval)")  # fmt: skip
CorrectionLiftApproveView = _action(services.correction_lift_approve, LiftApproveSerializer,
                                    "Approve an early lift (leadership, not who asked)")  # fmt: skip
CorrectionLiftRejectView = _action(services.correction_lift_reject, RejectSerializer,
                                   "Refuse an early lift: the correction stays in force")  # fmt: skip
CorrectionRetryView = _action(services.correction_retry, ReasonSerializer, "Retry a failed correction")
CorrectionTargetConfirmView = _action(services.correction_target_confirm, TargetConfirmSerializer,
                                      "Confirm a target's manual step (no actuator) was carried out")  # fmt: skip
CorrectionConfirmView = _action(services.correction_confirm_manual, ConfirmSerializer,
                                "Confirm a manual correction (destroy_weights) was carried out")  # fmt: skip


class PendingApprovalListView(ApiListView):
    permission_classes = [HasAnyRole]
    pagination_class = None  # the whole inbox, most urgent first: it is short by nature
    filter_backends = [DjangoFilterBackend]
    filterset_class = CorrectionFilter
    queryset = Correction.objects.none()  # names the model for the schema; get_queryset() decides the rows

    def get_queryset(self):
        return selectors.inbox_candidates_for(user=self.request.user)

    @extend_schema(responses={200: CorrectionSerializer(many=True), **error_responses(400)}, tags=["corrections"])
    def get(self, request):
        """Corrections waiting for a decision you could give: requests, then early lifts
        (those with `lift_awaiting_approval`)."""
        among = self.filter_queryset(self.get_queryset())
        waiting = [
            *selectors.approvals_pending_for(user=request.user, among=among),
            *selectors.lifts_pending_for(user=request.user, among=among),
        ]
        return Response(CorrectionSerializer(waiting, many=True).data)


class InForceListView(ApiView):
    permission_classes = [HasAnyRole]

    @extend_schema(
        parameters=[InForceFilterSerializer],
        responses={200: InForceSerializer(many=True), **error_responses(400)},
        tags=["corrections"],
    )
    def get(self, request):
        """What is in force: every correction active, partly active, applying, lifting, expiring, awaiting
        ratification or failed, per model and deployment. Restricted incidents' corrections appear without
        why (no incident, rationale, requester or approvers) unless you may see the incident."""
        params = InForceFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        entries = in_force_for(
            user=request.user,
            model=params.validated_data["model"] or None,
            deployment=params.validated_data["deployment"] or None,
        )
        return Response(InForceSerializer(entries, many=True).data)


class ReadinessListView(ApiListView):
    permission_classes = [HasAnyRole]
    serializer_class = ReadinessRowSerializer

    @extend_schema(
        parameters=[ReadinessFilterSerializer],
        responses={200: ReadinessRowSerializer(many=True), **error_responses(400)},
        tags=["corrections"],
    )
    def get(self, request):
        """Readiness: every active deployment × correction type — automatable, manual or missing — with the
        deployment's actuator health (last check, result, age; stale or failing). Paginated by deployment."""
        params = ReadinessFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        deployments = readiness.matrix_queryset(
            model=params.validated_data["model"] or None, deployment=params.validated_data["deployment"] or None
        )
        page = self.paginate_queryset(deployments)
        return self.get_paginated_response(ReadinessRowSerializer(readiness.rows_of(page), many=True).data)
