"""Everything that writes corrections, approvals and outbox entries.

Each function is one transaction. Locks are taken in a fixed order — incident, then correction,
then approvals — and the ledger head last (inside ledger.record). Illegal transitions are
refused here and only here.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.actor import Actor
from accounts.lockout import second_factor_verify
from accounts.models import User
from accounts.roles import Role
from config.errors import DomainError
from corrections import outbox, policy
from corrections.catalogue import get_type, resolve_target, validate_params
from corrections.models import (
    TRANSITIONS,
    Actuator,
    Approval,
    ApprovalPolicy,
    Correction,
    CorrectionEditor,
    OutboxEntry,
    State,
    needs_ratification,
)
from corrections.selectors import can_decide, decision_facts
from incidents import ledger
from incidents.models import Incident, Severity, Status
from incidents.notifications import Need, incident_url, members_of, notify
from incidents.selectors import can_view_incident

MAX_DURATION_MINUTES = 365 * 24 * 60
CLOSED_INCIDENT = (Status.CLOSED, Status.DISMISSED)
COMMANDER_ROLES = (Role.INCIDENT_COMMANDER, Role.LEADERSHIP, Role.ADMIN)


# --- helpers -----------------------------------------------------------------------------------


def content_hash(*, type: str, target: str, params: dict, duration_minutes: int | None) -> str:
    """What an approval is bound to: exactly what will run. Any edit changes it."""
    body = {"type": type, "target": target, "params": params, "duration_minutes": duration_minutes}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _user(actor: Actor) -> User:
    if actor.user is None:
        raise DomainError("This action needs a person.", code="forbidden")
    return actor.user


def _lock_incident(actor: Actor, incident: Incident) -> Incident:
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    if actor.user is not None and not can_view_incident(actor.user, locked):
        raise DomainError("No such incident.", code="not_found")
    return locked


def _lock(actor: Actor, correction: Correction) -> tuple[Incident, Correction]:
    incident = _lock_incident(actor, correction.incident)
    locked = (
        Correction.objects.select_for_update(of=("self",))
        .select_related("deployment", "model", "requested_by")
        .get(pk=correction.pk)
    )
    return incident, locked


def _transition(correction: Correction, to: str) -> str:
    if to not in TRANSITIONS[correction.state]:
        raise DomainError(
            f"A correction that is {correction.get_state_display().lower()} cannot become {to}.", code="conflict"
        )
    before, correction.state = correction.state, to
    return before


def _record(actor: Actor, verb: str, correction: Correction, *, before=None, after=None, reason: str = ""):
    ledger.record(
        actor=actor, verb=verb, obj=correction, incident_ref=correction.incident.ref,
        before=before, after=after, reason=reason,
    )  # fmt: skip


def _required_text(value: str, field: str, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError.invalid_field(field, message)
    return value


def _end(correction: Correction, state: str, now: datetime) -> str:
    """Move to a final state before anything ran: nothing left in the outbox may be sent."""
    before = _transition(correction, state)
    correction.ended_at = now
    correction.save()
    OutboxEntry.objects.filter(correction=correction, done_at__isnull=True).update(done_at=now)
    return before


def _duration(ctype, duration_minutes: Any) -> int | None:
    if duration_minutes in (None, ""):
        return ctype.default_duration_minutes if ctype.reversible else None
    if isinstance(duration_minutes, bool) or not isinstance(duration_minutes, int):
        raise DomainError.invalid_field("duration_minutes", "Give the duration as a whole number of minutes.")
    if not ctype.reversible:
        raise DomainError.invalid_field("duration_minutes", f"{ctype.label} cannot expire: it is irreversible.")
    if not 1 <= duration_minutes <= MAX_DURATION_MINUTES:
        raise DomainError.invalid_field("duration_minutes", f"Choose 1 to {MAX_DURATION_MINUTES} minutes.")
    return duration_minutes


def current_policy(tier: int) -> ApprovalPolicy:
    return ApprovalPolicy.objects.get(tier=tier, is_current=True)


def _live_approvals(correction: Correction) -> list[Approval]:
    return list(
        Approval.objects.select_for_update(of=("self",))
        .select_related("approver")
        .prefetch_related("approver__groups")
        .filter(correction=correction, voided_at__isnull=True, decision=Approval.Decision.APPROVE)
    )


def _signoff(correction: Correction, approvals: list[Approval]) -> policy.Signoff:
    return policy.evaluate(
        correction.policy_snapshot["requirements"], [(a.approver_id, a.approver.roles) for a in approvals]
    )


def _write_outbox(correction: Correction, action: str) -> OutboxEntry | None:
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


def _approve(actor: Actor, correction: Correction, now: datetime) -> None:
    _transition(correction, State.APPROVED)
    correction.approved_at = now
    correction.execute_by = now + timedelta(minutes=correction.policy_snapshot["execution_window_minutes"])
    entry = _write_outbox(correction, OutboxEntry.Action.APPLY)
    correction.save()
    _record(
        actor, "correction.approved", correction,
        before={"state": State.PENDING_APPROVAL},
        after={"state": State.APPROVED, "execute_by": correction.execute_by,
               "outbox": entry.idempotency_key if entry else None,
               "manual_confirmation_required": entry is None},
    )  # fmt: skip


def _notify_approvers(correction: Correction, signoff: policy.Signoff) -> None:
    roles = {role for need in signoff.missing for role in need["roles"]}
    users = [u for role in sorted(roles) for u in members_of(Role(role)) if u.pk != correction.requested_by_id]
    notify(
        incident=correction.incident,
        users=users,
        needs=Need.APPROVAL,
        subject=f"Approval needed: {correction.type} on {correction.target_name} ({correction.incident.ref})",
        body=f"{correction.requested_by.username} requests {correction.type} on {correction.target_name}.\n"
        f"Rationale: {correction.rationale}\nStill needed: {signoff.describe_missing()}\n\n"
        f"{incident_url(correction.incident.ref)}",
    )


def _may_break_glass(user: User, snapshot: dict, incident: Incident) -> bool:
    if user.roles & set(snapshot["break_glass_roles"]):
        return True
    return (
        snapshot["sev1_commander_may_break_glass"]
        and incident.severity == Severity.SEV1
        and incident.commander_id == user.pk
    )


def _break_glass_applies(ctype, tier: int) -> bool:
    return tier >= 3 and ctype.dispatchable


def break_glass_hours_for(*, user: User, ctype, incident: Incident) -> int | None:
    """Hours to ratify if this person may break glass on this type here, else None (for forms)."""
    if not _break_glass_applies(ctype, ctype.tier):
        return None
    snapshot = current_policy(ctype.tier).snapshot()
    return snapshot["ratification_hours"] if _may_break_glass(user, snapshot, incident) else None


# --- who may do what to a correction, and when: one answer for the services and the pages ---------

CANCELLABLE_STATES = (State.DRAFT, State.PENDING_APPROVAL, State.APPROVED)


def _may_cancel(user: User, correction: Correction) -> bool:
    return user.pk == correction.requested_by_id or user.has_role(*COMMANDER_ROLES)


def _may_operate(user: User, correction: Correction) -> bool:
    """Lift and retry are for the roles that may request this tier."""
    return bool(user.roles & set(correction.policy_snapshot["requester_roles"]))


def _liftable(correction: Correction) -> bool:
    failed_lift = correction.state == State.FAILED and correction.failed_action == OutboxEntry.Action.LIFT
    return correction.state == State.ACTIVE or failed_lift


def _awaits_manual_confirmation(correction: Correction) -> bool:
    return not get_type(correction.type).dispatchable and correction.state == State.APPROVED


def correction_actions_for(*, user: User, correction: Correction) -> frozenset[str]:
    """The actions this person could take on the correction now (the page offers only these)."""
    if not user.can_write:
        return frozenset()
    ctype = get_type(correction.type)
    actions = set()
    if can_decide(user, correction):
        actions.add("approve")
        if correction.state == State.PENDING_APPROVAL:
            actions.add("reject")
    if correction.state in CANCELLABLE_STATES and _may_cancel(user, correction):
        actions.add("cancel")
    if ctype.reversible and _may_operate(user, correction) and _liftable(correction):
        actions.add("lift")
    if correction.state == State.FAILED and _may_operate(user, correction):
        actions.add("retry")
    if _awaits_manual_confirmation(correction) and user.has_role(Role.LEADERSHIP):
        actions.add("confirm")
    return frozenset(actions)


# --- requesting --------------------------------------------------------------------------------


@transaction.atomic
def correction_request(
    *,
    actor: Actor,
    incident: Incident,
    type: str,
    params: Any,
    rationale: str,
    deployment: str | None = None,
    duration_minutes: int | None = None,
    break_glass: bool = False,
    justification: str = "",
) -> Correction:
    user = _user(actor)
    ctype = get_type(type)
    target = resolve_target(ctype, deployment=deployment, params=params if isinstance(params, dict) else {})
    params = validate_params(ctype, params, target)
    rationale = (rationale or "").strip()
    if not rationale:
        raise DomainError.invalid_field("rationale", "Say why this correction is needed.")
    duration = _duration(ctype, duration_minutes)
    tier = ctype.tier_of(params)
    rule = current_policy(tier)
    snapshot = rule.snapshot()
    if not user.roles & set(snapshot["requester_roles"]):
        raise DomainError(
            f"Your role may not request a tier {tier} correction ({ctype.label}).",
            code="forbidden",
        )
    incident = _lock_incident(actor, incident)
    if incident.status in CLOSED_INCIDENT:
        raise DomainError(f"{incident.ref} is {incident.status}; reopen it first.", code="conflict")
    if break_glass:
        justification = (justification or rationale).strip()
        if not _break_glass_applies(ctype, tier):
            raise DomainError.invalid_field(
                "break_glass", "Break glass is for tier 3–4 corrections that run automatically."
            )
        if not _may_break_glass(user, snapshot, incident):
            raise DomainError("Only leadership (or the commander of a SEV1) may break glass.", code="forbidden")
    now = timezone.now()
    correction = Correction.objects.create(
        incident=incident,
        type=ctype.key,
        deployment=target.deployment,
        model=target.model,
        params=params,
        rationale=rationale,
        duration_minutes=duration,
        state=State.PENDING_APPROVAL,
        tier=tier,
        policy=rule,
        policy_snapshot=snapshot,
        content_hash=content_hash(type=ctype.key, target=target.name, params=params, duration_minutes=duration),
        requested_by=user,
        pending_until=now + timedelta(minutes=snapshot["pending_ttl_minutes"]),
        break_glass=break_glass,
        break_glass_justification=justification if break_glass else "",
    )
    _record(
        actor, "correction.requested", correction,
        after={"type": ctype.key, "target": target.name, "params": params, "duration_minutes": duration,
               "tier": tier, "policy": f"tier {tier} v{rule.version}", "rationale": rationale,
               "break_glass": break_glass},
    )  # fmt: skip
    signoff = policy.evaluate(snapshot["requirements"], [])
    if break_glass:
        correction.ratification_due_at = now + timedelta(hours=snapshot["ratification_hours"])
        _approve(actor, correction, now)
        paged = notify(
            incident=incident,
            users=members_of(Role.LEADERSHIP),
            needs=Need.LEADERSHIP,
            subject=f"BREAK GLASS: {ctype.label} on {target.name} ({incident.ref})",
            body=f"{user.username} broke glass: {justification}\nRatification due by "
            f"{correction.ratification_due_at:%Y-%m-%d %H:%M} UTC.\n\n{incident_url(incident.ref)}",
        )
        _record(actor, "correction.break_glass", correction, after={"paged": paged}, reason=justification)
    elif signoff.satisfied:  # pre-authorised (tier 1): runs now, the commander is told
        _approve(actor, correction, now)
        notify(
            incident=incident,
            users=[incident.commander] if incident.commander_id else members_of(Role.INCIDENT_COMMANDER),
            needs=Need.INCIDENT_COMMANDER,
            subject=f"Pre-authorised correction: {ctype.label} on {target.name} ({incident.ref})",
            body=f"{user.username} applied {ctype.label}: {rationale}\n\n{incident_url(incident.ref)}",
        )
    else:
        _notify_approvers(correction, signoff)
    return correction


@transaction.atomic
def correction_edit(
    *,
    actor: Actor,
    correction: Correction,
    params: Any = None,
    duration_minutes: int | None = None,
    rationale: str | None = None,
) -> Correction:
    """Change a pending request. If what would run changes, every earlier approval is void."""
    user = _user(actor)
    _, correction = _lock(actor, correction)
    if correction.state != State.PENDING_APPROVAL:
        raise DomainError("Only a request still pending approval can be edited.", code="conflict")
    if user.pk != correction.requested_by_id and not user.has_role(*COMMANDER_ROLES):
        raise DomainError("Only the requester or a commander may edit this request.", code="forbidden")
    ctype = get_type(correction.type)
    target = resolve_target(
        ctype,
        deployment=correction.deployment.slug if correction.deployment_id else None,
        params=params if isinstance(params, dict) else correction.params,
    )
    new_params = validate_params(ctype, params, target) if params is not None else correction.params
    new_duration = _duration(ctype, duration_minutes) if duration_minutes is not None else correction.duration_minutes
    if ctype.tier_of(new_params) != correction.tier:
        raise DomainError.invalid_field("params", "This change would need a different tier; cancel and re-request.")
    before = {"params": correction.params, "duration_minutes": correction.duration_minutes,
              "rationale": correction.rationale}  # fmt: skip
    correction.params, correction.duration_minutes = new_params, new_duration
    if rationale is not None:
        if not rationale.strip():
            raise DomainError.invalid_field("rationale", "Say why this correction is needed.")
        correction.rationale = rationale.strip()
    new_hash = content_hash(type=ctype.key, target=target.name, params=new_params, duration_minutes=new_duration)
    voided = 0
    changed = new_hash != correction.content_hash
    if changed:
        correction.content_hash = new_hash
        voided = Approval.objects.filter(correction=correction, voided_at__isnull=True).update(voided_at=timezone.now())
        # Whoever shaped what will run counts as a requester of it (DESIGN §3): no sign-off from them.
        CorrectionEditor.objects.get_or_create(correction=correction, editor=user)
    correction.save()
    _record(
        actor, "correction.edited", correction, before=before,
        after={"params": new_params, "duration_minutes": new_duration, "rationale": correction.rationale,
               "approvals_voided": voided, "content_hash": correction.content_hash,
               "counts_as_requester": changed},
    )  # fmt: skip
    return correction


# --- deciding ----------------------------------------------------------------------------------


def lapse_if_due(actor: Actor, correction: Correction, now: datetime) -> bool:
    if correction.state == State.PENDING_APPROVAL and correction.pending_until and now >= correction.pending_until:
        deadline = "pending_until"
    elif correction.state == State.APPROVED and correction.execute_by and now >= correction.execute_by:
        deadline = "execute_by"
    else:
        return False
    before = _end(correction, State.LAPSED, now)
    _record(actor, "correction.lapsed", correction, before={"state": before},
            after={"state": State.LAPSED, "deadline": deadline})  # fmt: skip
    return True


def _require_typed_target(correction: Correction, confirm_target: str) -> None:
    if (confirm_target or "").strip() != correction.target_name:
        raise DomainError.invalid_field(
            "confirm_target", f"Type the target's name, {correction.target_name}, to confirm."
        )


def _verify_second_factor(actor: Actor, user: User, otp: str) -> None:
    devices = list(TOTPDevice.objects.filter(user=user, confirmed=True))
    if not devices:
        raise DomainError.invalid_field(
            "otp", "This approval needs a second factor: enrol an authenticator app on your account page first."
        )
    # Refused while the sign-in is locked out; a wrong code counts towards that lockout.
    if second_factor_verify(actor=actor, devices=devices, code=otp, field="otp") is None:
        raise DomainError.invalid_field("otp", "Enter the current 6-digit code from your authenticator app.")


STALE_CONTENT = "The request changed since you opened it — review it again."


def _require_reviewed(correction: Correction, reviewed_hash: str) -> None:
    """An approval counts only for the content its approver saw (DESIGN §3)."""
    if reviewed_hash != correction.content_hash:
        raise DomainError(STALE_CONTENT, code="conflict", fields={"content_hash": [STALE_CONTENT]})


def _refuse(refusal: policy.Refusal | None) -> None:
    if refusal is not None:
        raise DomainError(refusal.message, code=refusal.code)


def correction_approve(
    *,
    actor: Actor,
    correction: Correction,
    content_hash: str,
    comment: str = "",
    otp: str = "",
    confirm_target: str = "",
) -> Correction:
    """Approve (or ratify a break-glass correction) exactly the content hashed as `content_hash`.

    Refusals a person can act on are 409; a stale hash records nothing and spends no code.
    """
    # The second factor is checked before the transaction: a wrong code must count against the
    # device's throttle, which a rolled-back transaction would forget.
    user = _user(actor)
    unlocked = _correction_for_decision(correction.pk)
    if unlocked is None or not can_view_incident(user, unlocked.incident):
        raise DomainError("No such correction.", code="not_found")
    _require_reviewed(unlocked, content_hash)
    refusal = policy.approval_refusal(decision_facts(unlocked), user.pk, user.roles)
    snapshot = unlocked.policy_snapshot
    second_factor_checked = False
    if refusal is None:  # otherwise the locked check below says why, without spending a code
        if snapshot.get("requires_typed_confirmation"):
            _require_typed_target(unlocked, confirm_target)
        if snapshot.get("requires_second_factor"):
            _verify_second_factor(actor, user, otp)
            second_factor_checked = True
    with transaction.atomic():
        incident, correction = _lock(actor, correction)
        if lapse_if_due(actor, correction, timezone.now()):
            lapsed = True
        else:
            lapsed = False
            _decide_approve(
                actor, correction, content_hash=content_hash, comment=comment,
                second_factor_checked=second_factor_checked,
            )  # fmt: skip
    if lapsed:  # the lapse is committed; the refusal follows
        raise DomainError("This request has lapsed: its time to live passed before it was approved.", code="conflict")
    return correction


def _correction_for_decision(pk: int) -> Correction | None:
    return (
        Correction.objects.select_related("incident", "deployment", "model")
        .prefetch_related("editors", "approvals__approver__groups")
        .filter(pk=pk)
        .first()
    )


def _decide_approve(
    actor: Actor, correction: Correction, *, content_hash: str, comment: str, second_factor_checked: bool
) -> None:
    user = _user(actor)
    snapshot = correction.policy_snapshot
    ratifying = needs_ratification(correction)
    # Again under the lock: an edit may have committed since the check outside it.
    _require_reviewed(correction, content_hash)
    approvals = _live_approvals(correction)
    editors = set(CorrectionEditor.objects.filter(correction=correction).values_list("editor_id", flat=True))
    _refuse(policy.approval_refusal(decision_facts(correction, approvals=approvals, editor_ids=editors),
                                    user.pk, user.roles))  # fmt: skip
    if snapshot["requires_second_factor"] and not second_factor_checked:
        raise DomainError.invalid_field("otp", "Enter the current 6-digit code from your authenticator app.")
    requirements = snapshot["requirements"]
    candidate = (user.pk, user.roles)
    signoff = policy.evaluate(requirements, [*[(a.approver_id, a.approver.roles) for a in approvals], candidate])
    approval = Approval.objects.create(
        correction=correction,
        approver=user,
        requester=correction.requested_by,
        decision=Approval.Decision.APPROVE,
        counted_as=signoff.filled.get(user.pk, ""),
        comment=comment,
        content_hash=correction.content_hash,
        second_factor_verified=snapshot["requires_second_factor"],
        ratifies_break_glass=ratifying,
    )
    _record(
        actor, "correction.ratification_given" if ratifying else "correction.approval_given", correction,
        after={"approval": approval.pk, "counted_as": approval.counted_as, "content_hash": correction.content_hash,
               "still_needed": signoff.missing, "second_factor": approval.second_factor_verified},
        reason=comment,
    )  # fmt: skip
    if not signoff.satisfied:
        return
    now = timezone.now()
    if ratifying:
        correction.ratified_at = now
        correction.save(update_fields=["ratified_at", "updated_at"])
        _record(actor, "correction.ratified", correction, after={"ratified_at": now})
    else:
        _approve(actor, correction, now)


@transaction.atomic
def correction_reject(*, actor: Actor, correction: Correction, comment: str) -> Correction:
    """One rejection ends the request."""
    user = _user(actor)
    comment = _required_text(comment, "comment", "Say why you reject it.")
    _, correction = _lock(actor, correction)
    if lapse_if_due(actor, correction, timezone.now()):
        return correction
    editors = set(CorrectionEditor.objects.filter(correction=correction).values_list("editor_id", flat=True))
    facts = decision_facts(correction, approvals=[], editor_ids=editors)  # approvals play no part in rejecting
    _refuse(policy.rejection_refusal(facts, user.pk, user.roles))
    Approval.objects.create(
        correction=correction,
        approver=user,
        requester=correction.requested_by,
        decision=Approval.Decision.REJECT,
        comment=comment,
        content_hash=correction.content_hash,
    )
    before = _end(correction, State.REJECTED, timezone.now())
    _record(actor, "correction.rejected", correction, before={"state": before}, after={"state": State.REJECTED},
            reason=comment)  # fmt: skip
    return correction


@transaction.atomic
def correction_cancel(*, actor: Actor, correction: Correction, reason: str) -> Correction:
    user = _user(actor)
    reason = _required_text(reason, "reason", "Say why you cancel it.")
    _, correction = _lock(actor, correction)
    if not _may_cancel(user, correction):
        raise DomainError("Only the requester or a commander may cancel this correction.", code="forbidden")
    if correction.state not in CANCELLABLE_STATES:
        raise DomainError(
            f"This correction is {correction.get_state_display().lower()}; lift it instead of cancelling.",
            code="conflict",
        )
    before = _end(correction, State.CANCELLED, timezone.now())
    _record(actor, "correction.cancelled", correction, before={"state": before}, after={"state": State.CANCELLED},
            reason=reason)  # fmt: skip
    return correction


@transaction.atomic
def correction_lift(*, actor: Actor, correction: Correction, reason: str) -> Correction:
    """Start lifting an active correction; the worker removes it at the edge."""
    user = _user(actor)
    reason = _required_text(reason, "reason", "Say why it can be lifted.")
    _, correction = _lock(actor, correction)
    if not get_type(correction.type).reversible:
        raise DomainError(f"{correction.type} is irreversible and cannot be lifted.", code="conflict")
    if not _may_operate(user, correction):
        raise DomainError(f"Your role may not lift a tier {correction.tier} correction.", code="forbidden")
    if not _liftable(correction):
        raise DomainError(
            f"Only an active correction can be lifted; this one is {correction.get_state_display().lower()}.",
            code="conflict",
        )
    before = _transition(correction, State.LIFTING)
    entry = _write_outbox(correction, OutboxEntry.Action.LIFT)
    correction.save()
    _record(actor, "correction.lift_requested", correction, before={"state": before},
            after={"state": State.LIFTING, "outbox": entry.idempotency_key if entry else None},
            reason=reason)  # fmt: skip
    return correction


@transaction.atomic
def correction_retry(*, actor: Actor, correction: Correction, reason: str) -> Correction:
    """A person sends a failed correction back to the worker (an audited action)."""
    user = _user(actor)
    reason = _required_text(reason, "reason", "Say what was fixed before retrying.")
    _, correction = _lock(actor, correction)
    if not _may_operate(user, correction):
        raise DomainError(f"Your role may not retry a tier {correction.tier} correction.", code="forbidden")
    if correction.state != State.FAILED:
        raise DomainError("Only a failed correction can be retried.", code="conflict")
    lifting = correction.failed_action == OutboxEntry.Action.LIFT
    before = _transition(correction, State.LIFTING if lifting else State.QUEUED)
    correction.failure = ""
    if not lifting:  # its duration runs from when it takes effect, not from the attempt that failed
        correction.expires_at = None
    entry = _write_outbox(correction, OutboxEntry.Action.LIFT if lifting else OutboxEntry.Action.APPLY)
    correction.save()
    _record(actor, "correction.retried", correction, before={"state": before},
            after={"state": correction.state, "outbox": entry.idempotency_key if entry else None},
            reason=reason)  # fmt: skip
    return correction


@transaction.atomic
def correction_confirm_manual(*, actor: Actor, correction: Correction, confirm_target: str, note: str) -> Correction:
    """For corrections never dispatched (destroy_weights): record that it was carried out by hand."""
    user = _user(actor)
    _, correction = _lock(actor, correction)
    if get_type(correction.type).dispatchable:
        raise DomainError("This correction is applied by the worker, not confirmed by hand.", code="conflict")
    if not user.has_role(Role.LEADERSHIP):
        raise DomainError("Only leadership may confirm this was carried out.", code="forbidden")
    if not _awaits_manual_confirmation(correction):
        raise DomainError("Only an approved correction can be confirmed as carried out.", code="conflict")
    if (confirm_target or "").strip() != correction.target_name:
        raise DomainError.invalid_field("confirm_target", f"Type {correction.target_name} to confirm.")
    if not (note or "").strip():
        raise DomainError.invalid_field("note", "Say who carried it out and how it was verified.")
    before = _transition(correction, State.ACTIVE)
    now = timezone.now()
    correction.activated_at = correction.manual_confirmed_at = now
    correction.manual_confirmed_by = user
    correction.save()
    _record(actor, "correction.confirmed_manually", correction, before={"state": before},
            after={"state": State.ACTIVE}, reason=note.strip())  # fmt: skip
    return correction


# --- sweeps (beat) -----------------------------------------------------------------------------


def corrections_sweep_deadlines(*, actor: Actor, now: datetime | None = None) -> int:
    """Lapse requests past their time to live and approvals past their execution window."""
    now = now or timezone.now()
    due = Correction.objects.filter(
        Q(state=State.PENDING_APPROVAL, pending_until__lte=now) | Q(state=State.APPROVED, execute_by__lte=now)
    ).values_list("pk", flat=True)
    lapsed = 0
    for pk in list(due):
        with transaction.atomic():
            correction = Correction.objects.select_related("incident").get(pk=pk)
            _, correction = _lock(actor, correction)
            lapsed += lapse_if_due(actor, correction, now)
    return lapsed


# --- dispatch: transitions the worker makes (corrections.dispatch calls these under its locks) ---


def dispatch_transition(actor: Actor, correction: Correction, to: str, *, via: str | None = None) -> None:
    """approved → queued → applying, as the worker claims an apply; stamps the expiry it will carry."""
    before = correction.state
    if via and correction.state != via and via in TRANSITIONS[correction.state]:
        _transition(correction, via)
    _transition(correction, to)
    if to == State.APPLYING and correction.duration_minutes and correction.expires_at is None:
        correction.expires_at = timezone.now() + timedelta(minutes=correction.duration_minutes)
    correction.save()
    _record(actor, "correction.dispatching", correction, before={"state": before},
            after={"state": to, "generation": correction.generation, "expires_at": correction.expires_at})  # fmt: skip


def dispatch_succeeded(actor: Actor, correction: Correction, action: str, *, results, now: datetime) -> None:
    latency = max((r.latency_ms for r in results), default=0)
    if action == OutboxEntry.Action.APPLY:
        before = _transition(correction, State.ACTIVE)
        correction.activated_at = now
        correction.failure = correction.failed_action = ""
        correction.save()
        # The incident's "contained" milestone is its first correction in force.
        Incident.objects.filter(pk=correction.incident_id, contained_at__isnull=True).update(contained_at=now)
        verb = "correction.applied"
    else:
        before = _transition(correction, State.LIFTED)
        correction.lifted_at = correction.ended_at = now
        correction.failure = correction.failed_action = ""
        correction.save()
        verb = "correction.lifted"
    _record(actor, verb, correction, before={"state": before},
            after={"state": correction.state, "latency_ms": latency, "expires_at": correction.expires_at})  # fmt: skip


def dispatch_failed(actor: Actor, correction: Correction, action: str, *, error: str, attempts: int) -> None:
    before = _transition(correction, State.FAILED)
    correction.failure = error[:2000]
    correction.failed_action = action
    correction.save()
    _record(actor, "correction.failed", correction, before={"state": before},
            after={"state": State.FAILED, "action": action, "attempts": attempts, "error": error[:500]})  # fmt: skip


def dispatch_verified(actor: Actor, correction: Correction, *, now: datetime) -> None:
    if correction.state != State.ACTIVE or correction.verified_at:
        return
    correction.verified_at = now
    correction.save(update_fields=["verified_at", "updated_at"])
    _record(actor, "correction.verified", correction, after={"verified_at": now})


@transaction.atomic
def correction_expire(*, actor: Actor, correction_id: int, now: datetime) -> bool:
    """An active correction past its expiry becomes expired and is lifted at the edge."""
    correction = (
        Correction.objects.select_for_update(of=("self",)).select_related("incident", "model").get(pk=correction_id)
    )
    if correction.state != State.ACTIVE or not correction.expires_at or correction.expires_at > now:
        return False
    before = _transition(correction, State.EXPIRED)
    entry = _write_outbox(correction, OutboxEntry.Action.LIFT)
    correction.save()
    _record(actor, "correction.expired", correction, before={"state": before},
            after={"state": State.EXPIRED, "expires_at": correction.expires_at,
                   "outbox": entry.idempotency_key if entry else None})  # fmt: skip
    return True


# --- actuators (configuration is audited; the secret never enters the ledger) --------------------


def _require_admin(actor: Actor) -> None:
    if actor.user is not None and not actor.user.has_role(Role.ADMIN):
        raise DomainError("Only an admin may configure actuators.", code="forbidden")


@transaction.atomic
def actuator_configure(
    *,
    actor: Actor,
    deployment,
    base_url: str,
    secret: str | None = None,
    connect_timeout_seconds: float = 2.0,
    read_timeout_seconds: float = 10.0,
) -> Actuator:
    _require_admin(actor)
    actuator = Actuator.objects.select_for_update().filter(deployment=deployment).first()
    before = None
    if actuator is None:
        if not secret:
            raise DomainError.invalid_field("secret", "A new actuator needs its shared secret.")
        actuator = Actuator(deployment=deployment)
    else:
        before = {"base_url": actuator.base_url, "connect_timeout_seconds": actuator.connect_timeout_seconds,
                  "read_timeout_seconds": actuator.read_timeout_seconds}  # fmt: skip
    actuator.base_url = base_url
    actuator.connect_timeout_seconds = connect_timeout_seconds
    actuator.read_timeout_seconds = read_timeout_seconds
    if secret:
        actuator.secret = secret
    actuator.ready = False
    actuator.save()
    ledger.record(
        actor=actor, verb="actuator.configured", obj=actuator, before=before,
        after={"deployment": deployment.slug, "base_url": base_url, "secret_changed": bool(secret),
               "connect_timeout_seconds": connect_timeout_seconds, "read_timeout_seconds": read_timeout_seconds},
    )  # fmt: skip
    return actuator


@transaction.atomic
def actuator_record_readiness(*, actor: Actor, actuator: Actuator, result) -> Actuator:
    actuator = Actuator.objects.select_for_update().select_related("deployment").get(pk=actuator.pk)
    actuator.checked_at = timezone.now()
    actuator.ready = bool(result.ok)
    actuator.check_detail = ("ready" if result.ok else result.error or f"HTTP {result.status}")[:500]
    actuator.save(update_fields=["checked_at", "ready", "check_detail"])
    ledger.record(
        actor=actor, verb="actuator.readiness_checked", obj=actuator,
        after={"deployment": actuator.deployment.slug, "ready": actuator.ready, "detail": actuator.check_detail,
               "latency_ms": result.latency_ms},
    )  # fmt: skip
    return actuator


# --- approval policies (admin-editable, versioned, audited) --------------------------------------

POLICY_FIELDS = (
    "requester_roles", "requirements", "pending_ttl_minutes", "execution_window_minutes",
    "requires_second_factor", "requires_typed_confirmation", "break_glass_roles",
    "sev1_commander_may_break_glass", "ratification_hours",
)  # fmt: skip


def validate_policy(tier: int, values: dict[str, Any]) -> None:
    known = {r.value for r in Role}

    def roles_ok(field: str, roles: Any) -> None:
        if not isinstance(roles, list) or not all(isinstance(r, str) and r in known for r in roles):
            raise DomainError.invalid_field(field, f"Give a list of roles from: {', '.join(sorted(known))}.")

    roles_ok("requester_roles", values["requester_roles"])
    if not values["requester_roles"]:
        raise DomainError.invalid_field("requester_roles", "At least one role must be able to request.")
    roles_ok("break_glass_roles", values["break_glass_roles"])
    requirements = values["requirements"]
    if not isinstance(requirements, list):
        raise DomainError.invalid_field("requirements", "Give a list of {roles, count} requirements.")
    for req in requirements:
        if not isinstance(req, dict) or set(req) != {"roles", "count"}:
            raise DomainError.invalid_field("requirements", 'Each requirement is {"roles": [...], "count": n}.')
        roles_ok("requirements", req["roles"])
        if not req["roles"] or not isinstance(req["count"], int) or not 1 <= req["count"] <= 10:
            raise DomainError.invalid_field("requirements", "Each requirement needs roles and a count from 1 to 10.")
    for field in ("pending_ttl_minutes", "execution_window_minutes", "ratification_hours"):
        value = values[field]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 60 * 24 * 30:
            raise DomainError.invalid_field(field, "Give a whole number from 1 to 43200.")
    if tier == 4 and (sum(r["count"] for r in requirements) < 2 or not values["requires_second_factor"]):
        raise DomainError.invalid_field(
            "requirements", "Tier 4 always needs at least two approvals and a second factor (DESIGN §3)."
        )


@transaction.atomic
def policy_update(*, actor: Actor, tier: int, changes: dict[str, Any], reason: str) -> ApprovalPolicy:
    """Write a new version of a tier's policy. Pending requests keep the snapshot they were given."""
    _require_admin(actor)
    reason = _required_text(reason, "reason", "Say why the policy changes.")
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise DomainError.invalid_field(sorted(unknown)[0], "Not a policy field.")
    current = ApprovalPolicy.objects.select_for_update().get(tier=tier, is_current=True)
    before = {f: getattr(current, f) for f in POLICY_FIELDS}
    after = before | changes
    validate_policy(tier, after)
    if after == before:
        return current
    current.is_current = False
    current.save(update_fields=["is_current"])
    new = ApprovalPolicy.objects.create(
        tier=tier, version=current.version + 1, is_current=True, created_by=actor.user, **after
    )
    ledger.record(
        actor=actor, verb="policy.updated", obj=new,
        before={k: v for k, v in before.items() if after[k] != v} | {"version": current.version},
        after={k: v for k, v in after.items() if before[k] != v} | {"version": new.version},
        reason=reason,
    )  # fmt: skip
    return new
