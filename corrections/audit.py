"""How corrections appear in an incident's audit history and regulator bundle (incidents.audit)."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch

from corrections.events import CorrectionEvent
from corrections.models import Approval, Correction, DispatchAttempt
from incidents import audit
from incidents.models import Incident


def _time(value) -> str | None:
    return value.isoformat() if value else None


def corrections_for_bundle(incident: Incident) -> list[dict[str, Any]]:
    """Every correction on the incident with its approvals and dispatch attempts (3 queries)."""
    corrections = (
        Correction.objects.filter(incident=incident)
        .select_related("deployment", "model", "requested_by", "manual_confirmed_by", "playbook_version__playbook")
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
            "policy": c.policy_at_request.as_dict(),
            "requested_by": c.requested_by.username,
            "requested_at": _time(c.requested_at),
            "approved_at": _time(c.approved_at),
            "activated_at": _time(c.activated_at),
            "verified_at": _time(c.verified_at),
            "expires_at": _time(c.expires_at),
            "lifted_at": _time(c.lifted_at),
            "failure": c.failure,
            "break_glass": c.break_glass,
            "preauthorised_by_playbook": c.playbook_version.label if c.playbook_version else None,
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


def register() -> None:
    audit.register_section(
        audit.AuditSection(
            key="corrections",
            title="Corrections, approvals and dispatch attempts",
            build=corrections_for_bundle,
            template="corrections/audit_section.html",
        )
    )
    for event in CorrectionEvent:
        if event.phrase is not None:
            audit.register_phrase(event.value, event.phrase)
