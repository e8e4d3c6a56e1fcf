"""The ledger's vocabulary: one enumeration of verbs per app, each verb with its phrase.

An app declares its verbs as a `LedgerVerb` enumeration and registers it (`@register_verbs`),
then passes members, never string literals, to `ledger.record(verb=...)`. The audit narrative
reads each event's phrase from here, and tests check that every verb recorded anywhere is a
member of a registered enumeration. This module's own enumeration is `IncidentEvent`
(incidents, the timeline, signals and registry configuration); accounts has `AccountEvent`.

A phrase says what happened in plain text, after the actor's name: "escalated the incident to
SEV1". A member without its own phrase reads as its verb: "signal 12: received".
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from incidents.models import LedgerEvent

Phrase = Callable[["LedgerEvent"], str]
E = TypeVar("E", bound=type[StrEnum])


def generic_phrase(verb: str, object_id: str) -> str:
    """How a verb with no phrase of its own reads: "correction 12: approval given"."""
    noun, _, action = verb.partition(".")
    return f"{noun.replace('_', ' ')} {object_id}: {action.replace('_', ' ')}".strip()


class LedgerVerb(StrEnum):
    """Base of every app's verbs. A member is declared as `NAME = "noun.action", phrase` (the
    phrase optional); it is the verb string itself wherever a string is expected."""

    _phrase: Phrase | None

    def __new__(cls, value: str, phrase: Phrase | None = None):
        member = str.__new__(cls, value)
        member._value_ = value
        member._phrase = phrase
        return member

    def phrase(self, event: LedgerEvent) -> str:
        if self._phrase is not None:
            return self._phrase(event)
        return generic_phrase(self.value, event.object_id)


# --- the registry of every app's verbs ----------------------------------------------------------------

_ENUMS: list[type[StrEnum]] = []
_BY_VERB: dict[str, StrEnum] = {}


def register_verbs(enum: E) -> E:
    """Add an app's verb enumeration to the ledger's vocabulary (usable as a class decorator).
    A verb may belong to one enumeration only."""
    if enum in _ENUMS:
        return enum
    clashes = sorted(member.value for member in enum if member.value in _BY_VERB)
    if clashes:
        raise ValueError(f"{enum.__name__} repeats verbs already registered: {', '.join(clashes)}")
    _ENUMS.append(enum)
    _BY_VERB.update({member.value: member for member in enum})
    return enum


def registered_enums() -> list[type[StrEnum]]:
    return list(_ENUMS)


def registered_verbs() -> set[str]:
    return set(_BY_VERB)


def verb_member(verb: str) -> StrEnum | None:
    """The registered member for a verb string, or None if no app declares it."""
    return _BY_VERB.get(verb)


# --- incidents' verbs ----------------------------------------------------------------------------------


def _a(event: LedgerEvent, key: str, default: Any = "") -> Any:
    return (event.after or {}).get(key, default) if isinstance(event.after, dict) else default


def _b(event: LedgerEvent, key: str, default: Any = "") -> Any:
    return (event.before or {}).get(key, default) if isinstance(event.before, dict) else default


def _status(value: str) -> str:
    from incidents.models import Status

    return Status(value).label.lower() if value in Status.values else str(value)


def _escalated(event: LedgerEvent) -> str:
    text = "escalated the incident"
    if _b(event, "severity") and _a(event, "severity") != _b(event, "severity"):
        text += f" to {_a(event, 'severity')}"
    if _a(event, "called_in"):
        text += f", calling in {str(_a(event, 'called_in')).replace('_', ' ')}"
    return text


def _assigned(event: LedgerEvent) -> str:
    parts = []
    if _a(event, "commander") and _a(event, "commander") != _b(event, "commander"):
        parts.append(f"made {_a(event, 'commander')} incident commander")
    if _a(event, "participants_added"):
        parts.append("added " + ", ".join(_a(event, "participants_added")))
    return " and ".join(parts) or "reviewed the assignments"


@register_verbs
class IncidentEvent(LedgerVerb):
    CREATED = "incident.created", lambda e: f"opened {e.incident_ref}: “{_a(e, 'title')}”, {_a(e, 'severity')}"
    UPDATED = "incident.updated", lambda e: "edited " + ", ".join(k.replace("_", " ") for k in (e.after or {}))
    SEVERITY_CHANGED = (
        "incident.severity_changed",
        lambda e: f"changed the severity from {_b(e, 'severity')} to {_a(e, 'severity')}",
    )
    STATUS_CHANGED = (
        "incident.status_changed",
        lambda e: f"moved the incident from {_status(_b(e, 'status'))} to {_status(_a(e, 'status'))}",
    )
    ESCALATED = "incident.escalated", _escalated
    ASSIGNED = "incident.assigned", _assigned
    ACCESS_GRANTED = (
        "incident.access_granted",
        lambda e: f"granted {_a(e, 'user')} access to this restricted incident",
    )
    ACCESS_REVOKED = (
        "incident.access_revoked",
        lambda e: f"revoked {_a(e, 'user')}'s access to this restricted incident",
    )
    NOTE_ADDED = "timeline.note_added", lambda e: "added a note"
    DECISION_RECORDED = "timeline.decision_recorded", lambda e: "recorded a decision"
    SIGNAL_RECEIVED = "signal.received"
    SIGNAL_FOLDED = "signal.folded", lambda e: f"saw the same signal again ({_a(e, 'occurrences')} times so far)"
    SIGNAL_PROMOTED = "signal.promoted", lambda e: "promoted a signal into this incident"
    SIGNAL_DISMISSED = "signal.dismissed"
    # Registry configuration, edited in the admin (incidents.admin.RegistryAdmin): see registry_change.
    AIMODEL_CREATED = "registry.aimodel_created"
    AIMODEL_CHANGED = "registry.aimodel_changed"
    AIMODEL_DELETED = "registry.aimodel_deleted"
    MODELVERSION_CREATED = "registry.modelversion_created"
    MODELVERSION_CHANGED = "registry.modelversion_changed"
    MODELVERSION_DELETED = "registry.modelversion_deleted"
    DEPLOYMENT_CREATED = "registry.deployment_created"
    DEPLOYMENT_CHANGED = "registry.deployment_changed"
    DEPLOYMENT_DELETED = "registry.deployment_deleted"
    CUSTOMERACCOUNT_CREATED = "registry.customeraccount_created"
    CUSTOMERACCOUNT_CHANGED = "registry.customeraccount_changed"
    CUSTOMERACCOUNT_DELETED = "registry.customeraccount_deleted"

    @classmethod
    def registry_change(cls, model_name: str, what: str) -> IncidentEvent:
        """The verb for an admin change to a registry model; ValueError for one not declared here."""
        return cls(f"registry.{model_name}_{what}")
