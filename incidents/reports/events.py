"""The reports' ledger verbs, each with the phrase the incident history tells it with."""

from __future__ import annotations

from typing import TYPE_CHECKING

from accounts.events import LedgerVerb, register_verbs

if TYPE_CHECKING:
    from accounts.models import LedgerEvent


def _told(text: str):
    def phrase(event: LedgerEvent) -> str:
        after = event.after if isinstance(event.after, dict) else {}
        regime, kind, number = after.get("regime", ""), after.get("kind", ""), after.get("version", "")
        return f"{text} ({regime} {kind} report, version {number})" if regime else text

    return phrase


@register_verbs
class ReportEvent(LedgerVerb):
    STARTED = "report.started", _told("started a regulator report draft")
    DRAFT_SAVED = "report.draft_saved", _told("edited a regulator report draft")
    SUBMITTED = "report.submitted", _told("submitted a regulator report")
