"""Lifting early is a decision too (DESIGN §4): lifting a tier 3–4 correction before it expires
restores exposure, so it needs one leadership approval from someone other than who asked.

A person asks (corrections.services.execution.correction_lift records the request here); a leader
approves exactly the lift they reviewed (its hash) and the lift starts through the outbox, or
rejects it; a request nobody decides lapses after the correction's time to live. Expiry still lifts
without sign-off, and supersedes a lift still waiting.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.actor import Actor
from accounts.models import User
from accounts.roles import Role
from config.errors import DomainError
from corrections import locks, policy
from corrections.events import CorrectionEvent
from corrections.models import Correction, LiftRequest, State
from corrections.selectors import lift_facts
from corrections.services.common import lock, person, record, required_text, start_lift
from incidents.notifications import Event, Need, incident_url, members_of, notify

STALE_LIFT = "The lift changed since you opened it — review it again."


def lift_hash(*, correction: Correction, reason: str, requested_by: User, requested_at: datetime) -> str:
    """What a lift approval is bound to: which correction, as it now stands, lifted by whom and why."""
    body = {
        "action": "lift",
        "correction": correction.pk,
        "content_hash": correction.content_hash,
        "generation": correction.generation,
        "reason": reason,
        "requested_by": requested_by.pk,
        "requested_at": requested_at.isoformat(),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def lift_request_record(actor: Actor, correction: Correction, *, user: User, reason: str) -> LiftRequest:
    """Record the request to lift (the correction and incident are locked by the caller)."""
    if locks.pending_lift(correction) is not None:
        raise DomainError("A lift of this correction is already awaiting approval.", code="conflict")
    now = timezone.now()
    lift = LiftRequest.objects.create(
        correction=correction,
        requested_by=user,
        reason=reason,
        content_hash=lift_hash(correction=correction, reason=reason, requested_by=user, requested_at=now),
        pending_until=now + timedelta(minutes=correction.policy_at_request.pending_ttl_minutes),
    )
    record(actor, CorrectionEvent.LIFT_SIGNOFF_REQUESTED, correction,
           after={"lift": lift.pk, "content_hash": lift.content_hash, "pending_until": lift.pending_until,
                  "still_needed": list(policy.LIFT_REQUIREMENTS)},
           reason=reason)  # fmt: skip
    incident = correction.incident
    notify(
        incident=incident,
        users=[u for u in members_of(Role.LEADERSHIP) if u.pk != user.pk],
        needs=Need.APPROVAL,
        event=Event.APPROVAL_NEEDED,
        roles=[Role.LEADERSHIP],
        subject=f"Lift approval needed: {correction.type} on {correction.target_name} ({incident.ref})",
        body=f"{user.username} asks to lift correction #{correction.pk} (tier {correction.tier}) before it "
        f"expires.\nReason: {reason}\n\n{incident_url(incident.ref)}",
    )
    return lift


def _lapse_lift_if_due(actor: Actor, correction: Correction, lift: LiftRequest, now: datetime) -> bool:
    if now < lift.pending_until:
        return False
    _end_lift(lift, LiftRequest.State.LAPSED, now)
    record(actor, CorrectionEvent.LIFT_LAPSED, correction,
           after={"lift": lift.pk, "why": "its time to live passed"})  # fmt: skip
    return True


def _end_lift(lift: LiftRequest, state: str, now: datetime, *, by: User | None = None, comment: str = "") -> None:
    lift.state = state
    lift.decided_at = now
    lift.decided_by = by
    lift.comment = comment
    lift.save(update_fields=["state", "decided_at", "decided_by", "comment"])


def _locked_lift(actor: Actor, correction: Correction) -> tuple[Correction, LiftRequest]:
    _, correction = lock(actor, correction)
    lift = locks.pending_lift(correction)
    if lift is None or correction.state != State.ACTIVE:
        raise DomainError("No lift of this correction is awaiting approval.", code="conflict")
    return correction, lift


def correction_lift_approve(
    *, actor: Actor, correction: Correction, content_hash: str, comment: str = ""
) -> Correction:
    """Approve exactly the lift hashed as `content_hash`: the correction starts lifting."""
    user = person(actor)
    with transaction.atomic():
        correction, lift = _locked_lift(actor, correction)
        lapsed = _lapse_lift_if_due(actor, correction, lift, timezone.now())
        if not lapsed:
            if content_hash != lift.content_hash:
                raise DomainError(STALE_LIFT, code="conflict", fields={"content_hash": [STALE_LIFT]})
            refusal = policy.lift_decision_refusal(lift_facts(correction, lift), user.pk, user.roles, verb="approve")
            if refusal is not None:
                raise DomainError(refusal.message, code=refusal.code)
            _end_lift(lift, LiftRequest.State.APPROVED, timezone.now(), by=user, comment=comment.strip())
            start_lift(actor, correction, verb=CorrectionEvent.LIFT_APPROVED, reason=lift.reason,
                       after={"lift": lift.pk, "content_hash": lift.content_hash, "approved_by": user.username,
                              "comment": lift.comment})  # fmt: skip
    if lapsed:  # the lapse is committed; the refusal follows
        raise DomainError("This lift request has lapsed: nobody approved it in time. Ask again.", code="conflict")
    return correction


@transaction.atomic
def correction_lift_reject(*, actor: Actor, correction: Correction, comment: str) -> Correction:
    """Refuse the lift: the correction stays in force."""
    user = person(actor)
    comment = required_text(comment, "comment", "Say why it must stay in force.")
    correction, lift = _locked_lift(actor, correction)
    if _lapse_lift_if_due(actor, correction, lift, timezone.now()):
        return correction
    refusal = policy.lift_decision_refusal(lift_facts(correction, lift), user.pk, user.roles, verb="reject")
    if refusal is not None:
        raise DomainError(refusal.message, code=refusal.code)
    _end_lift(lift, LiftRequest.State.REJECTED, timezone.now(), by=user, comment=comment)
    record(actor, CorrectionEvent.LIFT_REJECTED, correction, after={"lift": lift.pk, "state": lift.state},
           reason=comment)  # fmt: skip
    return correction


def lift_supersede(actor: Actor, correction: Correction, now: datetime) -> None:
    """The correction ended another way (it expired): a lift still waiting has nothing left to decide."""
    lift = locks.pending_lift(correction)
    if lift is not None:
        _end_lift(lift, LiftRequest.State.SUPERSEDED, now)
        record(actor, CorrectionEvent.LIFT_LAPSED, correction,
               after={"lift": lift.pk, "why": f"the correction became {correction.state} first"})  # fmt: skip


def lifts_sweep_deadlines(*, actor: Actor, now: datetime | None = None) -> int:
    """Lapse lift requests past their time to live (or whose correction is no longer active)."""
    now = now or timezone.now()
    due = LiftRequest.objects.filter(
        Q(pending_until__lte=now) | ~Q(correction__state=State.ACTIVE), state=LiftRequest.State.PENDING
    ).values_list("correction_id", flat=True)
    lapsed = 0
    for correction_id in list(due):
        with transaction.atomic():
            correction = Correction.objects.select_related("incident").get(pk=correction_id)
            _, correction = lock(actor, correction)
            lift = locks.pending_lift(correction)
            if lift is None:
                continue
            if correction.state != State.ACTIVE:
                lift_supersede(actor, correction, now)
                lapsed += 1
            else:
                lapsed += _lapse_lift_if_due(actor, correction, lift, now)
    return lapsed
