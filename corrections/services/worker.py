"""Transitions the dispatch worker makes (corrections.dispatch calls these under its locks), and
expiry, swept by beat. Nothing here is a person's decision: the actor is a system task."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.actor import Actor
from corrections import locks
from corrections.events import CorrectionEvent
from corrections.models import CLOSED_INCIDENT, IN_FORCE_STATES, TRANSITIONS, Correction, OutboxEntry, State
from corrections.services.common import create_targets, end, record, start_lifting_targets, transition, write_outbox
from corrections.services.lifts import lift_supersede
from incidents.models import Incident


def dispatch_transition(actor: Actor, correction: Correction, to: str, *, via: str | None = None) -> None:
    """approved → queued → applying, as the worker claims an apply; stamps the expiry it will carry."""
    before = correction.state
    if via and correction.state != via and via in TRANSITIONS[correction.state]:
        transition(correction, via)
    transition(correction, to)
    if to == State.APPLYING and correction.duration_minutes and correction.expires_at is None:
        correction.expires_at = timezone.now() + timedelta(minutes=correction.duration_minutes)
    correction.save()
    record(actor, CorrectionEvent.DISPATCHING, correction, before={"state": before},
            after={"state": to, "generation": correction.generation, "expires_at": correction.expires_at})  # fmt: skip


def apply_refused_if_closed(actor: Actor, correction: Correction, now: datetime) -> bool:
    """An approved correction whose incident has closed is not applied: it lapses, and says why."""
    incident = correction.incident
    if incident.status not in CLOSED_INCIDENT:
        return False
    before = end(correction, State.LAPSED, now)
    record(actor, CorrectionEvent.APPLY_REFUSED, correction, before={"state": before},
           after={"state": State.LAPSED, "incident_status": incident.status})  # fmt: skip
    return True


def targets_backfill(correction: Correction) -> None:
    """A correction requested before targets existed gets them when it is first dispatched."""
    create_targets(correction)


def _contained(correction: Correction, now: datetime) -> None:
    # The incident's "contained" milestone is its first correction in force, even partly.
    Incident.objects.filter(pk=correction.incident_id, contained_at__isnull=True).update(contained_at=now)


def dispatch_succeeded(actor: Actor, correction: Correction, action: str, *, latency_ms: int, now: datetime) -> None:
    """Every target is in force (or, lifting, lifted)."""
    latency = latency_ms
    if action == OutboxEntry.Action.APPLY:
        before = transition(correction, State.ACTIVE)
        correction.activated_at = now
        correction.failure = correction.failed_action = ""
        correction.save()
        _contained(correction, now)
        verb = CorrectionEvent.APPLIED
    else:
        before = transition(correction, State.LIFTED)
        correction.lifted_at = correction.ended_at = now
        correction.failure = correction.failed_action = ""
        correction.save()
        verb = CorrectionEvent.LIFTED
    record(actor, verb, correction, before={"state": before},
            after={"state": correction.state, "latency_ms": latency, "expires_at": correction.expires_at})  # fmt: skip


def dispatch_partly_done(
    actor: Actor, correction: Correction, action: str, *, manual: list[str], now: datetime, any_in_force: bool = True
) -> None:
    """Applied (or lifted) wherever an actuator reaches; the `manual` deployments wait for a person. With
    nothing in force anywhere yet (e.g. its only target is manual), neither it nor the incident is stamped
    as in force or contained: the person's confirmation does that."""
    if action == OutboxEntry.Action.APPLY:
        before = transition(correction, State.PARTLY_ACTIVE)
        correction.failure = correction.failed_action = ""
        if any_in_force:  # not stamped while every target waits for a person
            correction.activated_at = correction.activated_at or now
            _contained(correction, now)
        correction.save()
        verb = CorrectionEvent.PARTLY_APPLIED
    else:
        before = correction.state
        if correction.state != State.LIFTING:
            transition(correction, State.LIFTING)
        correction.failure = correction.failed_action = ""
        correction.save()
        verb = CorrectionEvent.PARTLY_LIFTED
    record(actor, verb, correction, before={"state": before},
            after={"state": correction.state, "manual_steps": manual})  # fmt: skip


def dispatch_failed(actor: Actor, correction: Correction, action: str, *, error: str, attempts: int) -> None:
    before = transition(correction, State.FAILED)
    correction.failure = error[:2000]
    correction.failed_action = action
    correction.save()
    record(actor, CorrectionEvent.FAILED, correction, before={"state": before},
            after={"state": State.FAILED, "action": action, "attempts": attempts, "error": error[:500]})  # fmt: skip


def dispatch_verified(actor: Actor, correction: Correction, *, now: datetime) -> None:
    if correction.state not in IN_FORCE_STATES or correction.verified_at:
        return
    correction.verified_at = now
    correction.save(update_fields=["verified_at", "updated_at"])
    dry_run = {"dry_run": True} if correction.dry_run else {}
    record(actor, CorrectionEvent.VERIFIED, correction, after={"verified_at": now, **dry_run})


@transaction.atomic
def correction_expire(*, actor: Actor, correction_id: int, now: datetime) -> bool:
    """An active correction past its expiry becomes expired and is lifted at the edge."""
    correction = locks.correction(correction_id, related=("incident", "model"))
    if correction.state not in IN_FORCE_STATES or not correction.expires_at or correction.expires_at > now:
        return False
    before = transition(correction, State.EXPIRED)
    start_lifting_targets(locks.targets(correction))
    entry = write_outbox(correction, OutboxEntry.Action.LIFT)
    correction.save()
    lift_supersede(actor, correction, now)  # expiry lifts without sign-off: a lift still asked for is moot
    record(actor, CorrectionEvent.EXPIRED, correction, before={"state": before},
            after={"state": State.EXPIRED, "expires_at": correction.expires_at,
                   "outbox": entry.idempotency_key if entry else None})  # fmt: skip
    return True
