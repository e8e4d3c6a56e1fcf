"""The corrections app's ledger vocabulary: every verb it records, with how an incident's history
tells it. Services record `CorrectionEvent.X`, never a string; corrections.audit registers the
phrases from here, so a verb and its phrase cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from accounts.events import register_verbs
from accounts.models import LedgerEvent

Phrase = Callable[[LedgerEvent], str]


def _a(event: LedgerEvent, key: str) -> Any:
    return (event.after or {}).get(key, "") if isinstance(event.after, dict) else ""


@register_verbs
class CorrectionEvent(StrEnum):
    """A ledger verb and its phrase (None: told generically, e.g. configuration outside incidents)."""

    phrase: Phrase | None

    def __new__(cls, verb: str, phrase: Phrase | None = None) -> CorrectionEvent:
        member = str.__new__(cls, verb)
        member._value_ = verb
        member.phrase = phrase
        return member

    REQUESTED = (
        "correction.requested",
        lambda e: (
            f"requested {_a(e, 'type')} on {_a(e, 'target')} (tier {_a(e, 'tier')}, {_a(e, 'policy')})"
            + (" — BREAK GLASS" if _a(e, "break_glass") else "")
            + (
                f" — pre-authorised by playbook {_a(e, 'preauthorised_by')} (normally tier {_a(e, 'normal_tier')})"
                if _a(e, "preauthorised_by")
                else ""
            )
        ),
    )
    EDITED = (
        "correction.edited",
        lambda e: (f"edited correction {e.object_id}; {_a(e, 'approvals_voided')} approvals voided"),
    )
    APPROVAL_GIVEN = (
        "correction.approval_given",
        lambda e: (f"approved correction {e.object_id} as {_a(e, 'counted_as')}"),
    )
    RATIFICATION_GIVEN = "correction.ratification_given", lambda e: f"ratified break-glass correction {e.object_id}"
    APPROVED = "correction.approved", lambda e: f"— correction {e.object_id} is approved"
    RATIFIED = "correction.ratified", lambda e: f"— break-glass correction {e.object_id} is ratified"
    BREAK_GLASS = (
        "correction.break_glass",
        lambda e: (f"broke glass on correction {e.object_id}; paged {', '.join(_a(e, 'paged'))}"),
    )
    REJECTED = "correction.rejected", lambda e: f"rejected correction {e.object_id}"
    CANCELLED = "correction.cancelled", lambda e: f"cancelled correction {e.object_id}"
    LAPSED = "correction.lapsed", lambda e: f"— correction {e.object_id} lapsed ({_a(e, 'deadline')} passed)"
    DISPATCHING = "correction.dispatching", lambda e: f"began applying correction {e.object_id}"
    APPLIED = (
        "correction.applied",
        lambda e: (f"applied correction {e.object_id} at the edge ({_a(e, 'latency_ms')} ms)"),
    )
    PARTLY_APPLIED = (
        "correction.partly_applied",
        lambda e: (
            f"— correction {e.object_id} is partly in force; manual steps for {', '.join(_a(e, 'manual_steps'))}"
        ),
    )
    PARTLY_LIFTED = (
        "correction.partly_lifted",
        lambda e: (
            f"— correction {e.object_id} is lifted at the edge; manual steps for {', '.join(_a(e, 'manual_steps'))}"
        ),
    )
    TARGET_CONFIRMED = (
        "correction.target_confirmed",
        lambda e: (f"confirmed by hand that {_a(e, 'deployment')} was {_a(e, 'done')} for correction {e.object_id}"),
    )
    VERIFIED = (
        "correction.verified",
        lambda e: (
            f"verified correction {e.object_id} is recorded as a DRY RUN (not enforced)"
            if _a(e, "dry_run")
            else f"verified correction {e.object_id} is in force"
        ),
    )
    FAILED = "correction.failed", lambda e: f"— correction {e.object_id} FAILED: {_a(e, 'error')}"
    RETRIED = "correction.retried", lambda e: f"retried correction {e.object_id}"
    LIFT_REQUESTED = "correction.lift_requested", lambda e: f"asked to lift correction {e.object_id}"
    LIFT_SIGNOFF_REQUESTED = (
        "correction.lift_signoff_requested",
        lambda e: f"asked to lift correction {e.object_id} early; one leadership approval is needed",
    )
    LIFT_APPROVED = (
        "correction.lift_approved",
        lambda e: f"approved lifting correction {e.object_id}; it is being lifted",
    )
    LIFT_REJECTED = "correction.lift_rejected", lambda e: f"refused to lift correction {e.object_id}"
    LIFT_LAPSED = (
        "correction.lift_lapsed",
        lambda e: f"— the request to lift correction {e.object_id} lapsed ({_a(e, 'why')})",
    )
    APPLY_REFUSED = (
        "correction.apply_refused",
        lambda e: f"— correction {e.object_id} was not applied: the incident is {_a(e, 'incident_status')}; it lapsed",
    )
    EXPIRED = "correction.expired", lambda e: f"— correction {e.object_id} expired and is being lifted"
    LIFTED = "correction.lifted", lambda e: f"lifted correction {e.object_id} at the edge"
    CONFIRMED_MANUALLY = (
        "correction.confirmed_manually",
        lambda e: (f"confirmed correction {e.object_id} was carried out by hand"),
    )
    PLAYBOOK_ATTACHED = (
        "playbook.attached",
        lambda e: f"— playbook {_a(e, 'playbook')} v{_a(e, 'version')} ({_a(e, 'title')}) matches this incident",
    )
    DRILL_STARTED = (
        "drill.started",
        lambda e: f"started a DRILL ({_a(e, 'team') or 'unscheduled'}): nothing will be enforced",
    )
    DRILL_REPORTED = (
        "drill.reported",
        lambda e: f"— drill report {e.object_id} kept ({_a(e, 'trigger')})",
    )
    DRILL_REMINDED = "drill.reminded"  # about no incident: a schedule's next drill is due
    DRILL_SCHEDULE_SET = "drill.schedule_set"
    NOTICES_DRAFTED = (
        "correction.notices_drafted",
        lambda e: f"drafted customer notices for correction {e.object_id}: {', '.join(_a(e, 'customers') or [])}",
    )
    NOTICE_EDITED = (
        "correction.notice_edited",
        lambda e: f"edited the notice to {_a(e, 'customer')} about correction {e.object_id}",
    )
    NOTICE_SENT = (
        "correction.notice_sent",
        lambda e: f"sent the notice to {_a(e, 'customer')} about correction {e.object_id}",
    )
    NOTICE_BREACH_EXPLAINED = (
        "correction.notice_breach_explained",
        lambda e: f"explained why customers' notice could not be given for correction {e.object_id}",
    )
    # Configuration: no incident, so never in an incident's history.
    PLAYBOOK_CREATED = "playbook.created"
    PLAYBOOK_VERSIONED = "playbook.version_created"
    PLAYBOOK_PREAUTH_APPROVED = "playbook.preauthorisation_approved"
    ACTUATOR_CONFIGURED = "actuator.configured"
    ACTUATOR_READINESS_CHECKED = "actuator.readiness_checked"
    # Readiness changes, not every check (the checks themselves are kept as ActuatorCheck rows).
    ACTUATOR_READY = "actuator.ready"
    ACTUATOR_FAILING = "actuator.failing"
    POLICY_UPDATED = "policy.updated"
