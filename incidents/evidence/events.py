"""Evidence's ledger verbs, each with its phrase (the vocabulary machinery is accounts.events)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from accounts.events import LedgerVerb, register_verbs

if TYPE_CHECKING:
    from accounts.models import LedgerEvent


def _a(event: LedgerEvent, key: str, default: Any = "") -> Any:
    return (event.after or {}).get(key, default) if isinstance(event.after, dict) else default


@register_verbs
class EvidenceEvent(LedgerVerb):
    ADDED = (
        "evidence.added",
        lambda e: f"added evidence “{_a(e, 'name')}” ({_a(e, 'kind')}, {_a(e, 'size')} bytes, "
        f"SHA-256 {str(_a(e, 'sha256'))[:16]}…)",
    )
