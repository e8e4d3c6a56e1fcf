"""Everything that writes corrections, approvals and outbox entries, one module per sub-domain:

- requests: asking for a correction, editing the request
- decisions: approve (and ratify break glass), reject, cancel, lapse
- execution: lift, retry, confirm by hand (a whole correction, or one target's manual step)
- lifts: the sign-off of an early lift of a tier 3–4 correction (approve, reject, lapse)
- worker: the dispatch worker's transitions, expiry
- configuration: actuators, approval policies
- permissions: who may do what to a correction, and when (services and pages ask the same)
- common: what they share (locks, the state machine, the ledger entry, the outbox row)

Each function is one transaction. Locks are taken through corrections.locks in a fixed order —
incident, then correction, then its targets, then approvals — and the ledger head last (inside
ledger.record). Illegal transitions are refused here and only here. Callers use
`from corrections import services; services.<name>(...)`.
"""

from corrections.catalogue import MAX_DURATION_MINUTES
from corrections.models import CLOSED_INCIDENT
from corrections.services.common import COMMANDER_ROLES, content_hash, current_policy, deployments_reached
from corrections.services.configuration import (
    POLICY_FIELDS,
    actuator_configure,
    actuator_record_readiness,
    policy_update,
    validate_policy,
)
from corrections.services.decisions import (
    STALE_CONTENT,
    correction_approve,
    correction_cancel,
    correction_passkey_challenge,
    correction_reject,
    corrections_sweep_deadlines,
    lapse_if_due,
)
from corrections.services.execution import (
    correction_confirm_manual,
    correction_lift,
    correction_retry,
    correction_target_confirm,
)
from corrections.services.lifts import STALE_LIFT, correction_lift_approve, correction_lift_reject
from corrections.services.permissions import CANCELLABLE_STATES, correction_actions_for
from corrections.services.requests import (
    break_glass_hours_for,
    correction_edit,
    correction_request,
)
from corrections.services.worker import (
    correction_expire,
    dispatch_failed,
    dispatch_succeeded,
    dispatch_transition,
    dispatch_verified,
)

__all__ = [
    "CANCELLABLE_STATES",
    "CLOSED_INCIDENT",
    "COMMANDER_ROLES",
    "MAX_DURATION_MINUTES",
    "POLICY_FIELDS",
    "STALE_CONTENT",
    "STALE_LIFT",
    "actuator_configure",
    "actuator_record_readiness",
    "break_glass_hours_for",
    "content_hash",
    "correction_actions_for",
    "correction_passkey_challenge",
    "correction_approve",
    "correction_cancel",
    "correction_confirm_manual",
    "correction_edit",
    "correction_expire",
    "correction_lift",
    "correction_lift_approve",
    "correction_lift_reject",
    "correction_reject",
    "correction_request",
    "correction_retry",
    "correction_target_confirm",
    "corrections_sweep_deadlines",
    "current_policy",
    "deployments_reached",
    "dispatch_failed",
    "dispatch_succeeded",
    "dispatch_transition",
    "dispatch_verified",
    "lapse_if_due",
    "policy_update",
    "validate_policy",
]
