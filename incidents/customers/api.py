"""The customers API: customers with their deployments, accounts, contacts and agreements; admins add them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.api.base import ApiListView, ApiView, actor_of
from config.api import MAX_ID, CanWrite, error_responses
from config.strict import StrictSerializer, TextField
from incidents.customers import selectors, services
from incidents.models import Agreement, Contact, CustomerOrganisation


class ContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "name", "email", "role"]
        read_only_fields = fields


class AgreementSerializer(serializers.ModelSerializer):
    terms = serializers.ListField(child=serializers.DictField(), help_text='[{"type", "timing", "minutes"}]')

    class Meta:
        model = Agreement
        fields = ["id", "reference", "terms", "effective_from", "effective_until"]
        read_only_fields = fields


class CustomerSerializer(serializers.ModelSerializer):
    deployments = serializers.SlugRelatedField(many=True, read_only=True, slug_field="slug")
    contacts = ContactSerializer(many=True, source="live")
    agreements = AgreementSerializer(many=True, source="all_agreements", help_text="Newest first.")

    class Meta:
        model = CustomerOrganisation
        fields = ["id", "slug", "name", "deployments", "contacts", "agreements"]
        read_only_fields = fields


class CustomerCreateSerializer(StrictSerializer):
    name = TextField(max_length=200)
    slug = TextField(max_length=64, required=False, default="", allow_blank=True)
    deployments = serializers.ListField(child=TextField(max_length=64), max_length=200, required=False, default=list)
    accounts = serializers.ListField(child=TextField(max_length=64), max_length=1000, required=False, default=list,
                                     help_text="Account ids it owns (not yet another customer's).")  # fmt: skip


class TermSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="A correction type the customer accepted.")
    timing = serializers.ChoiceField(choices=["before", "after"])
    minutes = serializers.IntegerField(help_text="The notice it needs, in minutes (0 or more).")


@extend_schema_field(TermSerializer(many=True))
class TermsField(serializers.ListField):
    """Checked field by field by incidents.customers.services (terms.<i>.<name>)."""


class AgreementCreateSerializer(StrictSerializer):
    terms = TermsField(child=serializers.JSONField(), max_length=20)
    effective_from = serializers.DateField()
    effective_until = serializers.DateField(required=False, allow_null=True, default=None)
    reference = TextField(max_length=100, required=False, default="", allow_blank=True)


class ContactCreateSerializer(StrictSerializer):
    name = TextField(max_length=200)
    email = TextField(max_length=254)
    role = TextField(max_length=100, required=False, default="", allow_blank=True)


def _customer_or_404(customer_id: int) -> CustomerOrganisation:
    customer = selectors.customer_get(customer_id) if customer_id <= MAX_ID else None
    if customer is None:
        raise NotFound("No such customer.")
    return customer


def _detail(customer_id: int, code: int = status.HTTP_200_OK) -> Response:
    return Response(CustomerSerializer(_customer_or_404(customer_id)).data, status=code)


class CustomerListView(ApiListView):
    permission_classes = [CanWrite]
    serializer_class = CustomerCreateSerializer
    queryset = CustomerOrganisation.objects.none()  # names the model for the schema; the selector decides the rows

    @extend_schema(responses={200: CustomerSerializer(many=True)}, tags=["customers"])
    def get(self, request):
        """Every customer with its deployments, contacts and agreements."""
        page = self.paginate_queryset(selectors.customer_list())
        return self.get_paginated_response(CustomerSerializer(page, many=True).data)

    @extend_schema(request=CustomerCreateSerializer, responses={201: CustomerSerializer, **error_responses(400, 403)},
                   tags=["customers"])  # fmt: skip
    def post(self, request):
        """Add a customer (admins): the deployments it uses and the accounts it owns."""
        params = CustomerCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        customer = services.customer_create(actor=actor_of(request), **params.validated_data)
        return _detail(customer.pk, status.HTTP_201_CREATED)


class CustomerDetailView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(responses={200: CustomerSerializer, **error_responses(404)}, tags=["customers"])
    def get(self, request, customer_id: int):
        """One customer."""
        return _detail(customer_id)


class AgreementCreateView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(request=AgreementCreateSerializer,
                   responses={201: CustomerSerializer, **error_responses(400, 403, 404)},
                   tags=["customers"])  # fmt: skip
    def post(self, request, customer_id: int):
        """Record an agreement (admins): the correction types accepted and the notice each needs. Unknown
        types, negative notices and dates overlapping another agreement of the customer are refused."""
        customer = _customer_or_404(customer_id)
        params = AgreementCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        services.agreement_create(actor=actor_of(request), organisation=customer, **params.validated_data)
        return _detail(customer.pk, status.HTTP_201_CREATED)


class ContactCreateView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(request=ContactCreateSerializer,
                   responses={201: CustomerSerializer, **error_responses(400, 403, 404)},
                   tags=["customers"])  # fmt: skip
    def post(self, request, customer_id: int):
        """Add a contact (admins): who is sent the customer's notices."""
        customer = _customer_or_404(customer_id)
        params = ContactCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        services.contact_add(actor=actor_of(request), organisation=customer, **params.validated_data)
        return _detail(customer.pk, status.HTTP_201_CREATED)
