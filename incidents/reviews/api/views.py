"""The reviews API. Each view parses with a serializer, calls one service or selector with the
acting user, and renders; services raise DomainError, which config.api turns into 4xx JSON.
A review follows its incident's visibility: an incident the user may not see is a 404."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.api.base import ApiListView, ApiView, actor_of
from config.api import MAX_ID, CanWrite, error_responses
from incidents.api.views import incident_or_404
from incidents.models import Incident
from incidents.models.reviews import FollowUpAction, Review
from incidents.reviews import selectors, services
from incidents.reviews.api.serializers import (
    FollowUpCreateSerializer,
    FollowUpFilterSerializer,
    FollowUpSerializer,
    FollowUpUpdateSerializer,
    ReviewAmendSerializer,
    ReviewApproveSerializer,
    ReviewDetailSerializer,
    ReviewDraftSerializer,
    ReviewHashSerializer,
    ReviewSerializer,
    ReviewVersionSerializer,
)
from incidents.reviews.export import latest_version, markdown_response

TAGS = ["reviews"]


def _review_or_404(incident: Incident) -> Review:
    review = selectors.review_for(incident=incident)
    if review is None:
        raise NotFound(f"{incident.ref} has no review yet.")
    review.incident = incident  # already loaded and checked: no second query
    return review


def _detail(incident: Incident, *, status_code: int = 200) -> Response:
    return Response(ReviewDetailSerializer(_review_or_404(incident)).data, status=status_code)


def _decide(request, ref: str, params_class, service, *, status_code: int = 200) -> Response:
    """Approve, publish or amend: parse, call the one service with the acting user, show the review."""
    incident = incident_or_404(request, ref)
    params = params_class(data=request.data)
    params.is_valid(raise_exception=True)
    service(actor=actor_of(request), incident=incident, **params.validated_data)
    return _detail(incident, status_code=status_code)


def _follow_up_or_404(request, pk: int) -> FollowUpAction:
    action = selectors.follow_ups_for(user=request.user).filter(pk=pk).first() if pk <= MAX_ID else None
    if action is None:
        raise NotFound("No such follow-up action.")
    return action


class ReviewListView(ApiListView):
    permission_classes = [CanWrite]
    serializer_class = ReviewSerializer

    @extend_schema(responses={200: ReviewSerializer(many=True)}, tags=TAGS)
    def get(self, request):
        """Reviews of incidents visible to you, newest first, with their versions."""
        page = self.paginate_queryset(selectors.review_list_for(user=request.user))
        return self.get_paginated_response(ReviewSerializer(page, many=True).data)


class ReviewDetailView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses={200: ReviewDetailSerializer, **error_responses(404)}, tags=TAGS)
    def get(self, request, ref: str):
        """The incident's review: every version (with what changed from the one before), its
        approvals, the follow-up actions, and the timeline items that can be quoted."""
        return _detail(incident_or_404(request, ref))

    @extend_schema(request=None, responses={201: ReviewDetailSerializer, **error_responses(403, 404, 409)}, tags=TAGS)
    def post(self, request, ref: str):
        """Start the review (an empty draft, version 1), once the incident is resolved."""
        incident = incident_or_404(request, ref)
        services.review_start(actor=actor_of(request), incident=incident)
        return _detail(incident, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        request=ReviewDraftSerializer,
        responses={200: ReviewVersionSerializer, **error_responses(400, 403, 404, 409)},
        tags=TAGS,
    )
    def patch(self, request, ref: str):
        """Save changes to the draft. Published versions never change (409): amend instead. Any
        change voids leadership approvals of the draft."""
        incident = incident_or_404(request, ref)
        params = ReviewDraftSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = dict(params.validated_data)
        seen = data.pop("content_hash", "")
        excerpt = data.pop("timeline_excerpt", None)
        version = services.review_save_draft(
            actor=actor_of(request), incident=incident, sections=data, timeline_excerpt=excerpt,
            content_hash_seen=seen,
        )  # fmt: skip
        return Response(ReviewVersionSerializer(version).data)


class ReviewApproveView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(
        request=ReviewApproveSerializer,
        responses={
            201: OpenApiResponse(ReviewDetailSerializer, description="Approved."),
            **error_responses(400, 403, 404, 409),
        },
        tags=TAGS,
    )
    def post(self, request, ref: str):
        """Approve the draft of a SEV1–2 review (leadership; not an editor of it, not its publisher)."""
        return _decide(
            request, ref, ReviewApproveSerializer, services.review_approve, status_code=status.HTTP_201_CREATED
        )


class ReviewPublishView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(
        request=ReviewHashSerializer,
        responses={200: ReviewDetailSerializer, **error_responses(400, 403, 404, 409)},
        tags=TAGS,
    )
    def post(self, request, ref: str):
        """Publish the draft (the incident's commander); SEV1–2 need a leadership approval of it first."""
        return _decide(request, ref, ReviewHashSerializer, services.review_publish)


class ReviewAmendView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(
        request=ReviewAmendSerializer,
        responses={201: ReviewDetailSerializer, **error_responses(400, 403, 404, 409)},
        tags=TAGS,
    )
    def post(self, request, ref: str):
        """Start version N+1 as a draft copied from the published version N."""
        return _decide(request, ref, ReviewAmendSerializer, services.review_amend, status_code=status.HTTP_201_CREATED)


class ReviewMarkdownView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(
        responses={(200, "text/markdown"): OpenApiTypes.STR, **error_responses(404)},
        tags=TAGS,
    )
    def get(self, request, ref: str):
        """The latest version as Markdown (the latest published one, or the draft if none is)."""
        incident = incident_or_404(request, ref)
        review = _review_or_404(incident)
        return markdown_response(review, latest_version(review))


class IncidentFollowUpListView(ApiListView):
    permission_classes = [CanWrite]
    serializer_class = FollowUpCreateSerializer

    @extend_schema(responses={200: FollowUpSerializer(many=True), **error_responses(404)}, tags=TAGS)
    def get(self, request, ref: str):
        """The follow-up actions of the incident's review."""
        incident = incident_or_404(request, ref)
        page = self.paginate_queryset(selectors.follow_ups_for(user=request.user).filter(review__incident=incident))
        return self.get_paginated_response(FollowUpSerializer(page, many=True).data)

    @extend_schema(
        request=FollowUpCreateSerializer,
        responses={201: FollowUpSerializer, **error_responses(400, 403, 404)},
        tags=TAGS,
    )
    def post(self, request, ref: str):
        """Add a follow-up action (title, owner, due date) to the incident's review."""
        incident = incident_or_404(request, ref)
        params = FollowUpCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        action = services.follow_up_add(actor=actor_of(request), incident=incident, **params.validated_data)
        return Response(FollowUpSerializer(action).data, status=status.HTTP_201_CREATED)


class FollowUpListView(ApiListView):
    permission_classes = [CanWrite]
    serializer_class = FollowUpSerializer

    @extend_schema(
        parameters=[FollowUpFilterSerializer],
        responses={200: FollowUpSerializer(many=True), **error_responses(400)},
        tags=TAGS,
    )
    def get(self, request):
        """Follow-up actions of reviews visible to you, by due date: `?owner=me&overdue=true` is your
        overdue list."""
        params = FollowUpFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        owner_name = data.get("owner", "")
        actions = selectors.follow_ups_for(
            user=request.user,
            owner=request.user if owner_name == "me" else None,
            overdue=data.get("overdue", False),
            status=data.get("status", ""),
        )
        if owner_name and owner_name != "me":
            actions = actions.filter(owner__username=owner_name)
        if data.get("incident"):
            actions = actions.filter(review__incident__ref=data["incident"].upper())
        page = self.paginate_queryset(actions)
        return self.get_paginated_response(FollowUpSerializer(page, many=True).data)


class FollowUpDetailView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses={200: FollowUpSerializer, **error_responses(404)}, tags=TAGS)
    def get(self, request, pk: int):
        return Response(FollowUpSerializer(_follow_up_or_404(request, pk)).data)

    @extend_schema(
        request=FollowUpUpdateSerializer,
        responses={200: FollowUpSerializer, **error_responses(400, 403, 404)},
        tags=TAGS,
    )
    def patch(self, request, pk: int):
        """Change an action, also after publishing (its owner may change its status)."""
        action = _follow_up_or_404(request, pk)
        params = FollowUpUpdateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        action = services.follow_up_update(actor=actor_of(request), action=action, changes=params.validated_data)
        return Response(FollowUpSerializer(action).data)

    @extend_schema(responses={204: None, **error_responses(403, 404, 409)}, tags=TAGS)
    def delete(self, request, pk: int):
        """Remove an action that no published version lists (those are closed as won't do)."""
        services.follow_up_remove(actor=actor_of(request), action=_follow_up_or_404(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
