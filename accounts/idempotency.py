"""Idempotency keys: a request repeated with the same key runs once; the repeat gets the first answer.

One table (IdempotencyRecord) serves the API's `Idempotency-Key` header and the pages' one-time
form tokens, each key scoped to its user. `idempotency_run_once` claims the key (inserts its row)
first, runs the write in the same transaction, and stores the answer before commit:

- a second request with the same key blocks on the unique index until the first commits, then
  replays its answer; if the first rolled back (a crash, a 5xx) the second runs instead;
- a crash between the write and the stored answer rolls both back, so a retry never finds the
  write done without its answer, and never runs it twice;
- the same key with a different request is refused (IdempotencyKeyReused: 422 in the API).

Records are kept for KEEP_FOR. Older ones are ignored (a key may then be used afresh) and deleted
by the `accounts.purge_idempotency_records` beat sweep.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.actor import Actor
from accounts.models import IdempotencyRecord
from config.errors import DomainError

KEEP_FOR = timedelta(hours=24)
# 1–255 printable ASCII characters (space to tilde).
KEY_PATTERN = re.compile(r"[\x20-\x7e]{1,255}")

Channel = IdempotencyRecord.Channel


class IdempotencyKeyReused(DomainError):
    """The key was first used for a different request. 422, as the IETF Idempotency-Key draft says."""

    @property
    def status(self) -> int:
        return 422


@dataclass(frozen=True)
class Answer:
    """What the first request answered: for the API a response, for a page where it led."""

    status: int
    content_type: str
    body: str


@dataclass(frozen=True)
class Outcome:
    answer: Answer | None  # None: the run chose not to keep its answer, and its claim was rolled back
    replayed: bool


def validate_key(key: str, *, field: str) -> str:
    if not KEY_PATTERN.fullmatch(key):
        raise DomainError.invalid_field(field, "Must be 1 to 255 printable ASCII characters.")
    return key


def fingerprint(*parts: str) -> str:
    """A SHA-256 over the parts of a request that make it "the same request"."""
    digest = hashlib.sha256()
    for part in parts:
        encoded = part.encode("utf-8", "surrogatepass")
        digest.update(f"{len(encoded)}:".encode() + encoded)  # length-prefixed: parts cannot run together
    return digest.hexdigest()


def _claim(user, channel: str, key: str, print_: str, now: datetime) -> tuple[IdempotencyRecord, bool]:
    """(record, claimed): our fresh row, or the committed one of an earlier request with this key."""
    rows = IdempotencyRecord.objects.filter(user=user, channel=channel, key=key)
    existing = rows.filter(created_at__gt=now - KEEP_FOR).first()
    if existing is not None:
        return existing, False
    rows.delete()  # an expired record: the key may be used again
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                user=user, channel=channel, key=key, fingerprint=print_, created_at=now
            )
        return record, True
    except IntegrityError:
        # A concurrent request held this key; the insert waited for it to commit. Replay its answer.
        return rows.get(), False


def idempotency_run_once(
    *, actor: Actor, channel: str, key: str, fingerprint: str, run: Callable[[], Answer | None], field: str = "key"
) -> Outcome:
    """Run `run` once per (user, channel, key); a repeat gets the stored answer instead.

    `run` returns the answer to keep, or None to keep nothing (e.g. a 5xx, a refused form): then the
    claim and everything `run` wrote are rolled back, and the key may be tried again. `field` names
    the key in a refusal (the header, or the form field).
    """
    if actor.user is None:
        raise DomainError("Idempotency keys belong to a signed-in user.", code="forbidden")
    with transaction.atomic():
        record, claimed = _claim(actor.user, channel, key, fingerprint, timezone.now())
        if not claimed:
            if record.fingerprint != fingerprint:
                message = "This key was already used for a different request; use a new key for a new request."
                raise IdempotencyKeyReused(message, code="conflict", fields={field: [message]})
            return Outcome(Answer(record.status_code, record.content_type, record.body), replayed=True)
        answer = run()
        if answer is None:
            transaction.set_rollback(True)
            return Outcome(None, replayed=False)
        record.status_code, record.content_type, record.body = answer.status, answer.content_type, answer.body
        record.save(update_fields=["status_code", "content_type", "body"])
        return Outcome(answer, replayed=False)


def idempotency_records_purge(*, now: datetime | None = None) -> int:
    """Delete records past KEEP_FOR (they are ignored already); returns how many."""
    cutoff = (now or timezone.now()) - KEEP_FOR
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lte=cutoff).delete()
    return deleted
