"""Operating a correction once it is approved: lift it, retry a failed dispatch, or confirm by
hand one that is never dispatched. The worker's own transitions are in corrections.services.worker."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.actor import Actor
from accounts.roles import Role
from config.errors import DomainError
from corrections import locks, policy
from corrections.catalogue import get_type
from corrections.events import CorrectionEvent
from corrections.models import IN_FORCE_STATES, Correction, CorrectionTarget, OutboxEntry, State, TargetState
from corrections.services.common import (
    lock,
    person,
    record,
    refuse_if_closed,
    require_typed_target,
    required_text,
    start_lift,
    transition,
    write_outbox,
)
from corrections.services.lifts import lift_request_record
from corrections.services.permissions import (
    awaits_manual_confirmation,
    liftable,
    may_confirm_target,
    may_operate,
)
from corrections.targets import after_apply, after_lift
from incidents.models import Incident


@transaction.atomic
def correction_lift(*, actor: Actor, correction: Correction, reason: str) -> Correction:
    """Start lifting an active correction; the worker removes it at the edge.

    Lifting a tier 3–4 correction before it expires only asks: one leadership approval starts it
    (corrections.services.lifts). A failed lift is retried as it was decided, without a new one.
    """
    user = person(actor)
    reason = required_text(reason, "reason", "Say why it can be lifted.")
    incident, correction = lock(actor, correction)
    if not get_type(correction.type).reversible:
        raise DomainError(f"{correction.type} is irreversible and cannot be lifted.", code="conflict")
    if not may_operate(user, correction):
        raise DomainError(f"Your role may not lift a tier {correction.tier} correction.", code="forbidden")
    if not liftable(correction):
        raise DomainError(
            f"Only an active correction can be lifted; this one is {correction.get_state_display().lower()}.",
            code="conflict",
        )
    # A playbook's pre-authorisation lowers who must approve applying it, not lifting it: the type's own tier.
    lift_tier = max(correction.tier, get_type(correction.type).tier_of(correction.params))
    if correction.state in IN_FORCE_STATES and policy.lift_needs_signoff(lift_tier):
        refuse_if_closed(incident, "a lift that needs approval cannot be asked for on it")
        lift_request_record(actor, correction, user=user, reason=reason)
        return correction
    start_lift(actor, correction, verb=CorrectionEvent.LIFT_REQUESTED, reason=reason)
    return correction


@transaction.atomic
def correction_retry(*, actor: Actor, correction: Correction, reason: str) -> Correction:
    """A person sends a failed correction back to the worker (an audited action)."""
    user = person(actor)
    reason = required_text(reason, "reason", "Say what was fixed before retrying.")
    incident, correction = lock(actor, correction)
    if not may_operate(user, correction):
        raise DomainError(f"Your role may not retry a tier {correction.tier} correction.", code="forbidden")
    if correction.state != State.FAILED:
        raise DomainError("Only a failed correction can be retried.", code="conflict")
    lifting = correction.failed_action == OutboxEntry.Action.LIFT
    if not lifting:  # lifting again restores access, and may go on; applying may not
        refuse_if_closed(incident, "nothing can be applied on it")
    before = transition(correction, State.LIFTING if lifting else State.QUEUED)
    correction.failure = ""
    if not lifting:  # its duration runs from when it takes effect, not from the attempt that failed
        correction.expires_at = None
    entry = write_outbox(correction, OutboxEntry.Action.LIFT if lifting else OutboxEntry.Action.APPLY)
    correction.save()
    record(actor, CorrectionEvent.RETRIED, correction, before={"state": before},
            after={"state": correction.state, "outbox": entry.idempotency_key if entry else None},
            reason=reason)  # fmt: skip
    return correction


@transaction.atomic
def correction_confirm_manual(*, actor: Actor, correction: Correction, confirm_target: str, note: str) -> Correction:
    """For corrections never dispatched (destroy_weights): record that it was carried out by hand."""
    user = person(actor)
    _, correction = lock(actor, correction)
    if get_type(correction.type).dispatchable:
        raise DomainError("This correction is applied by the worker, not confirmed by hand.", code="conflict")
    if not user.has_role(Role.LEADERSHIP):
        raise DomainError("Only leadership may confirm this was carried out.", code="forbidden")
    if not awaits_manual_confirmation(correction):
        raise DomainError("Only an approved correction can be confirmed as carried out.", code="conflict")
    require_typed_target(correction, confirm_target)
    note = required_text(note, "note", "Say who carried it out and how it was verified.")
    before = transition(correction, State.ACTIVE)
    now = timezone.now()
    correction.activated_at = correction.manual_confirmed_at = now
    correction.manual_confirmed_by = user
    correction.save()
    record(actor, CorrectionEvent.CONFIRMED_MANUALLY, correction, before={"state": before},
            after={"state": State.ACTIVE}, reason=note)  # fmt: skip
    return correction


# A manual step per state of its target: what the person confirms was done.
MANUAL_STEPS = {TargetState.MANUAL_PENDING: "taken down", TargetState.LIFTING: "restored"}


@transaction.atomic
def correction_target_confirm(
    *, actor: Actor, correction: Correction, deployment: str, confirm_target: str, note: str
) -> CorrectionTarget:
    """A person confirms a manual step on one target: the correction carried out (or lifted) by hand
    where no actuator reaches. The incident's commander does it (a commander, if it has none)."""
    user = person(actor)
    incident, correction = lock(actor, correction)
    targets = locks.targets(correction)
    target = next((t for t in targets if t.deployment.slug == deployment), None)
    if target is None:
        raise DomainError.invalid_field("deployment", f"{deployment!r} is not a target of this correction.")
    if not may_confirm_target(user, incident):
        raise DomainError("Only the incident's commander may confirm a manual step.", code="forbidden")
    if not (target.manual and target.state in MANUAL_STEPS):
        raise DomainError(f"{target.deployment.slug} has no manual step waiting.", code="conflict")
    if (confirm_target or "").strip() != target.deployment.slug:
        raise DomainError.invalid_field("confirm_target", f"Type {target.deployment.slug} to confirm.")
    note = required_text(note, "note", "Say who carried it out and how it was verified.")
    done = MANUAL_STEPS[TargetState(target.state)]
    now = timezone.now()
    before = {"target_state": target.state, "state": correction.state}
    if target.state == TargetState.MANUAL_PENDING:
        target.state, target.activated_at = TargetState.MANUAL_DONE, now
    else:
        target.state, target.lifted_at = TargetState.LIFTED, now
    target.confirmed_at, target.confirmed_by, target.confirm_note = now, user, note
    target.save()
    states = [t.state for t in targets]
    if target.state == TargetState.MANUAL_DONE and correction.activated_at is None:
        # The first target in force is a person's step (e.g. the only target has no actuator).
        correction.activated_at = now
        Incident.objects.filter(pk=incident.pk, contained_at__isnull=True).update(contained_at=now)
        correction.save()
    if correction.state == State.PARTLY_ACTIVE and after_apply(states) == State.ACTIVE:
        transition(correction, State.ACTIVE)
        if correction.verified_at is None:  # in force by hand only: the person's confirmation is its enforcement
            correction.manual_confirmed_at, correction.manual_confirmed_by = now, user
        correction.save()
    elif correction.state == State.LIFTING and after_lift(states) == State.LIFTED:
        transition(correction, State.LIFTED)
        correction.lifted_at = correction.ended_at = now
        correction.save()
    record(actor, CorrectionEvent.TARGET_CONFIRMED, correction, before=before,
            after={"deployment": target.deployment.slug, "done": done, "target_state": target.state,
                   "state": correction.state}, reason=note)  # fmt: skip
    return target
