"""The on-call API: who is on call now, rotations and their overrides (read: any role; write:
admins and leadership), and pages (read: those paged, the role, people who may see the incident;
acknowledge: someone paged or any member of the role). Services raise DomainError → 4xx JSON."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.api.base import ApiListView, ApiView, actor_of
from config.api import MAX_ID, CanWrite, HasAnyRole, error_responses
from incidents.models import Page, Rotation
from incidents.oncall import selectors, services
from incidents.oncall.api.serializers import (
    AcknowledgeSerializer,
    OnCallNowSerializer,
    OverrideInputSerializer,
    OverrideSerializer,
    PageSerializer,
    RotationSerializer,
    RotationWriteSerializer,
)
from incidents.selectors import can_view_incident

TAGS = ["on call"]


class RotationEditing(permissions.BasePermission):
    """Reads for any signed-in user with a role; writes for admins and leadership."""

    message = "Only admins and leadership may edit on-call rotations."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated and user.roles):
            return False
        return request.method in permissions.SAFE_METHODS or user.has_role(*services.EDITOR_ROLES)


def _rotation_or_404(pk: int) -> Rotation:
    rotation = selectors.rotation_get(pk) if pk <= MAX_ID else None
    if rotation is None:
        raise NotFound("No such rotation.")
    return rotation


def _page_or_404(request, pk: int) -> Page:
    page = selectors.page_for(user=request.user, pk=pk) if pk <= MAX_ID else None
    if page is None:
        raise NotFound("No such page.")
    return page


class OnCallNowView(ApiView):
    permission_classes = [HasAnyRole]

    @extend_schema(responses={200: OnCallNowSerializer(many=True)}, tags=TAGS)
    def get(self, request):
        """Who is on call now for each role with a rotation, and until when (override or rotation)."""
        return Response(OnCallNowSerializer(selectors.on_call_now(), many=True).data)


class RotationListView(ApiListView):
    permission_classes = [RotationEditing]
    serializer_class = RotationSerializer

    @extend_schema(responses={200: RotationSerializer(many=True)}, tags=TAGS)
    def get(self, request):
        """Every rotation (one per role) with its members, shifts, current overrides and who is on call."""
        page = self.paginate_queryset(selectors.rotations_with_people())
        return self.get_paginated_response(RotationSerializer(page, many=True).data)

    @extend_schema(
        request=RotationWriteSerializer,
        responses={201: RotationSerializer, **error_responses(400, 403)},
        tags=TAGS,
    )
    def post(self, request):
        """Create a role's rotation. Members must hold the role; custom shifts may leave no gap
        and overlap nowhere (each refusal names the times); a role has one rotation."""
        params = RotationWriteSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        rotation = services.rotation_create(actor=actor_of(request), **params.validated_data)
        return Response(RotationSerializer(_rotation_or_404(rotation.pk)).data, status=status.HTTP_201_CREATED)


class RotationDetailView(ApiView):
    permission_classes = [RotationEditing]

    @extend_schema(responses={200: RotationSerializer, **error_responses(404)}, tags=TAGS)
    def get(self, request, rotation_id: int):
        """One rotation."""
        return Response(RotationSerializer(_rotation_or_404(rotation_id)).data)

    @extend_schema(
        request=RotationWriteSerializer,
        responses={200: RotationSerializer, **error_responses(400, 403, 404)},
        tags=TAGS,
    )
    def put(self, request, rotation_id: int):
        """Replace the rotation's settings, members and shifts (not its role)."""
        rotation = _rotation_or_404(rotation_id)
        params = RotationWriteSerializer(data=request.data, editing=True)
        params.is_valid(raise_exception=True)
        services.rotation_edit(actor=actor_of(request), rotation=rotation, **params.validated_data)
        return Response(RotationSerializer(_rotation_or_404(rotation_id)).data)


class OverrideListView(ApiListView):
    permission_classes = [RotationEditing]
    serializer_class = OverrideSerializer

    @extend_schema(responses={200: OverrideSerializer(many=True), **error_responses(404)}, tags=TAGS)
    def get(self, request, rotation_id: int):
        """The rotation's overrides that have not ended, soonest first."""
        rotation = _rotation_or_404(rotation_id)
        page = self.paginate_queryset(rotation.current_overrides)
        return self.get_paginated_response(OverrideSerializer(page, many=True).data)

    @extend_schema(
        request=OverrideInputSerializer,
        responses={201: OverrideSerializer, **error_responses(400, 403, 404)},
        tags=TAGS,
    )
    def post(self, request, rotation_id: int):
        """Put someone holding the role on call from `starts_at` until `ends_at`; overrides of a
        rotation never overlap."""
        rotation = _rotation_or_404(rotation_id)
        params = OverrideInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        override = services.override_add(actor=actor_of(request), rotation=rotation, **params.validated_data)
        return Response(OverrideSerializer(override).data, status=status.HTTP_201_CREATED)


def _page_response(request, page: Page) -> Response:
    context = {"sees_incident": can_view_incident(request.user, page.incident)}
    return Response(PageSerializer(page, context=context).data)


class PageDetailView(ApiView):
    permission_classes = [CanWrite]  # auditors read; the service decides who acknowledges

    @extend_schema(responses={200: PageSerializer, **error_responses(404)}, tags=TAGS)
    def get(self, request, page_id: int):
        """A page: who was paged at each step, and whether (and by whom) it was acknowledged.
        Reading it never acknowledges it."""
        return _page_response(request, _page_or_404(request, page_id))


class PageAcknowledgeView(ApiView):
    permission_classes = [CanWrite]  # auditors read; the service decides who acknowledges

    @extend_schema(
        request=AcknowledgeSerializer, responses={200: PageSerializer, **error_responses(400, 403, 404)}, tags=TAGS
    )
    def post(self, request, page_id: int):
        """Acknowledge the page (someone paged, or any member of its role): escalation stops, and
        the incident's acknowledged_at is set if it was empty. Acknowledging an acknowledged page
        is harmless: 200 with the page as the first acknowledgement left it."""
        page = _page_or_404(request, page_id)
        AcknowledgeSerializer(data=request.data if request.body else {}).is_valid(raise_exception=True)
        services.page_acknowledge(actor=actor_of(request), page=page)
        return _page_response(request, _page_or_404(request, page_id))
