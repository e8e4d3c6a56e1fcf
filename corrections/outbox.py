"""Handing outbox entries to the broker. Services call send_on_commit; the relay calls send.

The task is sent by name and routed by CELERY_TASK_ROUTES: this module needs nothing from
corrections.tasks, whose worker code writes through the services that call this one. The generic
machinery (send by name, relay query, backoff) is accounts.outbox, shared with notifications.
"""

from __future__ import annotations

from django.db import transaction

from accounts.outbox import send_by_name
from corrections.models import OutboxEntry

DISPATCH_TASK = "corrections.dispatch_outbox_entry"


def send(entry_ids: list[int]) -> int:
    """A broker outage is logged, not raised: the entry stays in the outbox and the relay resends it."""
    return send_by_name(OutboxEntry, DISPATCH_TASK, entry_ids)


def send_on_commit(entry: OutboxEntry) -> None:
    transaction.on_commit(lambda: send([entry.pk]))
