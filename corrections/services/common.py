"""What the corrections services share: the person acting, row locks, the state machine, the
ledger entry, the outbox row, and the approval that makes a correction run.

Only the modules of corrections.services import this; everyone else calls their functions.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from accounts import ledger
from accounts.actor import Actor
from accounts.models import User
from accounts.roles import Role
from config.errors import DomainError
from corrections import locks, outbox
from corrections.catalogue import get_type
from corrections.events import CorrectionEvent
from corrections.models import (
    CLOSED_INCIDENT,
    TRANSITIONS,
    ApprovalPolicy,
    Correction,
    CorrectionTarget,
    OutboxEntry,
    State,
    TargetState,
)
from incidents.models import Deployment, Incident
from incidents.selectors import can_view_incident

COMMANDER_ROLES = (Role.INCIDENT_COMMANDER, Role.LEADERSHIP, Role.ADMIN)


def content_hash(*, type: str, target: str, params: dict[str, Any], duration_minutes: int | None) -> str:
    """What an approval is bound to: exactly what will run. Any edit changes it."""
    body = {"type": type, "target": target, "params": params, "duration_minutes": duration_minutes}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def person(actor: Actor) -> User:
    if actor.user is None:
        raise DomainError("This action needs a person.", code="forbidden")
    return actor.user


def lock_incident(actor: Actor, incident: Incident) -> Incident:
    locked = locks.incident(incident.pk)
    if actor.user is not None and not can_view_incident(actor.user, locked):
        raise DomainError("No such incident.", code="not_found")
    return locked


def lock(actor: Actor, correction: Correction) -> tuple[Incident, Correction]:
    incident = lock_incident(actor, correction.incident)
    locked = locks.correction(correction.pk, related=("deployment", "model", "requested_by"))
    locked.incident = incident  # the rules below read the incident as locked, never a stale copy
    return incident, locked


def refuse_if_closed(incident: Incident, what: str) -> None:
    """Nothing is requested, approved or applied on a closed incident (DESIGN §4)."""
    if incident.status in CLOSED_INCIDENT:
        raise DomainError(f"{incident.ref} is {incident.status}; {what} — a commander may reopen it.", code="conflict")


def transition(correction: Correction, to: str) -> str:
    if to not in TRANSITIONS[correction.state]:
        raise DomainError(
            f"A correction that is {correction.get_state_display().lower()} cannot become {to}.", code="conflict"
        )
    before, correction.state = correction.state, to
    return before


def record(
    actor: Actor,
    verb: CorrectionEvent,
    correction: Correction,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> None:
    ledger.record(
        actor=actor, verb=CorrectionEvent(verb).value, obj=correction, incident_ref=correction.incident.ref,
        before=before, after=after, reason=reason,
    )  # fmt: skip


def required_text(value: str, field: str, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError.invalid_field(field, message)
    return value


def require_typed_target(correction: Correction, confirm_target: str) -> None:
    """The person types the target's name: what they confirm is the correction they mean."""
    if (confirm_target or "").strip() != correction.target_name:
        raise DomainError.invalid_field(
            "confirm_target", f"Type the target's name, {correction.target_name}, to confirm."
        )


def end(correction: Correction, state: str, now: datetime) -> str:
    """Move to a final state before anything ran: nothing left in the outbox may be sent."""
    before = transition(correction, state)
    correction.ended_at = now
    correction.save()
    OutboxEntry.objects.filter(correction=correction, done_at__isnull=True).update(done_at=now)
    return before


def deployments_reached(*, model_id: int, deployment: Deployment | None) -> list[Deployment]:
    """What a correction on this target acts on: the deployment, or every active deployment of the
    model now. The confirm page asks it too, before the request exists."""
    if deployment is not None:
        return [deployment]
    return list(Deployment.objects.filter(model_id=model_id, active=True).order_by("slug"))


def target_deployments(correction: Correction) -> list[Deployment]:
    """What a correction acts on: its deployment, or every active deployment of its model now."""
    # correction.deployment makes no query when deployment_id is None
    return deployments_reached(model_id=correction.model_id, deployment=correction.deployment)


def create_targets(correction: Correction) -> list[CorrectionTarget]:
    """One target per deployment, fixed when the correction is requested (DESIGN §4).

    Corrections never dispatched (destroy_weights) have none: they are confirmed as a whole.
    """
    if not get_type(correction.type).dispatchable:
        return []
    return CorrectionTarget.objects.bulk_create(
        [CorrectionTarget(correction=correction, deployment=d) for d in target_deployments(correction)]
    )


def start_lifting_targets(targets: list[CorrectionTarget]) -> None:
    """Each target in force starts lifting (a manual one becomes a manual lift step); a manual step
    nobody confirmed had nothing done to undo, and a target never applied has nothing at the edge."""
    for target in targets:
        if target.state in (TargetState.ACTIVE, TargetState.MANUAL_DONE, TargetState.FAILED, TargetState.APPLYING):
            target.state = TargetState.LIFTING
        elif target.state in (TargetState.MANUAL_PENDING, TargetState.PENDING):
            target.state = TargetState.LIFTED
        else:
            continue
        target.save(update_fields=["state", "updated_at"])


def current_policy(tier: int) -> ApprovalPolicy:
    return ApprovalPolicy.objects.get(tier=tier, is_current=True)


def write_outbox(correction: Correction, action: str) -> OutboxEntry | None:
    """Queue a dispatch in this transaction; the worker side sends it after commit (DESIGN §5)."""
    if not get_type(correction.type).dispatchable:
        return None
    correction.generation += 1
    entry = OutboxEntry.objects.create(
        correction=correction,
        action=action,
        generation=correction.generation,
        idempotency_key=f"corr-{correction.pk}-{action}-{correction.generation}",
    )
    outbox.send_on_commit(entry)
    return entry


def start_lift(
    actor: Actor, correction: Correction, *, verb: CorrectionEvent, reason: str, after: dict[str, Any] | None = None
) -> None:
    """active → lifting, with the outbox entry that has the worker remove it at the edge."""
    before = transition(correction, State.LIFTING)
    start_lifting_targets(locks.targets(correction))
    entry = write_outbox(correction, OutboxEntry.Action.LIFT)
    correction.save()
    record(actor, verb, correction, before={"state": before},
           after={"state": State.LIFTING, "outbox": entry.idempotency_key if entry else None, **(after or {})},
           reason=reason)  # fmt: skip


def approve(actor: Actor, correction: Correction, now: datetime) -> None:
    """Sign-off is complete (or not needed): the correction is approved and queued to run."""
    transition(correction, State.APPROVED)
    correction.approved_at = now
    correction.execute_by = now + timedelta(minutes=correction.policy_at_request.execution_window_minutes)
    entry = write_outbox(correction, OutboxEntry.Action.APPLY)
    correction.save()
    record(
        actor, CorrectionEvent.APPROVED, correction,
        before={"state": State.PENDING_APPROVAL},
        after={"state": State.APPROVED, "execute_by": correction.execute_by,
               "outbox": entry.idempotency_key if entry else None,
               "manual_confirmation_required": entry is None},
    )  # fmt: skip
