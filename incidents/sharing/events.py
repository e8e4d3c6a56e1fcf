"""Sharing's ledger verbs (the register's own admin changes are IncidentEvent's registry verbs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from accounts.events import LedgerVerb, register_verbs

if TYPE_CHECKING:
    from accounts.models import LedgerEvent


def _a(event: LedgerEvent, key: str, default: Any = "") -> Any:
    return (event.after or {}).get(key, default) if isinstance(event.after, dict) else default


@register_verbs
class SharingEvent(LedgerVerb):
    SHARED = (
        "incident.shared",
        lambda e: f"shared the incident with {_a(e, 'recipient')} at TLP:{_a(e, 'tlp')} "
        f"({', '.join(_a(e, 'fields', [])) or 'its reference only'})",
    )
