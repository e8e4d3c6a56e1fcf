"""The regulator bundle: everything about one incident as one JSON document (DESIGN §8).

Every time the bundle writes is in the ledger's canonical form, YYYY-MM-DDTHH:MM:SS.ffffffZ
(accounts.ledger.format_time), sections' times included. The one exception is inside the
ledger events' `before` and `after`: those are reproduced exactly as recorded, because the
hash covers them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from django.utils import timezone

from accounts import ledger
from accounts.models import LedgerEvent, User
from config.errors import DomainError
from incidents import drills
from incidents.audit.access import can_audit
from incidents.audit.exports import EXPORT_FIELDS, HASH_RULE, JSON_COLUMNS, at_text, export_head
from incidents.audit.sections import registered_sections
from incidents.models import Incident, TimelineEntry
from incidents.selectors import incident_get_for

BUNDLE_FORMAT = "failsafe-incident-bundle/1"


def _time(value: datetime | None) -> str | None:
    return ledger.format_time(value) if value else None


def _is_time_key(key: Any) -> bool:
    return isinstance(key, str) and (key == "at" or key.endswith("_at"))


def _canonical_times(value: Any, *, time_key: bool = False) -> Any:
    """A section's data with its times in the canonical form: datetimes, and ISO 8601 text with
    a zone under a key named `at` or `…_at` (sections are built by other apps, which may write
    `isoformat()`'s +00:00). Other text is left alone, whatever it looks like."""
    if isinstance(value, dict):
        return {key: _canonical_times(item, time_key=_is_time_key(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_times(item, time_key=time_key) for item in value]
    if isinstance(value, datetime):
        return ledger.format_time(value)
    if time_key and isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return ledger.format_time(parsed) if parsed.tzinfo is not None else value
    return value


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
    head = export_head()
    check = ledger.ChainCheck()
    events, mismatched = [], []
    rows = ledger.chain_rows(LedgerEvent.objects.filter(incident_ref=incident.ref, seq__lte=head.seq))
    for row in rows.iterator(chunk_size=2000):
        data = dict(zip(EXPORT_FIELDS, row, strict=True))
        data["at"] = at_text(data["at"])
        for name in JSON_COLUMNS:
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
    """Everything a regulator needs about one incident, as one JSON-ready document.

    None for an incident the user may not audit; a drill has none (DomainError, conflict): nothing
    about a rehearsal is made for regulators (incidents.drills)."""
    incident = incident_get_for(user=user, ref=ref) if can_audit(user) else None
    if incident is None:
        return None
    if not drills.reaches_outsiders(incident):
        raise DomainError(f"{incident.ref} is a drill: nothing about a drill is made for regulators.", code="conflict")
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
        bundle[section.key] = _canonical_times(section.build(incident))
    return bundle
