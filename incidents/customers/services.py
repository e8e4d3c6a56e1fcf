"""Writing customers: organisations, agreements and contacts, validated field by field and ledgered."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.text import slugify

from accounts import ledger
from accounts.actor import Actor
from accounts.roles import Role
from config.errors import DomainError
from incidents import locks
from incidents.customers import correction_types
from incidents.events import IncidentEvent
from incidents.models import Agreement, Contact, CustomerAccount, CustomerOrganisation, Deployment, Timing

MAX_NOTICE_MINUTES = 365 * 24 * 60


def _invalid(fields: dict[str, list[str]]) -> DomainError:
    first = next(iter(fields.values()))[0]
    return DomainError(first, code="invalid", fields=fields)


def _require_admin(actor: Actor) -> None:
    user = actor.user
    if user is None or not user.has_role(Role.ADMIN):
        raise DomainError("Only an admin manages customers and their agreements.", code="forbidden")


def terms_clean(terms: Any) -> list[dict[str, Any]]:
    """An agreement's terms as stored, or DomainError naming each bad field (`terms.<i>.<name>`)."""
    if not isinstance(terms, list) or not terms:
        raise _invalid({"terms": ["List at least one correction type the customer accepted."]})
    known = correction_types()
    errors: dict[str, list[str]] = {}
    cleaned: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, term in enumerate(terms):
        if not isinstance(term, dict):
            errors[f"terms.{i}"] = ['Each term is {"type": ..., "timing": "before" or "after", "minutes": N}.']
            continue
        extra = set(term) - {"type", "timing", "minutes"}
        if extra:
            errors[f"terms.{i}"] = [f"Unknown field: {', '.join(sorted(map(str, extra)))}."]
        kind, timing, minutes = term.get("type"), term.get("timing"), term.get("minutes")
        if kind not in known:
            errors[f"terms.{i}.type"] = [f"Unknown correction type {kind!r}; choose from {', '.join(sorted(known))}."]
        elif kind in seen:
            errors[f"terms.{i}.type"] = [f"{kind} is listed twice."]
        if timing not in Timing.values:
            errors[f"terms.{i}.timing"] = ['Say "before" or "after" the correction starts.']
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            errors[f"terms.{i}.minutes"] = ["Give the notice as a whole number of minutes."]
        elif minutes < 0:
            errors[f"terms.{i}.minutes"] = ["A notice cannot be negative."]
        elif minutes > MAX_NOTICE_MINUTES:
            errors[f"terms.{i}.minutes"] = [f"At most {MAX_NOTICE_MINUTES} minutes (a year)."]
        if isinstance(kind, str):
            seen.add(kind)
        cleaned.append({"type": kind, "timing": timing, "minutes": minutes})
    if errors:
        raise _invalid(errors)
    return cleaned


def agreement_overlap(
    *,
    organisation: CustomerOrganisation,
    effective_from: date,
    effective_until: date | None,
    exclude: int | None = None,
) -> Agreement | None:
    """The organisation's agreement whose dates meet these, if any (one agreement in effect at a time)."""
    others = Agreement.objects.filter(organisation=organisation).exclude(pk=exclude)
    if effective_until is not None:
        others = others.filter(effective_from__lte=effective_until)
    return others.exclude(effective_until__lt=effective_from).order_by("effective_from").first()


def dates_clean(
    *, organisation: CustomerOrganisation, effective_from: Any, effective_until: Any, exclude: int | None = None
) -> None:
    if not isinstance(effective_from, date):
        raise _invalid({"effective_from": ["Give the first day the agreement is in effect."]})
    if effective_until is not None and not isinstance(effective_until, date):
        raise _invalid({"effective_until": ["Give a date, or leave it blank for an open-ended agreement."]})
    if effective_until is not None and effective_until < effective_from:
        raise _invalid({"effective_until": ["The agreement cannot end before it starts."]})
    clash = agreement_overlap(
        organisation=organisation, effective_from=effective_from, effective_until=effective_until, exclude=exclude
    )
    if clash is not None:
        until = clash.effective_until.isoformat() if clash.effective_until else "open-ended"
        raise _invalid({"effective_from": [f"Overlaps the agreement in effect from {clash.effective_from} ({until})."]})


@transaction.atomic
def customer_create(
    *, actor: Actor, name: str, slug: str = "", deployments: Sequence[str] = (), accounts: Sequence[str] = ()
) -> CustomerOrganisation:
    _require_admin(actor)
    name = (name or "").strip()
    if not name:
        raise DomainError.invalid_field("name", "Name the customer.")
    slug = slugify(slug or name)[:64]
    if not slug:
        raise DomainError.invalid_field("slug", "Give a slug of letters, digits and hyphens.")
    if CustomerOrganisation.objects.filter(slug=slug).exists():
        raise DomainError.invalid_field("slug", f"A customer {slug!r} already exists.")
    found = list(Deployment.objects.filter(slug__in=list(deployments)))
    unknown = sorted(set(deployments) - {d.slug for d in found})
    if unknown:
        raise DomainError.invalid_field("deployments", f"Unknown deployment: {', '.join(unknown)}.")
    owned = list(CustomerAccount.objects.filter(account_id__in=list(accounts)))
    unknown = sorted(set(accounts) - {a.account_id for a in owned})
    if unknown:
        raise DomainError.invalid_field("accounts", f"Unknown account: {', '.join(unknown)}.")
    taken = sorted(a.account_id for a in owned if a.customer_id is not None)
    if taken:
        raise DomainError.invalid_field("accounts", f"Already another customer's: {', '.join(taken)}.")
    organisation = CustomerOrganisation.objects.create(slug=slug, name=name)
    organisation.deployments.set(found)
    CustomerAccount.objects.filter(pk__in=[a.pk for a in owned]).update(customer=organisation)
    ledger.record(
        actor=actor, verb=IncidentEvent.CUSTOMER_CREATED, obj=organisation,
        after={"slug": slug, "name": name, "deployments": sorted(d.slug for d in found),
               "accounts": sorted(a.account_id for a in owned)},
    )  # fmt: skip
    return organisation


@transaction.atomic
def agreement_create(
    *,
    actor: Actor,
    organisation: CustomerOrganisation,
    terms: Any,
    effective_from: Any,
    effective_until: Any = None,
    reference: str = "",
) -> Agreement:
    _require_admin(actor)
    organisation = locks.lock_customer_organisation(organisation.pk)
    cleaned = terms_clean(terms)
    dates_clean(organisation=organisation, effective_from=effective_from, effective_until=effective_until)
    agreement = Agreement.objects.create(
        organisation=organisation, terms=cleaned, effective_from=effective_from, effective_until=effective_until,
        reference=(reference or "").strip()[:100], created_by=actor.user,
    )  # fmt: skip
    ledger.record(
        actor=actor, verb=IncidentEvent.CUSTOMER_AGREEMENT_CREATED, obj=agreement,
        after={"customer": organisation.slug, "terms": cleaned, "effective_from": effective_from.isoformat(),
               "effective_until": effective_until.isoformat() if effective_until else None,
               "reference": agreement.reference},
    )  # fmt: skip
    return agreement


@transaction.atomic
def contact_add(*, actor: Actor, organisation: CustomerOrganisation, name: str, email: str, role: str = "") -> Contact:
    _require_admin(actor)
    organisation = locks.lock_customer_organisation(organisation.pk)
    name, email = (name or "").strip(), (email or "").strip()
    if not name:
        raise DomainError.invalid_field("name", "Name the contact.")
    try:
        validate_email(email)
    except ValidationError:
        raise DomainError.invalid_field("email", "Enter a valid email address.") from None
    if Contact.objects.filter(organisation=organisation, email__iexact=email).exists():
        raise DomainError.invalid_field("email", f"{email} is already a contact of {organisation.name}.")
    contact = Contact.objects.create(organisation=organisation, name=name, email=email, role=(role or "").strip())
    ledger.record(
        actor=actor, verb=IncidentEvent.CUSTOMER_CONTACT_ADDED, obj=contact,
        after={"customer": organisation.slug, "name": name, "email": email, "role": contact.role},
    )  # fmt: skip
    return contact
