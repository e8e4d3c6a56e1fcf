"""Parts of an incident's record kept outside the ledger, added by other apps to the history page
and the regulator bundle without this package importing them (call from AppConfig.ready()):

    audit.register_section(audit.AuditSection(key="corrections", title="Corrections",
                                              build=corrections_for_bundle,
                                              template="corrections/audit_section.html"))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from incidents.models import Incident

RESERVED_KEYS = frozenset({"format", "incident", "timeline", "decisions", "ledger"})


@dataclass(frozen=True)
class AuditSection:
    """A part of an incident's record kept outside the ledger (e.g. corrections with their
    approvals and dispatch attempts). `build(incident)` returns JSON-ready data for the bundle
    and for `template`, which renders it on the history page as `section_data`."""

    key: str
    title: str
    build: Callable[[Incident], Any]
    template: str = ""


_SECTIONS: dict[str, AuditSection] = {}


def register_section(section: AuditSection) -> None:
    if section.key in RESERVED_KEYS or section.key.startswith("generated"):
        raise ValueError(f"{section.key!r} is a reserved bundle key")
    _SECTIONS[section.key] = section


def registered_sections() -> list[AuditSection]:
    return list(_SECTIONS.values())
