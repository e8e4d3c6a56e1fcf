"""Reportability's ledger verbs, each with the phrase the incident history tells it with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from accounts.events import LedgerVerb, register_verbs

if TYPE_CHECKING:
    from accounts.models import LedgerEvent


def _a(event: LedgerEvent, key: str, default: Any = "") -> Any:
    return (event.after or {}).get(key, default) if isinstance(event.after, dict) else default


def _assessed(event: LedgerEvent) -> str:
    decision = str(_a(event, "decision")).replace("_", " ")
    return f"assessed {_a(event, 'regime')} reportability: {decision} (assessment {_a(event, 'number')})"


@register_verbs
class ReportingEvent(LedgerVerb):
    ASSESSED = "reporting.assessed", _assessed
    CLOCK_STARTED = (
        "reporting.clock_started",
        lambda e: f"started the {_a(e, 'regime')} {_a(e, 'kind')} clock, due {_a(e, 'due_at')} ({_a(e, 'path')})",
    )
    CLOCK_MET = "reporting.clock_met", lambda e: f"met the {_a(e, 'regime')} {_a(e, 'kind')} clock"
    CLOCK_STOPPED = "reporting.clock_stopped", lambda e: f"stopped the {_a(e, 'regime')} {_a(e, 'kind')} clock"
    REMINDER_SENT = (
        "reporting.reminder_sent",
        lambda e: f"reminded of the {_a(e, 'regime')} {_a(e, 'kind')} deadline ({_a(e, 'mark')})",
    )
    RULE_VERSION_CREATED = (
        "reporting.rule_version_created",
        lambda e: f"published {_a(e, 'regime')} rule version {_a(e, 'version')}",
    )
