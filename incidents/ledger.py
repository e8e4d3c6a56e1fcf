"""The hash-chained ledger (DESIGN §6): appending, canonical form, verification.

Every service calls `record(...)` inside its own transaction, after its change. The head row is
locked for the append, so appends are serialised and the chain never forks; it is the last lock
a service takes, so it adds no lock-ordering hazard.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from accounts.actor import Actor
from incidents.models import LedgerEvent, LedgerHead

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


def record(
    *,
    actor: Actor,
    verb: str,
    obj: Any = None,
    object_type: str = "",
    object_id: str | int = "",
    incident_ref: str = "",
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
) -> LedgerEvent:
    """Append one event. Must run inside the transaction of the change it records."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger.record must be called inside the transaction of the change it records")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    head, _ = LedgerHead.objects.select_for_update().get_or_create(id=1)
    # Microseconds are what the database keeps; truncating here keeps the hash reproducible.
    fields = {
        "seq": head.seq + 1,
        "at": timezone.now(),
        "actor_type": actor.kind,
        "actor_id": str(actor.token.pk if actor.token else actor.user.pk) if actor.user else "",
        "actor_name": actor.name,
        "actor_roles": actor.roles,
        "source": actor.source,
        "verb": verb,
        "object_type": object_type,
        "object_id": str(object_id),
        "incident_ref": incident_ref,
        "before": _json_safe(before),
        "after": _json_safe(after),
        "reason": reason,
        "request_id": actor.request_id,
        "client_ip": actor.client_ip,
    }
    digest = chain_hash(head.hash, fields)
    event = LedgerEvent.objects.create(prev_hash=head.hash, hash=digest, **fields)
    head.seq, head.hash = event.seq, digest
    head.save(update_fields=["seq", "hash"])
    return event


@dataclass(frozen=True)
class Verification:
    ok: bool
    events: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "head_hash": self.head_hash, "first_bad_seq": self.first_bad_seq}


def _rows(chunk_size: int) -> Iterator[dict[str, Any]]:
    return LedgerEvent.objects.order_by("seq").values(*HASHED_FIELDS, "prev_hash", "hash").iterator(chunk_size)


def verify(rows: Iterable[dict[str, Any]] | None = None, *, chunk_size: int = 5000) -> Verification:
    """Walk the chain from genesis; report the first event whose link or hash does not hold."""
    expected_prev, expected_seq, count = GENESIS_HASH, 1, 0
    for row in rows if rows is not None else _rows(chunk_size):
        seq = row["seq"]
        if seq != expected_seq:
            return Verification(False, count, expected_prev, expected_seq, f"sequence gap: expected {expected_seq}")
        if row["prev_hash"] != expected_prev:
            return Verification(False, count, expected_prev, seq, "previous-hash link broken")
        if chain_hash(expected_prev, row) != row["hash"]:
            return Verification(False, count, expected_prev, seq, "content does not match its hash")
        expected_prev, expected_seq, count = row["hash"], seq + 1, count + 1
    head = LedgerHead.objects.filter(id=1).first()
    if head is not None and (head.seq, head.hash) != (count, expected_prev):
        return Verification(False, count, expected_prev, count + 1 if head.seq > count else count, "chain truncated")
    return Verification(True, count, expected_prev)
