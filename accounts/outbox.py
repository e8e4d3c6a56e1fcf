"""The outbox machinery every app shares: rows written in the transaction of the change they carry
out, handed to Celery after commit by task name, resent by a beat relay when the broker never got
them, claimed by a worker under a lease with a fencing token, retried with capped jittered backoff.

corrections.OutboxEntry (dispatch to an actuator) and incidents.Delivery (a notification to one
recipient on one channel) both derive from OutboxRow; each app keeps what is its own (what a claim
checks, what a result means) and uses the pieces here for the rest.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TypeVar

from celery import current_app
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

log = logging.getLogger(__name__)
_T = TypeVar("_T")


def setting(name: str, default: _T) -> _T:
    """A tunable from settings. django.conf.settings is untyped: the default says what type it is."""
    value: _T = getattr(settings, name, default)
    return value


class OutboxRow(models.Model):
    """The delivery bookkeeping of one unit of outgoing work."""

    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="Last handed to the broker.")
    send_count = models.PositiveIntegerField(default=0)
    # A worker's lease on the row; the token fences out a worker whose lease ran out.
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    attempt_count = models.PositiveIntegerField(default=0)
    # The retry budget is a time, not a count: it runs from the first transient failure.
    failing_since = models.DateTimeField(null=True, blank=True, help_text="First transient failure of this entry.")
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="When the next attempt is due.")
    last_error = models.CharField(max_length=1000, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


# A delivery this much ahead of the row's next attempt is early (a duplicate, or the relay):
# it is dropped rather than attempted, so no repeat of the message shortens the backoff.
EARLY_TOLERANCE = timedelta(seconds=1)


def send_by_name(model: type[OutboxRow], task_name: str, ids: Iterable[int]) -> int:
    """Hand each row to the broker by task name; returns how many went.

    A broker outage is logged, not raised: the rows stay unsent and the relay resends them. The
    first failure stops the batch, so an outage costs one connect timeout, not one per row.
    """
    pending = list(ids)
    handed: list[int] = []
    for pk in pending:
        try:
            current_app.send_task(task_name, args=[pk])
        except Exception as exc:  # noqa: BLE001 - any broker failure; the relay will resend
            log.warning("broker unavailable (%s): %d %s rows left for the relay", type(exc).__name__,
                        len(pending) - len(handed), model._meta.label)  # fmt: skip
            break
        handed.append(pk)
    # One UPDATE for the batch: if this process dies before it, the relay resends and the claim drops repeats.
    for start in range(0, len(handed), 500):
        chunk = handed[start : start + 500]
        model._default_manager.filter(pk__in=chunk).update(sent_at=timezone.now(), send_count=F("send_count") + 1)
    return len(handed)


def relay_due(model: type[OutboxRow], *, now: datetime, resend_after: float, limit: int = 500) -> list[int]:
    """Rows to resend: not done, not claimed, not waiting for their next attempt, not sent recently.

    A row waiting on a Celery countdown is resent only once that attempt is overdue by the resend
    delay: its retry message died with a worker, or never reached the broker.
    """
    resend_before = now - timedelta(seconds=resend_after)
    return list(
        model._default_manager.filter(done_at__isnull=True, created_at__lte=now - timedelta(seconds=2))
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(Q(sent_at__isnull=True) | Q(sent_at__lt=resend_before))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=resend_before))
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )


def backoff_seconds(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff, capped, with "equal" jitter: between half and all of the step.

    Not full jitter: a floor of half the step bounds how many attempts fit in the time budget, and
    the cap bounds how long a service that is back waits to be noticed.
    """
    step = min(cap, base * 2 ** min(attempt - 1, 32))
    return random.uniform(step / 2, step)  # noqa: S311 - jitter, not crypto
