"""What other apps do when an incident is opened, escalated or its severity (or category, or risk
domain) is changed (playbooks attach and bring their checklist). As with incidents.closing, this
app never imports them: they register here, and incidents.services calls every registered hook
inside its own transaction, after its change and with the incident locked (or just created), so a
hook's writes and ledger events commit with it.

    hooks.register_on_triage("playbooks", playbook_attach_best)
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from accounts.actor import Actor
from incidents.models import Incident


class Trigger(StrEnum):
    CREATED = "created"
    ESCALATED = "escalated"
    CHANGED = "changed"  # severity, category or risk domain edited: the incident may match another playbook


Hook = Callable[[Actor, Incident, Trigger], None]
_ON_TRIAGE: dict[str, Hook] = {}


def register_on_triage(key: str, hook: Hook) -> None:
    _ON_TRIAGE[key] = hook


def run_on_triage(*, actor: Actor, incident: Incident, trigger: Trigger) -> None:
    for hook in _ON_TRIAGE.values():
        hook(actor, incident, trigger)
