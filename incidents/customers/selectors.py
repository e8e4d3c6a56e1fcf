"""Reading customers: the list, and which customers a set of deployments or accounts concerns."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.db.models import Prefetch, Q, QuerySet

from incidents.models import Agreement, Contact, CustomerOrganisation


def customer_list() -> QuerySet[CustomerOrganisation]:
    """Every customer with its deployments, active contacts and agreements (three queries, whatever the size)."""
    return CustomerOrganisation.objects.order_by("name", "id").prefetch_related(
        "deployments",
        Prefetch("contacts", queryset=Contact.objects.filter(active=True).order_by("name", "id"), to_attr="live"),
        Prefetch("agreements", queryset=Agreement.objects.order_by("-effective_from", "-id"), to_attr="all_agreements"),
    )


def customer_get(pk: int) -> CustomerOrganisation | None:
    return customer_list().filter(pk=pk).first()


def customers_concerned(
    *, deployment_ids: Iterable[int] = (), account_ids: Iterable[str] = (), account_tier: str = ""
) -> QuerySet[CustomerOrganisation]:
    """Customers using any of these deployments or owning any of these accounts (each once). With
    `account_tier`, only those among the deployments' users that hold an account of that tier."""
    deployments, accounts = list(deployment_ids), list(account_ids)
    by_deployment = Q(deployments__in=deployments) if deployments else Q(pk__in=[])
    if account_tier:
        by_deployment &= Q(accounts__tier=account_tier)
    by_account = Q(accounts__account_id__in=accounts) if accounts else Q(pk__in=[])
    ids = CustomerOrganisation.objects.filter(by_deployment | by_account).values("pk")
    return customer_list().filter(pk__in=ids)


def agreement_in_effect(customer: CustomerOrganisation, day: date) -> Agreement | None:
    """From a customer read through customer_list (its agreements prefetched): the one in effect on `day`."""
    for agreement in getattr(customer, "all_agreements", None) or customer.agreements.all():
        if agreement.effective_from <= day and (agreement.effective_until is None or day <= agreement.effective_until):
            return agreement
    return None
