"""The notices API: a correction's customer notices with their flags and delivery; edit and send one."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.api.base import ApiView, actor_of
from config.api import MAX_ID, CanWrite, error_responses
from config.strict import StrictSerializer, TextField
from corrections import selectors as correction_selectors
from corrections.customers import checks, selectors, services
from corrections.models import CustomerNotice


class DeliverySerializer(serializers.Serializer):
    address = serializers.CharField()
    state = serializers.CharField()
    done_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField()


class NoticeDeliverySerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["draft", "sending", "delivered", "failed"])
    at = serializers.DateTimeField(allow_null=True, help_text="When the last contact got it (delivered).")
    deliveries = DeliverySerializer(many=True)


class FlagSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=[checks.LATE, checks.NO_CONTACT, checks.NOT_ACCEPTED])
    message = serializers.CharField()


class NoticeSerializer(serializers.ModelSerializer):
    correction = serializers.IntegerField(source="correction_id")
    customer = serializers.CharField(source="organisation.slug")
    customer_name = serializers.CharField(source="organisation.name")
    term = serializers.DictField(help_text="The agreement's term for this type when drafted; {} if never accepted.")
    flags = serializers.SerializerMethodField()
    delivery = serializers.SerializerMethodField()
    edited_by = serializers.CharField(source="edited_by.username", allow_null=True, default=None)
    sent_by = serializers.CharField(source="sent_by.username", allow_null=True, default=None)

    class Meta:
        model = CustomerNotice
        fields = ["id", "correction", "customer", "customer_name", "term", "subject", "body", "state", "flags",
                  "recipients", "edited_by", "edited_at", "sent_by", "sent_at", "delivery"]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(FlagSerializer(many=True))
    def get_flags(self, notice):
        return [flag.as_dict() for flag in selectors.notice_flags(notice)]

    @extend_schema_field(NoticeDeliverySerializer)
    def get_delivery(self, notice):
        return selectors.delivery_of(notice)


class NoticeEditSerializer(StrictSerializer):
    subject = TextField(max_length=300)
    body = TextField(max_length=20000)


class NoticeSendSerializer(StrictSerializer):
    """No fields: the notice is sent as it stands (edit it first)."""


def _notice_or_404(request, notice_id: int) -> CustomerNotice:
    notice = selectors.notice_get_for(user=request.user, pk=notice_id) if notice_id <= MAX_ID else None
    if notice is None:
        raise NotFound("No such notice.")
    return notice


def _render(request, notice_id: int) -> Response:
    return Response(NoticeSerializer(_notice_or_404(request, notice_id)).data)


class CorrectionNoticeListView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses={200: NoticeSerializer(many=True), **error_responses(404)}, tags=["customers"])
    def get(self, request, pk: int):
        """The correction's customer notices (one per customer it touches), with flags and delivery state."""
        correction = correction_selectors.correction_get_for(user=request.user, pk=pk) if pk <= MAX_ID else None
        if correction is None:
            raise NotFound("No such correction.")
        return Response(NoticeSerializer(selectors.notices_of(correction), many=True).data)


class NoticeDetailView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses={200: NoticeSerializer, **error_responses(404)}, tags=["customers"])
    def get(self, request, notice_id: int):
        """One notice."""
        return _render(request, notice_id)

    @extend_schema(request=NoticeEditSerializer,
                   responses={200: NoticeSerializer, **error_responses(400, 403, 404, 409)},
                   tags=["customers"])  # fmt: skip
    def patch(self, request, notice_id: int):
        """Edit a draft notice (incident commanders and leadership)."""
        notice = _notice_or_404(request, notice_id)
        params = NoticeEditSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        services.notice_edit(actor=actor_of(request), notice=notice, **params.validated_data)
        return _render(request, notice_id)


class NoticeSendView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(request=NoticeSendSerializer,
                   responses={200: NoticeSerializer, **error_responses(400, 403, 404, 409)},
                   tags=["customers"])  # fmt: skip
    def post(self, request, notice_id: int):
        """Send the notice by email to the customer's contacts (through the outbox); its delivery state
        and time follow in `delivery`."""
        notice = _notice_or_404(request, notice_id)
        NoticeSendSerializer(data=request.data).is_valid(raise_exception=True)
        services.notice_send(actor=actor_of(request), notice=notice)
        return _render(request, notice_id)
