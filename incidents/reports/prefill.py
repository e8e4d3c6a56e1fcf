"""A draft's fields filled from the incident (issue 13 §3): description, models and deployments,
the milestone dates, the corrections taken with their states and times, and the decisions
timeline from the ledger. The commander edits the rest.

Corrections belong to the corrections app, which this app never imports: they are read through
the regulator bundle's "corrections" section, which that app registers (incidents.audit.sections).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from accounts import ledger
from incidents import audit
from incidents.models import Incident, TimelineEntry
from incidents.models.reports import Regime
from incidents.reports.regimes import LIST_MAX, TEXT_MAX, template_for
from incidents.selectors import timeline_for

CORRECTION_KEYS = ("id", "type", "target", "state", "requested_at", "approved_at", "activated_at", "lifted_at")
MILESTONES = ("occurred", "detected", "reported", "contained", "resolved")


def _time(value: datetime | None) -> str | None:
    return ledger.format_time(value) if value else None


def _canonical(value: Any) -> Any:
    """A time (a datetime, or ISO text with a zone) in the ledger's form; anything else as it is."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return ledger.format_time(parsed) if parsed.tzinfo else value
    return _time(value) if isinstance(value, datetime) else value


def corrections_of(incident: Incident) -> list[dict[str, Any]]:
    section = next((s for s in audit.registered_sections() if s.key == "corrections"), None)
    if section is None:
        return []
    rows = section.build(incident)
    return [
        {key: _canonical(row.get(key)) if key.endswith("_at") else row.get(key) for key in CORRECTION_KEYS}
        for row in rows[:LIST_MAX]
    ]


def decisions_of(incident: Incident) -> list[dict[str, Any]]:
    """Recorded decisions (with their rationale) and the ledger's events, oldest first; the
    reports' own events are left out (a report does not quote itself)."""
    items = []
    for item in timeline_for(incident=incident):
        if item.entry is not None and item.entry.kind == TimelineEntry.Kind.DECISION:
            entry = item.entry
            text = entry.body + (f" (rationale: {entry.rationale})" if entry.rationale else "")
            items.append({"at": _time(entry.occurred_at), "actor": entry.author.username, "text": text[:TEXT_MAX],
                          "kind": "decision"})  # fmt: skip
        elif item.event is not None and not item.event.verb.startswith("report."):
            event = item.event
            items.append({"at": _time(event.at), "actor": event.actor_name[:200], "text": audit.describe(event),
                          "kind": "event"})  # fmt: skip
    return items[-LIST_MAX:]


def facts_of(incident: Incident) -> dict[str, Any]:
    """The fields every template shares, as the incident has them now."""
    deployments = sorted(incident.deployments.select_related("model"), key=lambda d: d.slug)
    return {
        "title": incident.title,
        "description": incident.summary,
        "models": sorted({d.model.name for d in deployments}),
        "deployments": [d.slug for d in deployments],
        **{f"{name}_at": _time(getattr(incident, f"{name}_at")) for name in MILESTONES},
        "corrections": corrections_of(incident),
        "decisions": decisions_of(incident),
    }


REFRESHED = ("corrections", "decisions")


def _measures(corrections: list[dict[str, Any]]) -> str:
    return "\n".join(f"{c['type']} on {c['target']}: {c['state']}" for c in corrections)


def prefill(incident: Incident, regime: str) -> dict[str, Any]:
    """A new draft's fields: the shared facts, and the regime's own fields where the incident knows them."""
    facts = facts_of(incident)
    system = ", ".join(facts["models"] + [f"deployment {d}" for d in facts["deployments"]])
    aware = facts["detected_at"] or facts["reported_at"]
    own: dict[str, Any] = {}
    if regime == Regime.EU_AI_ACT_ART73:
        own = {"ai_system": system, "aware_at": aware, "immediate_measures": _measures(facts["corrections"])}
    elif regime == Regime.EU_GPAI_CODE:
        own = {"model_involved": ", ".join(facts["models"]), "aware_of_involvement_at": aware,
               "start_date": facts["occurred_at"] or aware, "end_date": facts["resolved_at"],
               "actions": _measures(facts["corrections"])}  # fmt: skip
    elif regime in (Regime.CA_SB53, Regime.NY_RAISE):
        own = {"csi_date": facts["occurred_at"] or aware, "short_description": incident.summary[:2000]}
        if regime == Regime.CA_SB53:
            own["discovered_at"] = aware
    names = template_for(regime).names
    return {name: value for name, value in (facts | own).items() if name in names}
