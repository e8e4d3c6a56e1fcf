"""The hash-chained ledger (DESIGN §6): appending, canonical form, verification.

Every service calls `record(...)` inside its own transaction, after its change. The head row is
locked for the append, so appends are serialised and the chain never forks; it is the last lock
a service takes, so it adds no lock-ordering hazard.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F, Func, QuerySet, TextField, Value
from django.db.models.expressions import Combinable
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from accounts.actor import Actor
from accounts.models import LedgerEvent, LedgerHead

GENESIS_HASH = "0" * 64

# The fields covered by the hash, in their canonical order.
HASHED_FIELDS = (
    "seq", "at", "actor_type", "actor_id", "actor_name", "actor_roles", "source", "verb",
    "object_type", "object_id", "incident_ref", "before", "after", "reason", "request_id", "client_ip",
)  # fmt: skip


def _json_safe(value: Any) -> Any:
    """Round-trip through JSON so what we hash is exactly what the JSON column stores."""
    if value is None:
        return None
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def format_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(fields: dict[str, Any]) -> bytes:
    body = {name: fields[name] for name in HASHED_FIELDS}
    body["at"] = format_time(body["at"])
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(fields)).hexdigest()


def lock_head() -> LedgerHead:
    """The chain's head row, locked: every append takes it last, so appends are serialised."""
    head, _ = LedgerHead.objects.select_for_update().get_or_create(id=1)
    return head


def record(
    *,
    actor: Actor,
    verb: StrEnum | str,
    obj: Any = None,
    object_type: str = "",
    object_id: str | int = "",
    incident_ref: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> LedgerEvent:
    """Append one event. Must run inside the transaction of the change it records.

    `verb` is a member of the app's verb enumeration (accounts.events), stored as its text."""
    entry = Entry(verb=verb, obj=obj, object_type=object_type, object_id=object_id, incident_ref=incident_ref,
                  before=before, after=after, reason=reason)  # fmt: skip
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger.record must be called inside the transaction of the change it records")
    head = lock_head()
    fields = _fields(actor, entry, seq=head.seq + 1)
    digest = chain_hash(head.hash, fields)
    event = LedgerEvent.objects.create(prev_hash=head.hash, hash=digest, **fields)
    head.seq, head.hash = event.seq, digest
    head.save(update_fields=["seq", "hash"])
    return event


@dataclass(frozen=True)
class Entry:
    """One event of `record_many`: the arguments of `record` but the actor."""

    verb: StrEnum | str
    obj: Any = None
    object_type: str = ""
    object_id: str | int = ""
    incident_ref: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str = ""


def record_many(*, actor: Actor, entries: Sequence[Entry]) -> list[LedgerEvent]:
    """Append several events of one actor, in order, with one lock of the head and one INSERT:
    the same chain as calling `record` for each (a batch of signals from one delivery)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger.record_many must be called inside the transaction of the change it records")
    if not entries:
        return []
    head = lock_head()
    events, prev = [], head.hash
    for n, entry in enumerate(entries, start=1):
        fields = _fields(actor, entry, seq=head.seq + n)
        digest = chain_hash(prev, fields)
        events.append(LedgerEvent(prev_hash=prev, hash=digest, **fields))
        prev = digest
    LedgerEvent.objects.bulk_create(events)
    head.seq, head.hash = events[-1].seq, prev
    head.save(update_fields=["seq", "hash"])
    return events


def _fields(actor: Actor, entry: Entry, *, seq: int) -> dict[str, Any]:
    object_type, object_id = entry.object_type, entry.object_id
    if entry.obj is not None:
        object_type = object_type or entry.obj._meta.label_lower
        object_id = object_id or entry.obj.pk
    # Microseconds are what the database keeps; truncating here keeps the hash reproducible.
    return {
        "seq": seq,
        "at": timezone.now(),
        "actor_type": actor.kind,
        "actor_id": _actor_id(actor),
        "actor_name": actor.name,
        "actor_roles": actor.roles,
        "source": actor.source,
        "verb": str(entry.verb),
        "object_type": object_type,
        "object_id": str(object_id),
        "incident_ref": entry.incident_ref,
        "before": _json_safe(entry.before),
        "after": _json_safe(entry.after),
        "reason": entry.reason,
        "request_id": actor.request_id,
        "client_ip": actor.client_ip,
    }


def _actor_id(actor: Actor) -> str:
    if actor.user is not None:
        return str(actor.token.pk if actor.token else actor.user.pk)
    return str(actor.integration_id) if actor.integration_id is not None else ""


@dataclass(frozen=True)
class Verification:
    """The result of walking the chain. On a break, `events` and `head_hash` describe the intact
    prefix (the events before `first_bad_seq`)."""

    ok: bool
    events: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "head_hash": self.head_hash, "first_bad_seq": self.first_bad_seq}


# --- fast verification -------------------------------------------------------------------------
# Verifying a million events in seconds means not building model instances or dicts: rows come
# from the database as tuples with `at` already in canonical text and the JSON columns as their
# stored text, and the canonical bytes are assembled from a template. `canonical()` stays the
# definition; tests/incidents/test_ledger.py proves the two agree byte for byte.

# (seq, at, ..., client_ip, prev_hash, hash): HASHED_FIELDS then the two hashes, in this order.
ROW_FIELDS = (*HASHED_FIELDS, "prev_hash", "hash")
_JSON_FIELDS = frozenset({"actor_roles", "before", "after"})
_PREV, _HASH = len(HASHED_FIELDS), len(HASHED_FIELDS) + 1
(_SEQ, _AT, _ACTOR_TYPE, _ACTOR_ID, _ACTOR_NAME, _ACTOR_ROLES, _SOURCE, _VERB, _OBJECT_TYPE, _OBJECT_ID,
 _INCIDENT_REF, _BEFORE, _AFTER, _REASON, _REQUEST_ID, _CLIENT_IP) = range(len(HASHED_FIELDS))  # fmt: skip
_CANONICAL_ORDER = (
    "actor_id", "actor_name", "actor_roles", "actor_type", "after", "at", "before", "client_ip", "incident_ref",
    "object_id", "object_type", "reason", "request_id", "seq", "source", "verb",
)  # fmt: skip
if tuple(sorted(HASHED_FIELDS)) != _CANONICAL_ORDER:  # pragma: no cover - guards ChainCheck.canonical
    raise ImportError("HASHED_FIELDS changed: update ChainCheck.canonical and _CANONICAL_ORDER together")
_TEMPLATE = "{" + ",".join(
    f'"{name}":"%s"' if name == "at" else f'"{name}":%s' for name in _CANONICAL_ORDER
) + "}"  # fmt: skip
_encode_str = json.encoder.encode_basestring  # what json.dumps uses with ensure_ascii=False
_encode_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


class CanonicalTime(Func):
    """`at` as canonical text (see format_time), computed by PostgreSQL: 2026-01-31T12:00:00.000000Z."""

    template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    output_field = TextField()


def chain_rows(queryset: QuerySet[LedgerEvent] | None = None, **extra: Any) -> QuerySet[LedgerEvent, tuple[Any, ...]]:
    """`queryset` (default: every event) as tuples in ROW_FIELDS order, then any `extra`
    annotations, ordered by seq. Feed the tuples to ChainCheck."""
    queryset = LedgerEvent.objects.all() if queryset is None else queryset
    columns: dict[str, Combinable] = {
        name: Cast(name, TextField()) if name in _JSON_FIELDS else F(name) for name in HASHED_FIELDS if name != "seq"
    }
    if connection.vendor == "postgresql":
        columns["at"] = CanonicalTime("at")
    else:
        columns["at"] = F("at")  # formatted by _normalise_row
    aliases = {f"_c_{name}": expr for name, expr in columns.items()}
    names = ["seq", *(f"_c_{name}" if name != "seq" else "seq" for name in HASHED_FIELDS[1:])]
    return queryset.annotate(**aliases, **extra).order_by("seq").values_list(*names, "prev_hash", "hash", *extra)


class JsonText(Func):
    """A text column as a JSON string, escaped by PostgreSQL exactly as json.dumps(ensure_ascii=False)
    escapes it: \\" \\\\ \\b \\f \\n \\r \\t, other control characters as \\u00xx, the rest as is."""

    template = "to_json(%(expressions)s)::text"
    output_field = TextField()


def canonical_parts(queryset: QuerySet[LedgerEvent]) -> QuerySet[LedgerEvent, tuple[Any, ...]]:
    """PostgreSQL only: each event as (seq, prev_hash, hash, s0, roles, s1, after, s2, before, s3), where
    s0 + canonical(roles) + s1 + canonical(after) + s2 + canonical(before) + s3 is the event's canonical
    form. The database writes the fixed keys, the escaped strings and the time, on its own core while
    Python hashes the chunk before; Python re-encodes only the three JSON values (cached)."""
    pieces: list[list[Combinable]] = [[]]
    for name in _CANONICAL_ORDER:
        key = f'"{name}":'
        if name in _JSON_FIELDS:
            pieces[-1].append(Value(("," if pieces[-1] or len(pieces) > 1 else "{") + key))
            pieces.append([])
            continue
        prefix = "{" if name == _CANONICAL_ORDER[0] else ","
        value: Combinable = (
            CanonicalTime("at") if name == "at" else Cast("seq", TextField()) if name == "seq" else JsonText(name)
        )
        if name == "at":
            pieces[-1] += [Value(f'{prefix}{key}"'), value, Value('"')]
        else:
            pieces[-1] += [Value(prefix + key), value]
    pieces[-1].append(Value("}"))
    texts = {f"_s{i}": Concat(*part, output_field=TextField()) for i, part in enumerate(pieces)}
    jsons = {f"_j_{name}": Cast(name, TextField()) for name in ("actor_roles", "after", "before")}
    names = ("seq", "prev_hash", "hash", "_s0", "_j_actor_roles", "_s1", "_j_after", "_s2", "_j_before", "_s3")
    return queryset.annotate(**texts, **jsons).order_by("seq").values_list(*names)


class ChainCheck:
    """Walks rows (tuples from chain_rows, in seq order) and remembers the first break."""

    def __init__(self) -> None:
        self.expected_prev = GENESIS_HASH
        self.expected_seq = 1
        self.count = 0
        self.first_bad_seq: int | None = None
        self.problem = ""
        self._json_cache: dict[str | None, str] = {}
        self._needs_time = connection.vendor != "postgresql"

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None

    def feed(self, row: tuple[Any, ...]) -> bool:
        """Check one chain_rows tuple; False once the chain is broken (later rows are not checked)."""
        return self._link(row[_SEQ], row[_PREV], row[_HASH], lambda: self.canonical(row))

    def feed_parts(self, row: tuple[Any, ...]) -> bool:
        """Check one canonical_parts tuple: PostgreSQL has already written every field but the three
        JSON ones as canonical text, so this only joins the pieces (see canonical_parts)."""
        seq, prev, digest, s0, roles, s1, after, s2, before, s3 = row
        j = self._json
        return self._link(seq, prev, digest, lambda: (s0 + j(roles) + s1 + j(after) + s2 + j(before) + s3).encode())

    def _link(self, seq: int, prev: str, digest: str, canonical: Callable[[], bytes]) -> bool:
        if self.first_bad_seq is not None:
            return False
        if seq != self.expected_seq:
            return self._broken(self.expected_seq, f"sequence gap: expected {self.expected_seq}")
        if prev != self.expected_prev:
            return self._broken(seq, "previous-hash link broken")
        if hashlib.sha256(prev.encode() + b"\n" + canonical()).hexdigest() != digest:
            return self._broken(seq, "content does not match its hash")
        self.expected_prev, self.expected_seq, self.count = digest, seq + 1, self.count + 1
        return True

    def feed_all(self, rows: Iterable[tuple[Any, ...]], *, parts: bool = False) -> None:
        """Feed rows (chain_rows tuples, or canonical_parts tuples with `parts`) until the end or the
        first break."""
        feed = self.feed_parts if parts else self.feed
        for row in rows:
            if not feed(row):
                return

    def canonical(self, row: tuple[Any, ...]) -> bytes:
        """canonical() of a chain_rows tuple, without building a dict: the fields in sorted-key
        order, spelt out because this runs once per event (see _CANONICAL_ORDER)."""
        at = format_time(row[_AT]) if self._needs_time else row[_AT]
        json_text, text = self._json, _encode_str
        return (
            _TEMPLATE
            % (
                text(row[_ACTOR_ID]), text(row[_ACTOR_NAME]), json_text(row[_ACTOR_ROLES]), text(row[_ACTOR_TYPE]),
                json_text(row[_AFTER]), at, json_text(row[_BEFORE]), text(row[_CLIENT_IP]), text(row[_INCIDENT_REF]),
                text(row[_OBJECT_ID]), text(row[_OBJECT_TYPE]), text(row[_REASON]), text(row[_REQUEST_ID]),
                row[_SEQ], text(row[_SOURCE]), text(row[_VERB]),
            )
        ).encode()  # fmt: skip

    def _json(self, text: str | None) -> str:
        # The same few role lists and before/after values recur: parse each distinct text once.
        try:
            return self._json_cache[text]
        except KeyError:
            if len(self._json_cache) > 20_000:
                self._json_cache.clear()
            value = self._json_cache[text] = "null" if text is None else _encode_json(json.loads(text))
            return value

    def _broken(self, seq: int, problem: str) -> bool:
        self.first_bad_seq, self.problem = seq, problem
        return False

    def result(self, head: LedgerHead | None) -> Verification:
        if self.first_bad_seq is not None:
            return Verification(False, self.count, self.expected_prev, self.first_bad_seq, self.problem)
        if head is not None and (head.seq, head.hash) != (self.count, self.expected_prev):
            bad_seq = self.count + 1 if head.seq > self.count else self.count
            return Verification(False, self.count, self.expected_prev, bad_seq, "chain truncated")
        return Verification(True, self.count, self.expected_prev)


def read_head() -> LedgerHead | None:
    return LedgerHead.objects.filter(id=1).first()


def verify(rows: Iterable[dict[str, Any]] | None = None, *, chunk_size: int = 5000) -> Verification:
    """Walk the chain from genesis; report the first event whose link or hash does not hold.

    The head is read first and only events up to it are walked, so appends made meanwhile
    neither slow the walk down nor look like tampering.
    """
    if rows is not None:
        return _verify_dicts(rows)
    head = read_head()
    check = ChainCheck()
    queryset = LedgerEvent.objects.filter(seq__lte=head.seq) if head is not None else None
    if connection.vendor == "postgresql":
        everything = LedgerEvent.objects.all() if queryset is None else queryset
        with transaction.atomic():  # a server-side cursor lives inside a transaction
            check.feed_all(prefetched(canonical_parts(everything), chunk_size=chunk_size), parts=True)
    else:
        check.feed_all(chain_rows(queryset).iterator(chunk_size=chunk_size))
    return check.result(head)


def prefetched(
    rows: QuerySet[LedgerEvent, tuple[Any, ...]], *, chunk_size: int = 5000, depth: int = 2
) -> Iterator[tuple[Any, ...]]:
    """Stream a values_list queryset through a server-side cursor, fetching the next chunk on a
    second thread while the caller works on this one: PostgreSQL produces rows while Python hashes,
    instead of each waiting for the other. Must run inside a transaction (PostgreSQL only)."""
    sql, params = rows.query.sql_with_params()
    cursor = connection.connection.cursor(name=f"ledger_prefetch_{threading.get_ident()}")
    chunks: queue.Queue[list[tuple[Any, ...]] | BaseException] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def pump() -> None:
        try:
            cursor.execute(sql, params)
            while not stop.is_set():
                chunk = cursor.fetchmany(chunk_size)
                chunks.put(chunk)
                if not chunk:
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which re-raises it
            chunks.put(error)

    worker = threading.Thread(target=pump, name="ledger-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            chunk = chunks.get()
            if isinstance(chunk, BaseException):
                raise chunk
            if not chunk:
                return
            yield from chunk
    finally:
        stop.set()
        while worker.is_alive():  # unblock a pump waiting on a full queue, then let it finish
            with contextlib.suppress(queue.Empty):
                chunks.get(timeout=0.05)
        cursor.close()


def _verify_dicts(rows: Iterable[dict[str, Any]]) -> Verification:
    """The plain definition, for rows given as dicts (e.g. from an export)."""
    expected_prev, expected_seq, count = GENESIS_HASH, 1, 0
    for row in rows:
        seq = row["seq"]
        if seq != expected_seq:
            return Verification(False, count, expected_prev, expected_seq, f"sequence gap: expected {expected_seq}")
        if row["prev_hash"] != expected_prev:
            return Verification(False, count, expected_prev, seq, "previous-hash link broken")
        if chain_hash(expected_prev, row) != row["hash"]:
            return Verification(False, count, expected_prev, seq, "content does not match its hash")
        expected_prev, expected_seq, count = row["hash"], seq + 1, count + 1
    return _with_head(count, expected_prev)


def _with_head(count: int, head_hash: str) -> Verification:
    check = ChainCheck()
    check.count, check.expected_prev = count, head_hash
    return check.result(read_head())
