"""The worker side of DESIGN §5: from an outbox entry to the developer's control plane.

An entry is claimed under a lease with a fencing token, so a worker whose lease ran out (it
hung, or was killed) cannot record a result over a newer claim. Every call carries the entry's
idempotency key, so delivery is at-least-once but the effect at the actuator is exactly-once.
The HTTP call happens outside any transaction: no row is locked while we wait on the network.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.actor import Actor
from accounts.roles import Role
from corrections import locks
from corrections.connectors import CallResult, connector_for
from corrections.models import Actuator, Correction, DispatchAttempt, OutboxEntry, State
from corrections.outbox import send
from corrections.services import configuration, decisions, worker
from incidents.models import Deployment, Incident
from incidents.notifications import Need, incident_url, members_of, notify

log = logging.getLogger(__name__)
WORKER = Actor.system("dispatch")
_T = TypeVar("_T")


def _setting(name: str, default: _T) -> _T:
    """A tunable from settings. django.conf.settings is untyped: the default says what type it is."""
    value: _T = getattr(settings, name, default)
    return value


def retry_seconds() -> float:
    return _setting("FAILSAFE_DISPATCH_RETRY_SECONDS", 120.0)


def attempt_cap() -> int:
    return _setting("FAILSAFE_DISPATCH_ATTEMPT_CAP", 500)


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff, capped, with "equal" jitter: between half and all of the step.

    Not full jitter: a floor of half the step bounds how many attempts fit in the time budget, and
    the cap bounds how long an actuator that is back waits to be noticed.
    """
    base, cap = _setting("FAILSAFE_DISPATCH_BACKOFF_BASE", 0.5), _setting("FAILSAFE_DISPATCH_BACKOFF_CAP", 15.0)
    step = min(cap, base * 2 ** min(attempt - 1, 32))
    return random.uniform(step / 2, step)  # noqa: S311 - jitter, not crypto


# A delivery this much ahead of the entry's next attempt is early (a duplicate, or the relay):
# it is dropped rather than attempted, so no repeat of the message shortens the backoff.
EARLY_TOLERANCE = timedelta(seconds=1)


# --- relaying ----------------------------------------------------------------------------------


def outbox_relay(*, now: datetime | None = None) -> int:
    """Resend entries that are not done, not claimed, not waiting for their next attempt, and were
    not sent recently. An entry waiting on a Celery countdown is resent only once that attempt is
    overdue by the resend delay: its retry message died with a worker, or never reached the broker."""
    now = now or timezone.now()
    resend_before = now - timedelta(seconds=_setting("FAILSAFE_OUTBOX_RESEND_AFTER", 10))
    stale = (
        OutboxEntry.objects.filter(done_at__isnull=True, created_at__lte=now - timedelta(seconds=2))
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(Q(sent_at__isnull=True) | Q(sent_at__lt=resend_before))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=resend_before))
        .order_by("created_at")
        .values_list("pk", flat=True)[:500]
    )
    return send(list(stale))


# --- dispatching one entry ---------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    result: str  # done, busy, early, skipped, retry, failed
    retry_in: float | None = None


APPLY_FROM = (State.APPROVED, State.QUEUED, State.APPLYING)
LIFT_FROM = (State.LIFTING, State.EXPIRED)


def _targets(correction: Correction) -> list[tuple[Deployment, Actuator]]:
    """The actuators to call: the deployment's, or (model-wide) one per distinct actuator of the model."""
    if correction.deployment is not None:  # no query when deployment_id is None
        deployments = [correction.deployment]
    else:
        deployments = list(Deployment.objects.filter(model=correction.model, active=True).order_by("slug"))
    actuators = {a.deployment_id: a for a in Actuator.objects.filter(deployment__in=deployments)}
    targets: list[tuple[Deployment, Actuator]] = []
    seen: set[str] = set()
    for deployment in deployments:
        actuator = actuators.get(deployment.pk)
        if actuator is None:
            raise _NoActuator(deployment.slug)
        if actuator.base_url not in seen:
            seen.add(actuator.base_url)
            targets.append((deployment, actuator))
    return targets


class _NoActuator(Exception):
    pass


def payload_for(correction: Correction) -> dict[str, Any]:
    return {
        "correction_id": str(correction.pk),
        "type": correction.type,
        "deployment": correction.deployment.slug if correction.deployment is not None else None,
        "model": correction.model.name,
        "params": correction.params,
        "expires_at": correction.expires_at.isoformat() if correction.expires_at else None,
        "generation": correction.generation,
    }


def _claim(entry_id: int, now: datetime) -> tuple[OutboxEntry, Correction] | Outcome:
    correction_id = OutboxEntry.objects.filter(pk=entry_id).values_list("correction_id", flat=True).first()
    if correction_id is None:
        return Outcome("skipped")
    with transaction.atomic():  # nothing here writes the incident: the correction, then its entry
        correction = locks.correction(correction_id, related=("incident", "deployment", "model"))
        entry = locks.outbox_entry(entry_id)
        if entry.done_at is not None:
            return Outcome("skipped")
        if entry.claimed_until and entry.claimed_until > now:
            return Outcome("busy")
        if entry.next_attempt_at and entry.next_attempt_at > now + EARLY_TOLERANCE:
            return Outcome("early")  # its countdown (or, if that is lost, the relay) brings it back
        allowed = APPLY_FROM if entry.action == OutboxEntry.Action.APPLY else LIFT_FROM
        if entry.generation != correction.generation or correction.state not in allowed:
            entry.done_at = now
            entry.save(update_fields=["done_at"])
            return Outcome("skipped")
        if correction.state == State.APPROVED and decisions.lapse_if_due(WORKER, correction, now):
            return Outcome("skipped")
        # Nothing is applied on a closed incident: one approved before the close (the commander
        # recorded an exception over it) lapses instead. One already applying may have reached the
        # edge before a lost lease, so it finishes; it can be lifted.
        not_yet_sent = entry.action == OutboxEntry.Action.APPLY and correction.state in (State.APPROVED, State.QUEUED)
        if not_yet_sent and worker.apply_refused_if_closed(WORKER, correction, now):
            return Outcome("skipped")
        if entry.action == OutboxEntry.Action.APPLY and correction.state != State.APPLYING:
            worker.dispatch_transition(WORKER, correction, State.APPLYING, via=State.QUEUED)
        lease = _setting("FAILSAFE_DISPATCH_LEASE_SECONDS", 30)
        entry.claimed_until = now + timedelta(seconds=lease)
        entry.claim_token = uuid.uuid4().hex
        entry.attempt_count += 1
        entry.sent_at = now
        entry.next_attempt_at = None  # this is that attempt
        entry.save(update_fields=["claimed_until", "claim_token", "attempt_count", "sent_at", "next_attempt_at"])
        return entry, correction


def dispatch_entry(*, entry_id: int) -> Outcome:
    """Claim, call the actuator(s), record every attempt, and move the correction on."""
    now = timezone.now()
    claimed = _claim(entry_id, now)
    if isinstance(claimed, Outcome):
        return claimed
    entry, correction = claimed
    try:
        targets = _targets(correction)
    except _NoActuator as missing:
        return _finish(entry, correction, [], permanent_error=f"No actuator is configured for {missing}.")
    payload = payload_for(correction)
    results: list[tuple[Deployment, CallResult]] = []
    for deployment, actuator in targets:
        key = entry.idempotency_key if len(targets) == 1 else f"{entry.idempotency_key}@{deployment.slug}"
        connector = connector_for(actuator)
        if entry.action == OutboxEntry.Action.APPLY:
            result = connector.apply(correction_id=str(correction.pk), payload=payload, idempotency_key=key)
        else:
            result = connector.lift(
                correction_id=str(correction.pk), idempotency_key=key, generation=correction.generation
            )
        results.append((deployment, result))
    outcome = _finish(entry, correction, results)
    if outcome.result == "done" and entry.action == OutboxEntry.Action.APPLY:
        verify(correction_id=correction.pk, entry=entry, targets=targets)
    return outcome


def _finish(
    entry: OutboxEntry,
    correction: Correction,
    results: Sequence[tuple[Deployment, CallResult]],
    *,
    permanent_error: str = "",
) -> Outcome:
    now = timezone.now()
    with transaction.atomic():  # success may stamp the incident as contained: it is locked first
        _, correction = locks.incident_and_correction(correction.pk, related=("incident",))
        current = locks.outbox_entry(entry.pk)
        for deployment, result in results:  # numbered by our claim, even if a newer claim fenced us out
            _store_attempt(correction, entry, deployment, entry.action, result, now)
        if current.claim_token != entry.claim_token or current.done_at is not None:
            return Outcome("busy")  # fenced out: our lease ran out and someone else owns the entry now
        failures = [r for _, r in results if not r.ok]
        if not failures and not permanent_error:
            current.done_at = now
            current.save(update_fields=["done_at"])
            worker.dispatch_succeeded(WORKER, correction, entry.action, results=[r for _, r in results], now=now)
            return Outcome("done")
        error = permanent_error or "; ".join(r.error for r in failures)
        transient = not permanent_error and all(r.transient for r in failures)
        first_failure = current.failing_since is None
        current.failing_since = current.failing_since or now
        current.last_error = error[:1000]
        failing_for = (now - current.failing_since).total_seconds()
        if transient and failing_for < retry_seconds() and current.attempt_count < attempt_cap():
            retry_in = backoff_seconds(current.attempt_count)
            current.claimed_until = None
            current.next_attempt_at = now + timedelta(seconds=retry_in)
            current.save(update_fields=["claimed_until", "failing_since", "last_error", "next_attempt_at"])
            if first_failure:  # once per entry: the commander hears it is struggling, not every retry
                _alert_retrying(correction, entry.action, error)
            return Outcome("retry", retry_in=retry_in)
        if transient:
            error = f"{error} (gave up after {current.attempt_count} attempts over {failing_for:.0f} s)"
        current.done_at = now
        current.save(update_fields=["done_at", "failing_since", "last_error"])
        worker.dispatch_failed(WORKER, correction, entry.action, error=error, attempts=current.attempt_count)
        _alert_failure(correction, error)
        return Outcome("failed")


def _store_attempt(
    correction: Correction,
    entry: OutboxEntry,
    deployment: Deployment,
    action: str,
    result: CallResult,
    now: datetime,
) -> None:
    DispatchAttempt.objects.create(
        correction=correction,
        outbox_entry=entry,
        deployment=deployment,
        action=action,
        number=entry.attempt_count,
        method=result.method,
        url=result.url,
        request_body=result.request_body,
        response_status=result.status,
        response_body=result.body,
        latency_ms=result.latency_ms,
        outcome=result.outcome,
        error=result.error[:1000],
        started_at=now - timedelta(milliseconds=result.latency_ms),
    )


def _alert_commander(correction: Correction, *, subject: str, body: str) -> None:
    incident = correction.incident
    commander = Incident.objects.select_related("commander").get(pk=incident.pk).commander
    notify(
        incident=incident,
        users=[commander] if commander else members_of(Role.INCIDENT_COMMANDER),
        needs=Need.INCIDENT_COMMANDER,
        subject=f"{subject}: {correction.type} on {correction.target_name} ({incident.ref})",
        body=f"{body}\n{incident_url(incident.ref)}",
    )


def _alert_failure(correction: Correction, error: str) -> None:
    _alert_commander(
        correction,
        subject="Correction FAILED",
        body=f"Correction #{correction.pk} failed: {error}\nRetry it from the incident page:",
    )


def _alert_retrying(correction: Correction, action: str, error: str) -> None:
    _alert_commander(
        correction,
        subject="Correction retrying",
        body=f"Correction #{correction.pk} is retrying: {error}\n"
        f"Failsafe keeps trying the {action} for {retry_seconds():.0f} s and tells you again if it gives up.",
    )


def verify(*, correction_id: int, entry: OutboxEntry, targets: Sequence[tuple[Deployment, Actuator]]) -> bool:
    """Ask the actuator(s) whether the correction is in force; record it as verified if so."""
    results: list[tuple[Deployment, CallResult]] = []
    for deployment, actuator in targets:
        result = connector_for(actuator).status(correction_id=str(correction_id))
        results.append((deployment, result))
    verified = all(
        r.ok and isinstance(r.body, dict) and r.body.get("state") == "active" and r.body.get("enforced", True)
        for _, r in results
    )
    now = timezone.now()
    with transaction.atomic():
        correction = locks.correction(correction_id, related=("incident",))
        for deployment, result in results:
            _store_attempt(correction, entry, deployment, "status", result, now)
        if verified:
            worker.dispatch_verified(WORKER, correction, now=now)
    return verified


# --- expiry --------------------------------------------------------------------------------------


def corrections_expire(*, now: datetime | None = None) -> int:
    """Active corrections past expires_at become expired and are lifted (swept by beat)."""
    now = now or timezone.now()
    due = list(Correction.objects.filter(state=State.ACTIVE, expires_at__lte=now).values_list("pk", flat=True)[:500])
    for pk in due:
        worker.correction_expire(actor=WORKER, correction_id=pk, now=now)
    return len(due)


# --- readiness -----------------------------------------------------------------------------------


def actuator_check_readiness(*, actor: Actor, actuator: Actuator) -> Actuator:
    actuator = Actuator.objects.get(pk=actuator.pk)  # the configuration as saved, not as this caller last saw it
    result = connector_for(actuator).readiness()
    return configuration.actuator_record_readiness(actor=actor, actuator=actuator, result=result)
