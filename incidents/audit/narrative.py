"""An incident's history told for people: each event as a sentence, what it changed as a diff.

Other apps add phrases for their own verbs (call from AppConfig.ready()):

    audit.register_phrase("correction.approved", lambda event: "approved a correction")
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.dateparse import parse_datetime

from accounts import events
from accounts.events import LedgerVerb
from accounts.models import LedgerEvent, User
from incidents.audit.access import can_audit
from incidents.audit.sections import AuditSection, registered_sections
from incidents.events import IncidentEvent
from incidents.models import Incident
from incidents.selectors import incident_get_for

# --- reading one event: before/after as a diff --------------------------------------------------


@dataclass(frozen=True)
class DiffLine:
    field: str
    change: str  # set, changed, cleared, removed
    before: str
    after: str
    # For long text changed in place: [(op, text)] with op in same / del / ins.
    inline: list[tuple[str, str]] = field(default_factory=list)


def _show(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _inline(old: str, new: str) -> list[tuple[str, str]]:
    a, b = old.split(" "), new.split(" ")
    ops: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            ops.append(("same", " ".join(a[i1:i2])))
            continue
        if i2 > i1:
            ops.append(("del", " ".join(a[i1:i2])))
        if j2 > j1:
            ops.append(("ins", " ".join(b[j1:j2])))
    return ops


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def event_diff(before: Any, after: Any) -> list[DiffLine]:
    """What an event changed, field by field. Unchanged and still-empty fields are left out."""
    old = before if isinstance(before, dict) else {}
    new = after if isinstance(after, dict) else {}
    lines = []
    for key in [*new, *(k for k in old if k not in new)]:
        was, now = old.get(key), new.get(key)
        if was == now or (_empty(was) and _empty(now)):
            continue
        if _empty(was):
            change = "set"
        elif key not in new:
            change = "removed"
        elif _empty(now):
            change = "cleared"
        else:
            change = "changed"
        long_text = change == "changed" and isinstance(was, str) and isinstance(now, str)
        inline = _inline(was, now) if long_text and max(len(was), len(now)) > 60 else []
        lines.append(DiffLine(key.replace("_", " "), change, _show(was), _show(now), inline))
    return lines


# --- an incident's history as a narrative --------------------------------------------------------

Phrase = Callable[[LedgerEvent], str]
_PHRASES: dict[str, Phrase] = {}


def register_phrase(verb: str, phrase: Phrase) -> None:
    """How the narrative says what an event of `verb` was (plain text, after the actor's name)."""
    _PHRASES[verb] = phrase


def _a(event: LedgerEvent, key: str, default: Any = "") -> Any:
    return (event.after or {}).get(key, default) if isinstance(event.after, dict) else default


def registered_verbs() -> set[str]:
    """Every verb the narrative knows: the apps' vocabularies and phrases registered here."""
    return events.registered_verbs() | set(_PHRASES)


def describe(event: LedgerEvent) -> str:
    """The event as a sentence: a phrase registered here, else its verb's own phrase
    (incidents.events), else the verb read aloud (an unknown verb, e.g. from an older release)."""
    phrase = _PHRASES.get(event.verb)
    if phrase is not None:
        return phrase(event)
    member = events.verb_member(event.verb)
    if isinstance(member, LedgerVerb):
        return member.phrase(event)
    return events.generic_phrase(event.verb, event.object_id)


@dataclass(frozen=True)
class NarrativeItem:
    event: LedgerEvent
    sentence: str
    # (label, text) pairs told in full: a note's words, a decision with its options and rationale.
    details: list[tuple[str, str]]
    diff: list[DiffLine]


_TOLD_IN_FULL = {IncidentEvent.NOTE_ADDED, IncidentEvent.DECISION_RECORDED, IncidentEvent.CREATED}


def _backdated(event: LedgerEvent) -> bool:
    """An entry recorded more than a minute after the moment it describes."""
    occurred = parse_datetime(str(_a(event, "occurred_at", "")))
    return occurred is not None and (event.at - occurred).total_seconds() > 60


def narrate(event: LedgerEvent) -> NarrativeItem:
    details: list[tuple[str, str]] = []
    if event.verb == IncidentEvent.DECISION_RECORDED:
        details = [("Decision", _a(event, "body")), ("Options considered", _a(event, "options_considered")),
                   ("Rationale", _a(event, "rationale"))]  # fmt: skip
    elif event.verb == IncidentEvent.NOTE_ADDED:
        details = [("Note", _a(event, "body"))]
    elif event.verb == IncidentEvent.CREATED and _a(event, "summary"):
        details = [("Summary", _a(event, "summary"))]
    if event.verb.startswith("timeline.") and _backdated(event):
        details.append(("Happened at", _a(event, "occurred_at")))
    if event.reason:
        details.append(("Reason", event.reason))
    diff = [] if event.verb in _TOLD_IN_FULL else event_diff(event.before, event.after)
    return NarrativeItem(event, describe(event), [(k, v) for k, v in details if v], diff)


@dataclass(frozen=True)
class IncidentHistory:
    incident: Incident
    items: list[NarrativeItem]
    sections: list[tuple[AuditSection, Any]]


def incident_history_for(*, user: User, ref: str) -> IncidentHistory | None:
    """An incident's ledger events told as a narrative, or None if the user may not see it."""
    incident = incident_get_for(user=user, ref=ref) if can_audit(user) else None
    if incident is None:
        return None
    events = LedgerEvent.objects.filter(incident_ref=incident.ref).order_by("seq")
    sections = [(section, section.build(incident)) for section in registered_sections()]
    return IncidentHistory(incident, [narrate(event) for event in events], sections)
