"""Handing outbox entries to the broker. Services call send_on_commit; the relay calls send.

The task is sent by name and routed by CELERY_TASK_ROUTES: this module needs nothing from
corrections.tasks, whose worker code writes through the services that call this one.
"""

from __future__ import annotations

import logging

from celery import current_app
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from corrections.models import OutboxEntry

log = logging.getLogger(__name__)

DISPATCH_TASK = "corrections.dispatch_outbox_entry"


def send(entry_ids: list[int]) -> int:
    """A broker outage is logged, not raised: the entry stays in the outbox and the relay resends it."""
    sent = 0
    for entry_id in entry_ids:
        try:
            current_app.send_task(DISPATCH_TASK, args=[entry_id])
        except Exception as exc:  # noqa: BLE001 - any broker failure; the relay will resend
            # The broker is down: the rest would each wait out the connect timeout too.
            log.warning("broker unavailable (%s): %d outbox entries left for the relay", type(exc).__name__,
                        len(entry_ids) - sent)  # fmt: skip
            break
        OutboxEntry.objects.filter(pk=entry_id).update(sent_at=timezone.now(), send_count=F("send_count") + 1)
        sent += 1
    return sent


def send_on_commit(entry: OutboxEntry) -> None:
    transaction.on_commit(lambda: send([entry.pk]))
