"""Writing notices: drafting them with a request, the commander's edit, sending, and the explanation a
correction that breaks an agreement carries before it is approved."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts import ledger
from accounts.actor import Actor
from accounts.roles import Role
from config.errors import DomainError
from corrections import locks
from corrections.catalogue import get_type
from corrections.customers import checks, selectors
from corrections.events import CorrectionEvent
from corrections.models import Correction, CustomerNotice, NoticeState, State
from incidents.drills import reaches_outsiders
from incidents.models import Contact
from incidents.notifications import Address, notify_rows
from incidents.selectors import can_view_incident

EDITOR_ROLES = (Role.INCIDENT_COMMANDER, Role.LEADERSHIP)
# A notice about a correction that will never run is not sent.
UNSENDABLE = (State.REJECTED, State.CANCELLED, State.LAPSED)
EXPLAIN = "Say why the customers' notice could not be given: this correction breaks an agreement."


def _record(actor: Actor, verb: CorrectionEvent, correction: Correction, **kwargs) -> None:
    ledger.record(actor=actor, verb=verb, obj=correction, incident_ref=correction.incident.ref, **kwargs)


def notices_draft(*, actor: Actor, correction: Correction) -> list[CustomerNotice]:
    """One notice per customer the correction touches and not yet drafted for (none for a drill)."""
    incident = correction.incident
    if not reaches_outsiders(incident):
        return []
    ctype = get_type(correction.type)
    already = set(CustomerNotice.objects.filter(correction=correction).values_list("organisation_id", flat=True))
    rows = selectors.proposed_notices(
        type=correction.type, deployment=correction.deployment, model=correction.model, params=correction.params
    )
    made = []
    for row in rows:
        if row.customer.pk in already:
            continue
        subject, body = checks.draft(
            customer=row.customer.name, change=ctype.label, target=correction.target_name,
            duration_minutes=correction.duration_minutes, restricted=incident.restricted,
            category=incident.category, term=row.term,
        )  # fmt: skip
        made.append(
            CustomerNotice.objects.create(
                correction=correction,
                organisation=row.customer,
                agreement=row.agreement,
                term=row.term,
                subject=subject,
                body=body,
            )  # fmt: skip
        )
    if made:
        flagged = {r.customer.slug: [f.code for f in r.flags] for r in rows if r.customer.pk not in already}
        _record(actor, CorrectionEvent.NOTICES_DRAFTED, correction,
                after={"customers": sorted(flagged), "flags": flagged})  # fmt: skip
    return made


def notice_explanation_check(*, actor: Actor, correction: Correction, explanation: str) -> None:
    """Before a correction is approved: if a notice is flagged, it must carry an explanation (given now or
    on the request). The explanation is kept on the correction and ledgered with the flags it explains."""
    flags = selectors.correction_flags(correction)
    explanation = (explanation or "").strip()
    if not flags:
        return
    if correction.notice_explanation and not explanation:
        return
    if not explanation:
        raise DomainError(
            EXPLAIN + " " + " ".join(f["message"] for f in flags),
            code="invalid", fields={"notice_explanation": [EXPLAIN]},
        )  # fmt: skip
    correction.notice_explanation = explanation[:20000]
    correction.save(update_fields=["notice_explanation", "updated_at"])
    _record(actor, CorrectionEvent.NOTICE_BREACH_EXPLAINED, correction, after={"flags": flags}, reason=explanation)


def _may_write(actor: Actor, notice: CustomerNotice) -> None:
    user = actor.user
    if user is None or not can_view_incident(user, notice.correction.incident):
        raise DomainError("No such notice.", code="not_found")
    if not user.has_role(*EDITOR_ROLES):
        raise DomainError("Only an incident commander or leadership edits and sends customer notices.",
                          code="forbidden")  # fmt: skip


@transaction.atomic
def notice_edit(*, actor: Actor, notice: CustomerNotice, subject: str, body: str) -> CustomerNotice:
    _may_write(actor, notice)
    notice = locks.customer_notice(notice.pk)
    if notice.state != NoticeState.DRAFT:
        raise DomainError("This notice was sent; it can no longer be edited.", code="conflict")
    subject, body = (subject or "").strip(), (body or "").strip()
    errors = {}
    if not subject:
        errors["subject"] = ["Give the notice a subject."]
    elif len(subject) > 300:
        errors["subject"] = ["At most 300 characters."]
    if not body:
        errors["body"] = ["Write what the customer is told."]
    elif len(body) > 20000:
        errors["body"] = ["At most 20000 characters."]
    if errors:
        raise DomainError(next(iter(errors.values()))[0], code="invalid", fields=errors)
    before = {"subject": notice.subject, "body": notice.body}
    notice.subject, notice.body = subject, body
    notice.edited_by, notice.edited_at = actor.user, timezone.now()
    notice.save(update_fields=["subject", "body", "edited_by", "edited_at"])
    _record(actor, CorrectionEvent.NOTICE_EDITED, notice.correction, before=before,
            after={"customer": notice.organisation.slug, "notice": notice.pk, "subject": subject,
                   "body": body})  # fmt: skip
    return notice


@transaction.atomic
def notice_send(*, actor: Actor, notice: CustomerNotice) -> CustomerNotice:
    """Send the notice to the customer's contacts by email, through the outbox; refused twice."""
    _may_write(actor, notice)
    notice = locks.customer_notice(notice.pk)
    correction = notice.correction
    if notice.state != NoticeState.DRAFT:
        raise DomainError("This notice was already sent.", code="conflict")
    if correction.state in UNSENDABLE:
        raise DomainError(f"Correction #{correction.pk} is {correction.state}: it will not run.", code="conflict")
    emails = list(
        Contact.objects.filter(organisation=notice.organisation, active=True).order_by("id").values_list("email",
                                                                                                           flat=True)
    )  # fmt: skip
    if not emails:
        raise DomainError(f"{notice.organisation.name} has no contact to send it to; an admin adds one first.",
                          code="conflict")  # fmt: skip
    # About no incident: the text is the customer's (written for them, fixed words for a restricted
    # incident), so notify must not swap it for the "a restricted incident needs you" message.
    notification = notify_rows(
        incident=None, subject=notice.subject, body=notice.body, to=[Address("email", email) for email in emails]
    )
    now = timezone.now()
    notice.state, notice.sent_at, notice.sent_by = NoticeState.SENT, now, actor.user
    notice.recipients, notice.notification = emails, notification
    notice.save(update_fields=["state", "sent_at", "sent_by", "recipients", "notification"])
    flags = [flag.code for flag in selectors.notice_flags(notice, now=now)]
    _record(actor, CorrectionEvent.NOTICE_SENT, correction,
            after={"customer": notice.organisation.slug, "notice": notice.pk, "to": emails,
                   "sent_at": now.isoformat(), "flags": flags})  # fmt: skip
    return notice
