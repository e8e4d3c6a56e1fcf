"""Exports of the ledger as each user may see it: JSON Lines and CSV.

One pass over the chain up to the head read at the start: every event is verified on the way
(so the last record says whether the chain is intact) and the ones the user may see and asked
for are written. Rows stream from a server-side cursor; nothing holds the table in memory.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import BooleanField, ExpressionWrapper
from django.utils import timezone

from accounts import ledger
from accounts.models import LedgerEvent, LedgerHead, User
from incidents.audit.access import visible_events_q
from incidents.audit.filters import AuditEventFilter

EXPORT_FORMAT = "failsafe-ledger-export/1"
HASH_RULE = (
    'hash = SHA-256(prev_hash + "\\n" + JSON of the hashed fields with keys sorted, no spaces, UTF-8, '
    "at as YYYY-MM-DDTHH:MM:SS.ffffffZ); the first event's prev_hash is 64 zeros"
)

EXPORT_FIELDS = ledger.ROW_FIELDS
JSON_COLUMNS = {"actor_roles", "before", "after"}
_FLUSH_EVERY = 500


@dataclass(frozen=True)
class ExportHead:
    seq: int
    hash: str


def export_head() -> ExportHead:
    head = ledger.read_head()
    return ExportHead(head.seq, head.hash) if head else ExportHead(0, ledger.GENESIS_HASH)


def _export_rows(user: User, filters: AuditEventFilter, head: ExportHead, check: ledger.ChainCheck, chunk_size: int):
    wanted = ExpressionWrapper(visible_events_q(user) & filters.q(), output_field=BooleanField())
    rows = ledger.chain_rows(LedgerEvent.objects.filter(seq__lte=head.seq), _wanted=wanted)
    for row in rows.iterator(chunk_size=chunk_size):
        check.feed(row)
        if row[-1]:
            yield row[:-1]


def at_text(value: Any) -> str:
    return value if isinstance(value, str) else ledger.format_time(value)


def _header(user: User, filters: AuditEventFilter, head: ExportHead) -> dict[str, Any]:
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
        if name in JSON_COLUMNS:
            values.append("null" if value is None else value)  # the database's own JSON text
        elif name == "seq":
            values.append(str(value))
        elif name == "at":
            values.append('"' + at_text(value) + '"')
        else:
            values.append(json.encoder.encode_basestring(value))
    return _JSONL_EVENT % tuple(values)


def export_jsonl(*, user: User, filters: AuditEventFilter | None = None, chunk_size: int = 2000) -> Iterator[str]:
    """JSON Lines: a `head` record, one `event` record per event, a `verification` record."""
    filters = filters if filters is not None else AuditEventFilter()
    head = export_head()
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


def export_csv(*, user: User, filters: AuditEventFilter | None = None, chunk_size: int = 2000) -> Iterator[str]:
    """CSV with a header row. The first data row (record=head) carries the head's seq and hash;
    the last (record=verification) the result of verifying the chain while exporting.

    CSV is for reading in a spreadsheet: a text cell that would start a formula (=, +, -, @)
    gets a leading apostrophe, since signal titles and reasons can come from outsiders.
    JSONL is the export to re-verify hashes from."""
    filters = filters if filters is not None else AuditEventFilter()
    head = export_head()
    check = ledger.ChainCheck()
    writer = csv.writer(_Echo())
    header = _header(user, filters, head)
    note = (
        f"{EXPORT_FORMAT}; exported {header['exported_at']} by {user.username}; {HASH_RULE}; "
        "text cells starting with = + - @ are prefixed with an apostrophe (use JSONL to re-verify hashes)"
    )
    if filters.filtering:
        note += "; filters " + json.dumps(header["filters"], ensure_ascii=False)
    yield writer.writerow(CSV_COLUMNS) + writer.writerow(_csv_marker("head", head.seq, head.hash, note))
    buffer, exported = [], 0
    for row in _export_rows(user, filters, head, check, chunk_size):
        values = [_cell(value) for value in row]
        values[1] = at_text(row[1])
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
