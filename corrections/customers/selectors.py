"""Reading notices: who a correction (or a proposed one) concerns, each notice with its flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from accounts.models import User
from corrections.customers import checks
from corrections.models import Correction, CustomerNotice, NoticeState
from incidents.customers.selectors import agreement_in_effect, customers_concerned
from incidents.models import Agreement, AIModel, Contact, CustomerOrganisation, Delivery, Deployment
from incidents.selectors import visible_through_q


def customers_for(
    *, type: str, deployment: Deployment | None, model: AIModel, params: dict[str, Any]
) -> list[CustomerOrganisation]:
    """The customers a correction touches: those owning the accounts it names, or using what it acts on."""
    if type == "block_accounts":
        return list(customers_concerned(account_ids=params.get("accounts") or []))
    if type == "rate_limit" and params.get("scope") == "account":
        return list(customers_concerned(account_ids=[params.get("subject", "")]))
    if deployment is not None:
        tier = params.get("subject", "") if type == "rate_limit" and params.get("scope") == "tier" else ""
        return list(customers_concerned(deployment_ids=[deployment.pk], account_tier=tier))
    return list(customers_concerned(deployment_ids=Deployment.objects.filter(model=model).values_list("pk", flat=True)))


@dataclass
class Proposed:
    """One customer's notice as it would be drafted, with its flags (the request's confirmation page)."""

    customer: CustomerOrganisation
    agreement: Agreement | None
    term: dict[str, Any]
    flags: list[checks.Flag] = field(default_factory=list)


def proposed_notices(
    *, type: str, deployment: Deployment | None, model: AIModel, params: dict[str, Any], now: datetime | None = None
) -> list[Proposed]:
    now = now or timezone.now()
    rows = []
    for customer in customers_for(type=type, deployment=deployment, model=model, params=params):
        agreement = agreement_in_effect(customer, timezone.localdate(now))
        term = (agreement.term_for(type) if agreement is not None else None) or {}
        flags = checks.flags_for(
            customer=customer.name, correction_type=type, term=term, contacts=len(customer.live),
            now=now, started_at=None, sent_at=None,
        )  # fmt: skip
        rows.append(Proposed(customer, agreement, term, flags))
    return rows


def _started_at(correction: Correction) -> datetime | None:
    return correction.activated_at or correction.approved_at


def notice_flags(notice: CustomerNotice, *, now: datetime | None = None) -> list[checks.Flag]:
    """A notice's flags now. Reads the organisation's live contacts (prefetched by notices_of)."""
    correction = notice.correction
    contacts = getattr(notice.organisation, "live", None)
    count = len(contacts) if contacts is not None else notice.organisation.contacts.filter(active=True).count()
    return checks.flags_for(
        customer=notice.organisation.name, correction_type=correction.type, term=notice.term, contacts=count,
        now=now or timezone.now(), started_at=_started_at(correction), sent_at=notice.sent_at,
    )  # fmt: skip


def notices_of(correction: Correction) -> QuerySet[CustomerNotice]:
    """A correction's notices with what their pages read: customer, its live contacts, the deliveries."""
    return (
        CustomerNotice.objects.filter(correction=correction)
        .select_related("organisation", "edited_by", "sent_by", "correction")
        .prefetch_related(
            Prefetch("organisation__contacts", queryset=Contact.objects.filter(active=True), to_attr="live"),
            Prefetch("notification__deliveries", queryset=Delivery.objects.order_by("id"), to_attr="rows"),
        )
        .order_by("organisation__name", "id")
    )


def correction_flags(correction: Correction) -> list[dict[str, str]]:
    """Every flag of every notice of the correction, each naming its customer (the API and pages)."""
    return [
        {"customer": notice.organisation.slug, **flag.as_dict()}
        for notice in notices_of(correction)
        for flag in notice_flags(notice)
    ]


def delivery_of(notice: CustomerNotice) -> dict[str, Any]:
    """How sending went: "draft", "sending", "delivered" (every contact, with the last time) or "failed"."""
    if notice.state == NoticeState.DRAFT:
        return {"state": "draft", "at": None, "deliveries": []}
    rows = getattr(notice.notification, "rows", None) if notice.notification_id else None
    rows = rows if rows is not None else (list(notice.notification.deliveries.all()) if notice.notification else [])
    deliveries = [{"address": d.address, "state": d.state, "done_at": d.done_at, "error": d.last_error} for d in rows]
    if any(d.state == "failed" for d in rows):
        state = "failed"
    elif rows and all(d.state == "sent" for d in rows):
        state = "delivered"
    else:
        state = "sending"
    at = max((d.done_at for d in rows if d.done_at), default=None) if state == "delivered" else None
    return {"state": state, "at": at, "deliveries": deliveries}


def notice_get_for(*, user: User, pk: int) -> CustomerNotice | None:
    """One notice, if its incident is visible to this person (the same 404 otherwise)."""
    return notices_visible_to(user).filter(pk=pk).first()


def notices_visible_to(user: User) -> QuerySet[CustomerNotice]:
    return (
        CustomerNotice.objects.filter(visible_through_q(user, path="correction__incident"))
        .select_related("organisation", "correction__incident", "edited_by", "sent_by")
        .prefetch_related(
            Prefetch("organisation__contacts", queryset=Contact.objects.filter(active=True), to_attr="live"),
            Prefetch("notification__deliveries", queryset=Delivery.objects.order_by("id"), to_attr="rows"),
        )
    )
