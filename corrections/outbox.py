"""Handing outbox entries to the broker. Services call send_on_commit; the relay calls send."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from corrections.models import OutboxEntry

log = logging.getLogger(__name__)


def send(entry_ids: list[int]) -> int:
    """A broker outage is logged, not raised: the entry stays in the outbox and the relay resends it."""
    from corrections.tasks import dispatch_outbox_entry  # tasks import services, which import this

    sent = 0
    for entry_id in entry_ids:
        try:
            dispatch_outbox_entry.apply_async(args=[entry_id])
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
