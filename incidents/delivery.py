"""The worker side of notifications: from a Delivery row to a channel (issue 11 §1).

A delivery is claimed under a lease with a fencing token (as corrections' dispatch does), so two
runs of the task at once send it once; the channel is called outside any transaction with the
delivery's idempotency key; a transient error is retried with capped jittered backoff for a time
budget (FAILSAFE_NOTIFY_RETRY_SECONDS: mail servers come back), a permanent one fails it at once.
A delivery sent is never sent again. Deferred deliveries (quiet hours) wait for their time.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts import ledger
from accounts import outbox as shared_outbox
from accounts.actor import Actor
from accounts.outbox import EARLY_TOLERANCE, setting
from config.errors import DomainError
from incidents import locks
from incidents.channels import base as channels
from incidents.channels.base import DeliveryError, Message
from incidents.events import IncidentEvent
from incidents.models.notifications import Delivery, DeliveryState
from incidents.notifications import incident_url, send

log = logging.getLogger(__name__)


def retry_seconds() -> float:
    return setting("FAILSAFE_NOTIFY_RETRY_SECONDS", 6 * 3600.0)


def backoff_seconds(attempt: int) -> float:
    return shared_outbox.backoff_seconds(
        attempt,
        base=setting("FAILSAFE_NOTIFY_BACKOFF_BASE", 2.0),
        cap=setting("FAILSAFE_NOTIFY_BACKOFF_CAP", 300.0),
    )


@dataclass(frozen=True)
class Outcome:
    result: str  # sent, busy, early, skipped, retry, failed
    retry_in: float | None = None


def message_of(delivery: Delivery) -> Message:
    notification = delivery.notification
    ref = notification.incident.ref if notification.incident is not None else ""
    return Message(
        event=notification.event,
        subject=delivery.subject,
        text=delivery.text,
        url=incident_url(ref) if ref else "",
        incident_ref=ref,
        ack_url=notification.ack_url,
        redacted=delivery.redacted,
        # Machine-readable fields for webhooks: for a redacted message, only these three (DESIGN §7).
        data={"ref": ref, "event": notification.event, "needs": notification.needs} if delivery.redacted else {},
    )


def _claim(delivery_id: int, now: datetime) -> Delivery | Outcome:
    """Take the delivery's lease: one conditional UPDATE (it re-checks its conditions against a
    concurrent claim, so two runs at once cannot both win), then read what to send. Only when it
    claims nothing is the row read again, to say why."""
    token = uuid.uuid4().hex
    claimed = (
        Delivery.objects.filter(pk=delivery_id, done_at__isnull=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + EARLY_TOLERANCE))
        .update(
            claimed_until=now + timedelta(seconds=setting("FAILSAFE_NOTIFY_LEASE_SECONDS", 60)),
            claim_token=token,
            attempt_count=F("attempt_count") + 1,
            next_attempt_at=None,
            state=DeliveryState.PENDING,
        )
    )
    if not claimed:
        row = Delivery.objects.filter(pk=delivery_id).values("done_at", "claimed_until").first()
        if row is None or row["done_at"] is not None:
            return Outcome("skipped")  # sent (or failed for good) already: never twice
        if row["claimed_until"] and row["claimed_until"] > now:
            return Outcome("busy")
        return Outcome("early")  # its countdown, or the relay once it is due, brings it back
    delivery = Delivery.objects.select_related("notification__incident").get(pk=delivery_id)
    if delivery.claim_token != token:
        return Outcome("busy")  # another run claimed it between our update and this read (a lease ran out)
    return delivery


def delivery_deliver(*, delivery_id: int, now: datetime | None = None) -> Outcome:
    """Claim the delivery, hand it to its channel, record what happened."""
    claimed = _claim(delivery_id, now or timezone.now())
    if isinstance(claimed, Outcome):
        return claimed
    delivery = claimed
    error, transient = "", False
    try:
        channel = channels.get(delivery.channel)
    except KeyError:
        error = f"No channel called {delivery.channel!r} is installed."
    else:
        message = message_of(delivery)
        try:
            channel.send(address=delivery.address, message=message, idempotency_key=delivery.idempotency_key)
        except DeliveryError as exc:
            error, transient = str(exc) or type(exc).__name__, exc.transient
        except Exception as exc:  # noqa: BLE001 - a connector's bug or an outage it did not classify: retried
            log.exception("channel %s raised on delivery %s", delivery.channel, delivery.pk)
            error, transient = f"{type(exc).__name__}: {exc}", True
    return _finish(delivery, error=error, transient=transient)


def _finish(claimed: Delivery, *, error: str, transient: bool) -> Outcome:
    now = timezone.now()
    if not error:  # the common case in one statement; fenced by the claim's token
        sent = Delivery.objects.filter(pk=claimed.pk, claim_token=claimed.claim_token, done_at__isnull=True).update(
            state=DeliveryState.SENT, done_at=now, claimed_until=None
        )
        return Outcome("sent" if sent else "busy")
    with transaction.atomic():
        delivery = locks.lock_delivery(claimed.pk)
        if delivery.claim_token != claimed.claim_token or delivery.done_at is not None:
            return Outcome("busy")  # fenced out: our lease ran out and another run owns it now
        delivery.claimed_until = None
        if not error:
            delivery.state, delivery.done_at = DeliveryState.SENT, now
            delivery.save(update_fields=["state", "done_at", "claimed_until"])
            return Outcome("sent")
        delivery.last_error = error[:1000]
        if transient:
            delivery.failing_since = delivery.failing_since or now
            failing_for = (now - delivery.failing_since).total_seconds()
            if failing_for < retry_seconds() and delivery.attempt_count < setting("FAILSAFE_NOTIFY_ATTEMPT_CAP", 500):
                retry_in = backoff_seconds(delivery.attempt_count)
                delivery.next_attempt_at = now + timedelta(seconds=retry_in)
                delivery.save(update_fields=["claimed_until", "last_error", "failing_since", "next_attempt_at"])
                return Outcome("retry", retry_in=retry_in)
            delivery.last_error = f"{error} (gave up after {delivery.attempt_count} attempts over {failing_for:.0f} s)"[
                :1000
            ]
        delivery.state, delivery.done_at = DeliveryState.FAILED, now
        delivery.save(update_fields=["state", "done_at", "claimed_until", "last_error", "failing_since"])
        log.warning("notification delivery %s failed: %s", delivery.pk, delivery.last_error)
        return Outcome("failed")


def deliveries_relay(*, now: datetime | None = None) -> int:
    """Resend deliveries the broker never got, whose retry message was lost, or whose quiet hours ended."""
    now = now or timezone.now()
    resend_after = setting("FAILSAFE_OUTBOX_RESEND_AFTER", 10)
    return send(shared_outbox.relay_due(Delivery, now=now, resend_after=resend_after))


@transaction.atomic
def delivery_resend(*, actor: Actor, delivery: Delivery) -> Delivery:
    """Try a failed delivery again, from scratch (a new retry budget); ledgered."""
    delivery = locks.lock_delivery(delivery.pk)
    if delivery.state != DeliveryState.FAILED:
        raise DomainError(f"Only a failed delivery can be resent; this one is {delivery.state}.", code="conflict")
    delivery.state = DeliveryState.PENDING
    delivery.done_at = delivery.failing_since = delivery.next_attempt_at = delivery.claimed_until = None
    delivery.save(update_fields=["state", "done_at", "failing_since", "next_attempt_at", "claimed_until"])
    notification = delivery.notification
    recipient = delivery.user.username if delivery.user is not None else delivery.address
    ledger.record(
        actor=actor,
        verb=IncidentEvent.NOTIFICATION_RESENT,
        obj=delivery,
        incident_ref=notification.incident.ref if notification.incident is not None else "",
        before={"state": DeliveryState.FAILED.value, "last_error": delivery.last_error},
        after={"state": DeliveryState.PENDING.value, "channel": delivery.channel, "recipient": recipient,
               "event": notification.event},
    )  # fmt: skip
    pk = delivery.pk
    transaction.on_commit(lambda: send([pk]))
    return delivery


def deliveries_run_pending(*, now: datetime | None = None) -> list[Outcome]:
    """Deliver, in this process, every delivery that is due now (tests, and the benchmark's baseline)."""
    now = now or timezone.now()
    due = Delivery.objects.filter(done_at__isnull=True).order_by("id").values_list("pk", flat=True)
    return [delivery_deliver(delivery_id=pk, now=now) for pk in list(due)]
