"""The sharing API: the register of recipients, an incident's shares, making one, its two packages."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.api.base import ApiListView, ApiView, actor_of
from config.api import MAX_ID, CanWrite, error_responses
from config.strict import StrictSerializer, TextField
from incidents.api.views import incident_or_404
from incidents.models import Share, SharingRecipient, Tlp
from incidents.pagination import CappedPageNumberPagination
from incidents.sharing import selectors, services
from incidents.sharing.fields import field_keys
from incidents.sharing.views import package_response

TAGS = ["sharing"]


class RecipientSerializer(serializers.ModelSerializer):
    class Meta:
        model = SharingRecipient
        fields = ["id", "name", "kind", "contact"]


class ShareSerializer(serializers.ModelSerializer):
    incident = serializers.CharField(source="incident.ref")
    recipient = RecipientSerializer()
    shared_by = serializers.CharField(source="shared_by.username")
    fields = serializers.ListField(child=serializers.CharField(), help_text="The fields the package carries.")

    class Meta:
        model = Share
        fields = ["id", "uid", "incident", "recipient", "tlp", "fields", "purpose", "package_sha256", "stix_sha256",
                  "shared_by", "shared_at"]  # fmt: skip


class ShareCreateSerializer(StrictSerializer):
    recipient = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="An active recipient's id.")
    tlp = serializers.ChoiceField(choices=Tlp.values, help_text="TLP 2.0 level.")
    fields = serializers.ListField(
        child=serializers.ChoiceField(choices=field_keys()), max_length=50, allow_empty=True,
        help_text="What the package carries besides the incident's ref; nothing else is included.",
    )  # fmt: skip
    purpose = TextField(max_length=services.PURPOSE_MAX, help_text="Why it is shared; kept in the record.")


class RecipientListView(ApiListView):
    permission_classes = [CanWrite]
    pagination_class = CappedPageNumberPagination
    serializer_class = RecipientSerializer

    @extend_schema(responses={200: RecipientSerializer(many=True)}, tags=TAGS)
    def get(self, request):
        """The active recipients an incident can be shared with (kept by admins)."""
        page = self.paginate_queryset(selectors.recipients_active())
        return self.get_paginated_response(RecipientSerializer(page, many=True).data)


class IncidentShareListView(ApiListView):
    permission_classes = [CanWrite]
    pagination_class = CappedPageNumberPagination
    serializer_class = ShareSerializer

    @extend_schema(responses={200: ShareSerializer(many=True), **error_responses(404)}, tags=TAGS)
    def get(self, request, ref: str):
        """What was shared about this incident, with whom and when, newest first."""
        incident = incident_or_404(request, ref)
        page = self.paginate_queryset(selectors.shares_for(incident=incident))
        return self.get_paginated_response(ShareSerializer(page, many=True).data)

    @extend_schema(
        request=ShareCreateSerializer,
        responses={201: ShareSerializer, **error_responses(400, 403, 404, 409)},
        tags=TAGS,
    )
    def post(self, request, ref: str):
        """Make a package for a recipient: exactly the chosen fields, marked with the TLP level; recorded
        in the ledger with its hashes. A drill is refused (409)."""
        incident = incident_or_404(request, ref)
        params = ShareCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        share = services.sharing_create(
            actor=actor_of(request), incident=incident, recipient_id=data["recipient"], tlp=data["tlp"],
            fields=data["fields"], purpose=data["purpose"],
        )  # fmt: skip
        return Response(ShareSerializer(share).data, status=status.HTTP_201_CREATED)


def _share_or_404(request, ref: str, share_id: int) -> Share:
    share = selectors.share_get_for(user=request.user, ref=ref, pk=share_id) if share_id <= MAX_ID else None
    if share is None:
        raise NotFound("No such share.")
    return share


_PACKAGE_RESPONSES = {
    (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="The bytes as shared."),
    **error_responses(404),
}


class SharePackageView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses=_PACKAGE_RESPONSES, tags=TAGS)
    def get(self, request, ref: str, share_id: int):
        """The JSON package exactly as made (its SHA-256 is `package_sha256`)."""
        return package_response(_share_or_404(request, ref, share_id), stix=False)


class ShareStixView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses=_PACKAGE_RESPONSES, tags=TAGS)
    def get(self, request, ref: str, share_id: int):
        """The STIX 2.1 bundle exactly as made (its SHA-256 is `stix_sha256`)."""
        return package_response(_share_or_404(request, ref, share_id), stix=True)
