"""Reportability in the regulator bundle: every assessment (with its history), every clock with the
rule version it used, and those rule versions in full. Registered by IncidentsConfig.ready()."""

from __future__ import annotations

from typing import Any

from incidents import audit
from incidents.models import Incident
from incidents.models.reporting import Milestone
from incidents.reporting import selectors


def bundle_section(incident: Incident) -> dict[str, Any]:
    assessments = selectors.assessments_of(incident=incident)
    clocks = selectors.clocks_of(incident=incident)
    rules = {clock.rule_id: clock.rule for clock in clocks}
    return {
        "assessments": [
            {
                "regime": a.regime, "number": a.number, "decision": a.decision, "reason": a.reason, "facts": a.facts,
                **{f"{m}_at": a.milestone(m) for m in Milestone.values},
                "recorded_by": a.recorded_by.username, "recorded_at": a.recorded_at,
            }
            for a in assessments
        ],
        "clocks": [
            {
                "regime": c.regime, "kind": c.kind, "sequence": c.sequence, "assessment": c.assessment_id,
                "rule": {"regime": c.rule.regime, "version": c.rule.version}, "start_milestone": c.start_milestone,
                "started_at": c.started_from, "path": c.path, "duration": c.duration, "due_at": c.due_at,
                "state": c.state, "met_at": c.met_at, "met_by": c.met_by, "stopped_at": c.stopped_at,
                "stop_reason": c.stop_reason,
            }
            for c in clocks
        ],
        "rule_versions": [
            {
                "regime": r.regime, "version": r.version, "effective_from": r.effective_from,
                "starts_from": r.starts_from, "deadlines": r.deadlines, "intermediate_every": r.intermediate_every,
                "final_after_resolution": r.final_after_resolution, "source": r.source,
            }
            for r in sorted(rules.values(), key=lambda r: (r.regime, r.version))
        ],
    }  # fmt: skip


def register() -> None:
    audit.register_section(audit.AuditSection(key="reportability", title="Reportability", build=bundle_section))
