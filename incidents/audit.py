"""Reads for auditors (DESIGN §6, §7): the ledger as each user may see it, its exports, an
incident's history told as a narrative, and the regulator bundle.

Visibility: an event is shown when it concerns no incident (signals, configuration) or an
incident the user may see (incidents.selectors.incidents_visible_to), so a restricted incident's
events appear only to leadership and to people granted it. The filter is part of every query,
never applied after the fact.

Other apps extend the history page and the bundle without this module importing them:

    from incidents import audit
    audit.register_section(audit.AuditSection(key="corrections", title="Corrections",
                                              build=corrections_for_bundle,
                                              template="corrections/audit_section.html"))
    audit.register_phrase("correction.approved", lambda event: "approved a correction")

(call both from the app's AppConfig.ready()).
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import User
from accounts.roles import AUDIT_ROLES, Role
from incidents import ledger
from incidents.models import Incident, IncidentUserObjectPermission, LedgerEvent, LedgerHead, Status, TimelineEntry
from incidents.selectors import VIEW_RESTRICTED, incident_get_for, incidents_visible_to

# Who may read the whole ledger, verify it and export it. Responders see an incident's own
# timeline on its page; bulk reading and export is for review and oversight roles.
EXPORT_FORMAT = "failsafe-ledger-export/1"
BUNDLE_FORMAT = "failsafe-incident-bundle/1"
HASH_RULE = (
    'hash = SHA-256(prev_hash + "\\n" + JSON of the hashed fields with keys sorted, no spaces, UTF-8, '
    "at as YYYY-MM-DDTHH:MM:SS.ffffffZ); the first event's prev_hash is 64 zeros"
)


def can_audit(user: User | None) -> bool:
    return bool(user is not None and user.is_authenticated and user.roles & AUDIT_ROLES)


# --- which events, filtered how ------------------------------------------------------------------


@dataclass(frozen=True)
class EventFilters:
    incident: str = ""
    actor: str = ""
    verb: str = ""  # exact, or a prefix ending in "." ("correction.")
    object_type: str = ""
    object_id: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def q(self) -> Q:
        q = Q()
        if self.incident:
            q &= Q(incident_ref=self.incident)
        if self.actor:
            q &= Q(actor_name=self.actor)
        if self.verb:
            q &= Q(verb__startswith=self.verb) if self.verb.endswith(".") else Q(verb=self.verb)
        if self.object_type:
            q &= Q(object_type=self.object_type)
        if self.object_id:
            q &= Q(object_id=self.object_id)
        if self.since:
            q &= Q(at__gte=self.since)
        if self.until:
            q &= Q(at__lt=self.until)
        return q

    def as_dict(self) -> dict[str, str]:
        return {
            name: ledger.format_time(value) if isinstance(value, datetime) else value
            for name, value in asdict(self).items()
            if value
        }

    def __bool__(self) -> bool:
        return bool(self.as_dict())


def visible_events_q(user: User) -> Q:
    """Events this user may read: none without an audit role; otherwise those about no incident
    or about an incident the user may see."""
    if not can_audit(user):
        return Q(pk__in=[])
    return Q(incident_ref="") | Q(incident_ref__in=incidents_visible_to(user).values("ref"))


def events_for(*, user: User, filters: EventFilters | None = None) -> QuerySet[LedgerEvent]:
    """The ledger as `user` may read it, oldest first."""
    filters = filters or EventFilters()
    return LedgerEvent.objects.filter(visible_events_q(user), filters.q()).order_by("seq")


def known_verbs() -> list[str]:
    return list(LedgerEvent.objects.order_by("verb").values_list("verb", flat=True).distinct())


def audited_incidents_for(*, user: User) -> QuerySet[Incident]:
    """Incidents whose history the user may read (restricted ones only when granted)."""
    if not can_audit(user):
        return Incident.objects.none()
    return incidents_visible_to(user).select_related("commander").order_by("-reported_at", "-id")


# --- exports ------------------------------------------------------------------------------------
# One pass over the chain up to the head read at the start: every event is verified on the way
# (so the last record says whether the chain is intact) and the ones the user may see and asked
# for are written. Rows stream from a server-side cursor; nothing holds the table in memory.

EXPORT_FIELDS = ledger.ROW_FIELDS
_JSON_COLUMNS = {"actor_roles", "before", "after"}
_FLUSH_EVERY = 500


@dataclass(frozen=True)
class ExportHead:
    seq: int
    hash: str


def _export_head() -> ExportHead:
    head = ledger.read_head()
    return ExportHead(head.seq, head.hash) if head else ExportHead(0, ledger.GENESIS_HASH)


def _export_rows(user: User, filters: EventFilters, head: ExportHead, check: ledger.ChainCheck, chunk_size: int):
    wanted = ExpressionWrapper(visible_events_q(user) & filters.q(), output_field=BooleanField())
    rows = ledger.chain_rows(LedgerEvent.objects.filter(seq__lte=head.seq), _wanted=wanted)
    for row in rows.iterator(chunk_size=chunk_size):
        check.feed(row)
        if row[-1]:
            yield row[:-1]


def _at_text(value: Any) -> str:
    return value if isinstance(value, str) else ledger.format_time(value)


def _header(user: User, filters: EventFilters, head: ExportHead) -> dict[str, Any]:
    return {
        "record": "head",
        "format": EXPORT_FORMAT,
        "head_seq": head.seq,
        "head_hash": head.hash,
        "exported_at": ledger.format_time(timezone.now()),
        "exported_by": user.username,
        "filters": filters.as_dict(),
        "hashed_fields": list(ledger.HASHED_FIELDS),
        "hash_rule": HASH_RULE,
    }


def _trailer(check: ledger.ChainCheck, head: ExportHead, exported: int) -> dict[str, Any]:
    result = check.result(LedgerHead(seq=head.seq, hash=head.hash))
    return {"record": "verification", **result.as_dict(), "problem": result.problem, "exported_events": exported}


_JSONL_EVENT = '{"record":"event",' + ",".join(f"{json.dumps(name)}:%s" for name in EXPORT_FIELDS) + "}\n"


def _jsonl_event(row: tuple) -> str:
    values = []
    for name, value in zip(EXPORT_FIELDS, row, strict=True):
        if name in _JSON_COLUMNS:
            values.append("null" if value is None else value)  # the database's own JSON text
        elif name == "seq":
            values.append(str(value))
        elif name == "at":
            values.append('"' + _at_text(value) + '"')
        else:
            values.append(json.encoder.encode_basestring(value))
    return _JSONL_EVENT % tuple(values)


def export_jsonl(*, user: User, filters: EventFilters | None = None, chunk_size: int = 2000) -> Iterator[str]:
    """JSON Lines: a `head` record, one `event` record per event, a `verification` record."""
    filters = filters or EventFilters()
    head = _export_head()
    check = ledger.ChainCheck()
    yield json.dumps(_header(user, filters, head), ensure_ascii=False) + "\n"
    buffer, exported = [], 0
    for row in _export_rows(user, filters, head, check, chunk_size):
        buffer.append(_jsonl_event(row))
        exported += 1
        if len(buffer) >= _FLUSH_EVERY:
            yield "".join(buffer)
            buffer = []
    yield "".join(buffer) + json.dumps(_trailer(check, head, exported), ensure_ascii=False) + "\n"


class _Echo:
    def write(self, value: str) -> str:
        return value


CSV_COLUMNS = ("record", *EXPORT_FIELDS, "note")


def export_csv(*, user: User, filters: EventFilters | None = None, chunk_size: int = 2000) -> Iterator[str]:
    """CSV with a header row. The first data row (record=head) carries the head's seq and hash;
    the last (record=verification) the result of verifying the chain while exporting.

    CSV is for reading in a spreadsheet: a text cell that would start a formula (=, +, -, @)
    gets a leading apostrophe, since signal titles and reasons can come from outsiders.
    JSONL is the export to re-verify hashes from."""
    filters = filters or EventFilters()
    head = _export_head()
    check = ledger.ChainCheck()
    writer = csv.writer(_Echo())
    header = _header(user, filters, head)
    note = (
        f"{EXPORT_FORMAT}; exported {header['exported_at']} by {user.username}; {HASH_RULE}; "
        "text cells starting with = + - @ are prefixed with an apostrophe (use JSONL to re-verify hashes)"
    )
    if filters:
        note += "; filters " + json.dumps(header["filters"], ensure_ascii=False)
    yield writer.writerow(CSV_COLUMNS) + writer.writerow(_csv_marker("head", head.seq, head.hash, note))
    buffer, exported = [], 0
    for row in _export_rows(user, filters, head, check, chunk_size):
        values = [_cell(value) for value in row]
        values[1] = _at_text(row[1])
        buffer.append(writer.writerow(("event", *values, "")))
        exported += 1
        if len(buffer) >= _FLUSH_EVERY:
            yield "".join(buffer)
            buffer = []
    trailer = _trailer(check, head, exported)
    verdict = "ok" if trailer["ok"] else f"BROKEN at seq {trailer['first_bad_seq']}: {trailer['problem']}"
    note = f"{verdict}; {trailer['events']} events verified; {exported} exported"
    yield "".join(buffer) + writer.writerow(_csv_marker("verification", trailer["events"], trailer["head_hash"], note))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def _csv_marker(record: str, seq: int, head_hash: str, note: str) -> list[Any]:
    row: list[Any] = [record] + [""] * len(EXPORT_FIELDS) + [note]
    row[1 + EXPORT_FIELDS.index("seq")] = seq
    row[1 + EXPORT_FIELDS.index("hash")] = head_hash
    return row


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


def _b(event: LedgerEvent, key: str, default: Any = "") -> Any:
    return (event.before or {}).get(key, default) if isinstance(event.before, dict) else default


def _status(value: str) -> str:
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


for _verb, _phrase in {
    "incident.created": lambda e: f"opened {e.incident_ref}: “{_a(e, 'title')}”, {_a(e, 'severity')}",
    "incident.updated": lambda e: "edited " + ", ".join(k.replace("_", " ") for k in (e.after or {})),
    "incident.severity_changed": lambda e: f"changed the severity from {_b(e, 'severity')} to {_a(e, 'severity')}",
    "incident.status_changed": lambda e: (
        f"moved the incident from {_status(_b(e, 'status'))} to {_status(_a(e, 'status'))}"
    ),
    "incident.reopened": lambda e: f"reopened the incident ({_status(_b(e, 'status'))} → {_status(_a(e, 'status'))})",
    "incident.closing_exception_recorded": lambda e: (
        f"recorded an exception to make the incident {_status(_a(e, 'status'))} despite: "
        + "; ".join(str(o.get("title", "")) for o in _a(e, "overrode", []) if isinstance(o, dict))
    ),
    "incident.escalated": _escalated,
    "incident.assigned": _assigned,
    "incident.access_granted": lambda e: f"granted {_a(e, 'user')} access to this restricted incident",
    "incident.access_revoked": lambda e: f"revoked {_a(e, 'user')}'s access to this restricted incident",
    "timeline.note_added": lambda e: "added a note",
    "timeline.decision_recorded": lambda e: "recorded a decision",
    "signal.promoted": lambda e: "promoted a signal into this incident",
    "signal.folded": lambda e: f"saw the same signal again ({_a(e, 'occurrences')} times so far)",
}.items():
    register_phrase(_verb, _phrase)


def registered_verbs() -> set[str]:
    return set(_PHRASES)


def describe(event: LedgerEvent) -> str:
    phrase = _PHRASES.get(event.verb)
    if phrase is not None:
        return phrase(event)
    # Unknown verbs (another app's, before it registers phrases): "correction 12: approval given".
    noun, _, action = event.verb.partition(".")
    return f"{noun.replace('_', ' ')} {event.object_id}: {action.replace('_', ' ')}".strip()


@dataclass(frozen=True)
class NarrativeItem:
    event: LedgerEvent
    sentence: str
    # (label, text) pairs told in full: a note's words, a decision with its options and rationale.
    details: list[tuple[str, str]]
    diff: list[DiffLine]


_TOLD_IN_FULL = {"timeline.note_added", "timeline.decision_recorded", "incident.created"}


def _backdated(event: LedgerEvent) -> bool:
    """An entry recorded more than a minute after the moment it describes."""
    occurred = parse_datetime(str(_a(event, "occurred_at", "")))
    return occurred is not None and (event.at - occurred).total_seconds() > 60


def narrate(event: LedgerEvent) -> NarrativeItem:
    details: list[tuple[str, str]] = []
    if event.verb == "timeline.decision_recorded":
        details = [("Decision", _a(event, "body")), ("Options considered", _a(event, "options_considered")),
                   ("Rationale", _a(event, "rationale"))]  # fmt: skip
    elif event.verb == "timeline.note_added":
        details = [("Note", _a(event, "body"))]
    elif event.verb == "incident.created" and _a(event, "summary"):
        details = [("Summary", _a(event, "summary"))]
    if event.verb.startswith("timeline.") and _backdated(event):
        details.append(("Happened at", _a(event, "occurred_at")))
    if event.reason:
        details.append(("Reason", event.reason))
    diff = [] if event.verb in _TOLD_IN_FULL else event_diff(event.before, event.after)
    return NarrativeItem(event, describe(event), [(k, v) for k, v in details if v], diff)


# --- sections other apps add to the history page and the bundle ---------------------------------


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
    if section.key in {"format", "incident", "timeline", "decisions", "ledger"} or section.key.startswith("generated"):
        raise ValueError(f"{section.key!r} is a reserved bundle key")
    _SECTIONS[section.key] = section


def registered_sections() -> list[AuditSection]:
    return list(_SECTIONS.values())


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


# --- the regulator bundle -------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return ledger.format_time(value) if value else None


def _incident_data(incident: Incident) -> dict[str, Any]:
    return {
        "ref": incident.ref,
        "title": incident.title,
        "summary": incident.summary,
        "category": incident.category,
        "risk_domain": incident.risk_domain,
        "severity": incident.severity,
        "status": incident.status,
        "source": incident.source,
        "restricted": incident.restricted,
        "deployments": sorted(d.slug for d in incident.deployments.all()),
        "reporter": incident.reporter.username if incident.reporter_id else None,
        "commander": incident.commander.username if incident.commander_id else None,
        "participants": sorted(u.username for u in incident.participants.all()),
        "milestones": {
            name: _time(getattr(incident, f"{name}_at"))
            for name in ("occurred", "detected", "reported", "acknowledged", "contained", "resolved", "closed")
        },
        "closing_exceptions": [
            {
                "status": e.status,
                "reason": e.reason,
                "overrode": e.overrode,
                "recorded_by": e.recorded_by.username,
                "recorded_at": _time(e.recorded_at),
            }
            for e in incident.closing_exceptions.select_related("recorded_by")
        ],
    }


def _entry_data(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "kind": entry.kind,
        "body": entry.body,
        "options_considered": entry.options_considered,
        "rationale": entry.rationale,
        "occurred_at": _time(entry.occurred_at),
        "recorded_at": _time(entry.created_at),
        "author": entry.author.username,
    }


def _ledger_slice(incident: Incident) -> dict[str, Any]:
    """The incident's events with their hashes, each re-hashed from its stored prev_hash."""
    head = _export_head()
    check = ledger.ChainCheck()
    events, mismatched = [], []
    rows = ledger.chain_rows(LedgerEvent.objects.filter(incident_ref=incident.ref, seq__lte=head.seq))
    for row in rows.iterator(chunk_size=2000):
        data = dict(zip(EXPORT_FIELDS, row, strict=True))
        data["at"] = _at_text(data["at"])
        for name in _JSON_COLUMNS:
            data[name] = None if data[name] is None else json.loads(data[name])
        digest = hashlib.sha256(data["prev_hash"].encode() + b"\n" + check.canonical(row)).hexdigest()
        if digest != data["hash"]:
            mismatched.append(data["seq"])
        events.append(data)
    return {
        "head_seq": head.seq,
        "head_hash": head.hash,
        "hash_rule": HASH_RULE,
        "events_hash_ok": not mismatched,
        "events_hash_mismatch": mismatched,
        "events": events,
    }


def incident_bundle(*, user: User, ref: str) -> dict[str, Any] | None:
    """Everything a regulator needs about one incident, as one JSON-ready document."""
    incident = incident_get_for(user=user, ref=ref) if can_audit(user) else None
    if incident is None:
        return None
    entries = [_entry_data(e) for e in TimelineEntry.objects.filter(incident=incident).select_related("author")]
    bundle = {
        "format": BUNDLE_FORMAT,
        "generated_at": ledger.format_time(timezone.now()),
        "generated_by": user.username,
        "incident": _incident_data(incident),
        "timeline": entries,
        "decisions": [e for e in entries if e["kind"] == TimelineEntry.Kind.DECISION],
        "ledger": _ledger_slice(incident),
    }
    for section in registered_sections():
        bundle[section.key] = section.build(incident)
    return bundle


# --- restricted-incident grants ------------------------------------------------------------------


def access_grants_for(incident: Incident) -> QuerySet[User]:
    """People holding an object grant to see this restricted incident."""
    granted = IncidentUserObjectPermission.objects.filter(content_object=incident, permission__codename=VIEW_RESTRICTED)
    return User.objects.filter(pk__in=granted.values("user_id")).order_by("username")


def grant_candidates_for(incident: Incident) -> QuerySet[User]:
    """Who could be granted: active people with a role, not yet granted, not leadership (who see all)."""
    return (
        User.objects.filter(is_active=True, groups__isnull=False)
        .exclude(groups__name=Role.LEADERSHIP)
        .exclude(pk__in=access_grants_for(incident).values("pk"))
        .distinct()
        .order_by("username")
    )
