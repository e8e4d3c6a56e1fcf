"""How corrections appear in an incident's audit history and regulator bundle (incidents.audit)."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch

from corrections.models import Approval, Correction, DispatchAttempt
from incidents import audit
from incidents.models import Incident, LedgerEvent


def _time(value) -> str | None:
    return value.isoformat() if value else None


def corrections_for_bundle(incident: Incident) -> list[dict[str, Any]]:
    """Every correction on the incident with its approvals and dispatch attempts (3 queries)."""
    corrections = (
        Correction.objects.filter(incident=incident)
        .select_related("deployment", "model", "requested_by", "manual_confirmed_by")
        .prefetch_related(
            Prefetch("approvals", queryset=Approval.objects.select_related("approver").order_by("id")),
            Prefetch("attempts", queryset=DispatchAttempt.objects.select_related("deployment").order_by("id")),
        )
        .order_by("requested_at", "id")
    )
    return [
        {
            "id": c.pk,
            "type": c.type,
            "target": c.target_name,
            "params": c.params,
            "tier": c.tier,
            "state": c.state,
            "rationale": c.rationale,
            "duration_minutes": c.duration_minutes,
            "content_hash": c.content_hash,
            "policy": c.policy_snapshot,
            "requested_by": c.requested_by.username,
            "requested_at": _time(c.requested_at),
            "approved_at": _time(c.approved_at),
            "activated_at": _time(c.activated_at),
            "verified_at": _time(c.verified_at),
            "expires_at": _time(c.expires_at),
            "lifted_at": _time(c.lifted_at),
            "failure": c.failure,
            "break_glass": c.break_glass,
            "break_glass_justification": c.break_glass_justification,
            "ratified_at": _time(c.ratified_at),
            "manually_confirmed_by": c.manual_confirmed_by.username if c.manual_confirmed_by else None,
            "approvals": [
                {
                    "approver": a.approver.username,
                    "decision": a.decision,
                    "counted_as": a.counted_as,
                    "comment": a.comment,
                    "content_hash": a.content_hash,
                    "second_factor_verified": a.second_factor_verified,
                    "ratifies_break_glass": a.ratifies_break_glass,
                    "voided_at": _time(a.voided_at),
                    "at": _time(a.created_at),
                }
                for a in c.approvals.all()
            ],
            "attempts": [
                {
                    "action": t.action,
                    "number": t.number,
                    "deployment": t.deployment.slug,
                    "method": t.method,
                    "url": t.url,
                    "response_status": t.response_status,
                    "outcome": t.outcome,
                    "latency_ms": t.latency_ms,
                    "error": t.error,
                    "at": _time(t.started_at),
                }
                for t in c.attempts.all()
            ],
        }
        for c in corrections
    ]


def _a(event: LedgerEvent, key: str) -> Any:
    return (event.after or {}).get(key, "") if isinstance(event.after, dict) else ""


PHRASES = {
    "correction.requested": lambda e: (
        f"requested {_a(e, 'type')} on {_a(e, 'target')} (tier {_a(e, 'tier')}, {_a(e, 'policy')})"
        + (" — BREAK GLASS" if _a(e, "break_glass") else "")
    ),
    "correction.edited": lambda e: f"edited correction {e.object_id}; {_a(e, 'approvals_voided')} approvals voided",
    "correction.approval_given": lambda e: f"approved correction {e.object_id} as {_a(e, 'counted_as')}",
    "correction.ratification_given": lambda e: f"ratified break-glass correction {e.object_id}",
    "correction.approved": lambda e: f"— correction {e.object_id} is approved",
    "correction.ratified": lambda e: f"— break-glass correction {e.object_id} is ratified",
    "correction.break_glass": lambda e: f"broke glass on correction {e.object_id}; paged {', '.join(_a(e, 'paged'))}",
    "correction.rejected": lambda e: f"rejected correction {e.object_id}",
    "correction.cancelled": lambda e: f"cancelled correction {e.object_id}",
    "correction.lapsed": lambda e: f"— correction {e.object_id} lapsed ({_a(e, 'deadline')} passed)",
    "correction.dispatching": lambda e: f"began applying correction {e.object_id}",
    "correction.applied": lambda e: f"applied correction {e.object_id} at the edge ({_a(e, 'latency_ms')} ms)",
    "correction.verified": lambda e: f"verified correction {e.object_id} is in force",
    "correction.failed": lambda e: f"— correction {e.object_id} FAILED: {_a(e, 'error')}",
    "correction.retried": lambda e: f"retried correction {e.object_id}",
    "correction.lift_requested": lambda e: f"asked to lift correction {e.object_id}",
    "correction.expired": lambda e: f"— correction {e.object_id} expired and is being lifted",
    "correction.lifted": lambda e: f"lifted correction {e.object_id} at the edge",
    "correction.confirmed_manually": lambda e: f"confirmed correction {e.object_id} was carried out by hand",
}


def register() -> None:
    audit.register_section(
        audit.AuditSection(
            key="corrections",
            title="Corrections, approvals and dispatch attempts",
            build=corrections_for_bundle,
            template="corrections/audit_section.html",
        )
    )
    for verb, phrase in PHRASES.items():
        audit.register_phrase(verb, phrase)
