"""The evidence API: list an incident's files, upload one (multipart), download one.

An incident the user may not see is a 404 everywhere (unknown and hidden alike); the storage's
own names and URLs are never shown: files leave only through the download endpoint.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from accounts.api.base import ApiListView, ApiView, actor_of
from config.api import MAX_ID, CanWrite, error_responses
from config.strict import StrictSerializer, TextField
from incidents.api.views import incident_or_404
from incidents.evidence import selectors, services, sniff
from incidents.evidence.views import download_response
from incidents.models import Evidence
from incidents.pagination import CappedPageNumberPagination

TAGS = ["evidence"]


class EvidenceSerializer(serializers.ModelSerializer):
    incident = serializers.CharField(source="incident.ref")
    uploaded_by = serializers.CharField(source="uploaded_by.username")
    download = serializers.SerializerMethodField(help_text="Where to download it (an attachment, `nosniff`).")

    class Meta:
        model = Evidence
        fields = ["id", "incident", "name", "description", "kind", "content_type", "size", "sha256",
                  "uploaded_by", "uploaded_at", "download"]  # fmt: skip

    def get_download(self, evidence) -> str:
        return reverse("api-evidence-download", args=[evidence.incident.ref, evidence.pk])


class EvidenceUploadSerializer(StrictSerializer):
    file = serializers.FileField(
        allow_empty_file=True,
        help_text="PNG, JPEG, GIF, WebP, PDF, or UTF-8 text, JSON or CSV; judged by its content, not its name. "
        "Executables, scripts and archives are refused (400, with what it looks like).",
    )
    description = TextField(max_length=services.DESCRIPTION_MAX, required=False, allow_blank=True, default="")


class IncidentEvidenceView(ApiListView):
    permission_classes = [CanWrite]
    pagination_class = CappedPageNumberPagination
    serializer_class = EvidenceSerializer
    parser_classes = [MultiPartParser]

    @extend_schema(responses={200: EvidenceSerializer(many=True), **error_responses(404)}, tags=TAGS)
    def get(self, request, ref: str):
        """The incident's evidence files, newest first."""
        incident = incident_or_404(request, ref)
        page = self.paginate_queryset(selectors.evidence_for(incident=incident).select_related("incident"))
        return self.get_paginated_response(EvidenceSerializer(page, many=True).data)

    @extend_schema(
        request={"multipart/form-data": EvidenceUploadSerializer},
        responses={201: EvidenceSerializer, **error_responses(400, 403, 404)},
        tags=TAGS,
    )
    def post(self, request, ref: str):
        """Attach a file. Refused (400, `errors.file`) if too large or not an accepted kind; its SHA-256
        is computed while it is read and recorded in the ledger."""
        incident = incident_or_404(request, ref)
        params = EvidenceUploadSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        evidence = services.evidence_add(
            actor=actor_of(request), incident=incident, upload=params.validated_data["file"],
            description=params.validated_data["description"],
        )  # fmt: skip
        return Response(EvidenceSerializer(evidence).data, status=status.HTTP_201_CREATED)


class AnyAccept(BaseContentNegotiation):
    """A download answers with the file's own type whatever the client's Accept header says."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


# What a download's Content-Type may be: the type of each kind of file evidence accepts.
DOWNLOAD_MEDIA_TYPES = sorted({kind.content_type.split(";")[0] for kind in sniff.KINDS.values()})


class EvidenceDownloadView(ApiView):
    permission_classes = [CanWrite]
    content_negotiation_class = AnyAccept

    @extend_schema(
        responses={
            **{
                (200, media_type): OpenApiResponse(
                    OpenApiTypes.ANY if media_type == "application/json" else OpenApiTypes.BINARY,
                    description="The file, as an attachment with its content's type and `nosniff`.",
                )
                for media_type in DOWNLOAD_MEDIA_TYPES
            },
            **error_responses(404),
        },
        tags=TAGS,
    )
    def get(self, request, ref: str, evidence_id: int):
        """Download one evidence file."""
        found = (
            selectors.evidence_get_for(user=request.user, ref=ref, pk=evidence_id) if evidence_id <= MAX_ID else None
        )
        if found is None:
            raise NotFound("No such evidence.")
        return download_response(found)
