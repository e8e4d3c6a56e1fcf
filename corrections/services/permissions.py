"""Who may do what to a correction, and when: one answer for the services and the pages."""

from __future__ import annotations

from accounts.models import User
from accounts.roles import Role
from corrections.catalogue import get_type
from corrections.models import IN_FORCE_STATES, Correction, CorrectionTarget, OutboxEntry, State, TargetState
from corrections.selectors import can_decide, can_decide_lift, pending_lift_of
from corrections.services.common import COMMANDER_ROLES
from corrections.targets import IN_FORCE
from incidents.models import Incident

CANCELLABLE_STATES = (State.DRAFT, State.PENDING_APPROVAL, State.APPROVED)
MANUAL_STEP_STATES = (TargetState.MANUAL_PENDING, TargetState.LIFTING)


def may_cancel(user: User, correction: Correction) -> bool:
    return user.pk == correction.requested_by_id or user.has_role(*COMMANDER_ROLES)


def may_operate(user: User, correction: Correction) -> bool:
    """Lift and retry are for the roles that may request this tier."""
    return bool(user.roles & set(correction.policy_at_request.requester_roles))


def liftable(correction: Correction) -> bool:
    """In force (even partly), or failed with something at the edge to undo."""
    failed_lift = correction.state == State.FAILED and correction.failed_action == OutboxEntry.Action.LIFT
    partly_applied = correction.state == State.FAILED and any(t.state in IN_FORCE for t in correction.targets.all())
    return correction.state in IN_FORCE_STATES or failed_lift or partly_applied


def may_confirm_target(user: User, incident: Incident) -> bool:
    """Manual steps are the incident commander's; with no commander named, any commander role."""
    if incident.commander_id:
        return user.pk == incident.commander_id
    return user.has_role(*COMMANDER_ROLES)


def manual_steps_waiting(correction: Correction) -> list[CorrectionTarget]:
    """Targets waiting for a person to confirm a manual step (targets prefetched)."""
    return [t for t in correction.targets.all() if t.manual and t.state in MANUAL_STEP_STATES]


def awaits_manual_confirmation(correction: Correction) -> bool:
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
    if correction.state in CANCELLABLE_STATES and may_cancel(user, correction):
        actions.add("cancel")
    lift_waiting = pending_lift_of(correction) is not None
    if ctype.reversible and may_operate(user, correction) and liftable(correction) and not lift_waiting:
        actions.add("lift")
    if lift_waiting and can_decide_lift(user, correction):
        actions.update({"approve_lift", "reject_lift"})
    if correction.state == State.FAILED and may_operate(user, correction):
        actions.add("retry")
    if awaits_manual_confirmation(correction) and user.has_role(Role.LEADERSHIP):
        actions.add("confirm")
    if manual_steps_waiting(correction) and may_confirm_target(user, correction.incident):
        actions.add("confirm_target")
    return frozenset(actions)
