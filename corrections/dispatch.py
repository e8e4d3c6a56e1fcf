"""The worker side of DESIGN §5: from an outbox entry to the developer's control plane.

An entry is claimed under a lease with a fencing token, so a worker whose lease ran out (it
hung, or was killed) cannot record a result over a newer claim. Every call carries the entry's
idempotency key, so delivery is at-least-once but the effect at the actuator is exactly-once.
The HTTP call happens outside any transaction: no row is locked while we wait on the network.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import outbox as shared_outbox
from accounts.actor import Actor
from accounts.models import User
from accounts.outbox import EARLY_TOLERANCE
from accounts.outbox import setting as _setting
from accounts.roles import Role
from corrections import locks, readiness
from corrections.connectors import CallResult, connector_for
from corrections.models import (
    IN_FORCE_STATES,
    Actuator,
    Approval,
    Correction,
    CorrectionTarget,
    DispatchAttempt,
    OutboxEntry,
    State,
    TargetState,
)
from corrections.outbox import send
from corrections.services import configuration, decisions, worker
from corrections.targets import TO_APPLY, Rollup, after_apply, after_lift, rollup
from incidents.models import Incident
from incidents.models.oncall import Page
from incidents.notifications import Event, Need, incident_url, members_of, notify
from incidents.oncall import services as oncall

log = logging.getLogger(__name__)
WORKER = Actor.system("dispatch")
READINESS = Actor.system("check_readiness")


def retry_seconds() -> float:
    return _setting("FAILSAFE_DISPATCH_RETRY_SECONDS", 120.0)


def attempt_cap() -> int:
    return _setting("FAILSAFE_DISPATCH_ATTEMPT_CAP", 500)


def backoff_seconds(attempt: int) -> float:
    """accounts.outbox's capped, jittered backoff with the dispatch settings."""
    return shared_outbox.backoff_seconds(
        attempt,
        base=_setting("FAILSAFE_DISPATCH_BACKOFF_BASE", 0.5),
        cap=_setting("FAILSAFE_DISPATCH_BACKOFF_CAP", 15.0),
    )


# --- relaying ----------------------------------------------------------------------------------


def outbox_relay(*, now: datetime | None = None) -> int:
    """Resend entries that are not done, not claimed, not waiting for their next attempt, and were
    not sent recently. An entry waiting on a Celery countdown is resent only once that attempt is
    overdue by the resend delay: its retry message died with a worker, or never reached the broker."""
    now = now or timezone.now()
    resend_after = _setting("FAILSAFE_OUTBOX_RESEND_AFTER", 10)
    return send(shared_outbox.relay_due(OutboxEntry, now=now, resend_after=resend_after))


# --- dispatching one entry ---------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    result: str  # done, busy, early, skipped, retry, failed
    retry_in: float | None = None


APPLY_FROM = (State.APPROVED, State.QUEUED, State.APPLYING)
LIFT_FROM = (State.LIFTING, State.EXPIRED)


@dataclass(frozen=True)
class Call:
    """One target to reach, and the actuator that reaches it (None: nobody configured one)."""

    target: CorrectionTarget
    actuator: Actuator | None
    why_manual: str = ""


def _call(target: CorrectionTarget, actuator: Actuator | None, type_key: str) -> Call:
    """An actuator that does not support the type, or a deployment that does it by hand, is a manual step."""
    slug = target.deployment.slug
    if actuator is None:
        return Call(target, None, f"No actuator is configured for {slug}.")
    if not readiness.dispatches(actuator, type_key):
        if type_key in (actuator.manual_types or []):
            return Call(target, None, f"{slug} carries out {type_key} by hand (an admin's choice).")
        return Call(target, None, f"The actuator of {slug} does not support {type_key}.")
    return Call(target, actuator)


def _calls(correction: Correction, action: str) -> tuple[list[Call], int]:
    """The targets this dispatch still has to reach, and how many targets the correction has."""
    targets = list(CorrectionTarget.objects.filter(correction=correction).select_related("deployment").order_by("id"))
    actuators = {
        a.deployment_id: a for a in Actuator.objects.filter(deployment_id__in=[t.deployment_id for t in targets])
    }
    if action == OutboxEntry.Action.APPLY:
        wanted = [t for t in targets if not t.manual and t.state in TO_APPLY]
    else:
        wanted = [t for t in targets if not t.manual and t.state not in NOTHING_TO_LIFT]
    return [_call(t, actuators.get(t.deployment_id), correction.type) for t in wanted], len(targets)


# A target never applied (or only waiting for a person) has nothing at the edge to lift.
NOTHING_TO_LIFT = frozenset({TargetState.LIFTED, TargetState.PENDING, TargetState.MANUAL_PENDING})


def payload_for(correction: Correction) -> dict[str, Any]:
    """The body of the apply. `dry_run` is true for every correction on a drill, sandbox or not: the
    actuator validates and records it but enforces nothing. The signature covers the body, so it
    cannot be stripped on the way."""
    return {
        "correction_id": str(correction.pk),
        "type": correction.type,
        "deployment": correction.deployment.slug if correction.deployment is not None else None,
        "model": correction.model.name,
        "params": correction.params,
        "expires_at": correction.expires_at.isoformat() if correction.expires_at else None,
        "generation": correction.generation,
        "dry_run": correction.dry_run,
    }


def _claim(entry_id: int, now: datetime) -> tuple[OutboxEntry, Correction] | Outcome:
    correction_id = OutboxEntry.objects.filter(pk=entry_id).values_list("correction_id", flat=True).first()
    if correction_id is None:
        return Outcome("skipped")
    with transaction.atomic():  # nothing here writes the incident: the correction, its targets, then its entry
        correction = locks.correction(correction_id, related=("incident", "deployment", "model"))
        targets = locks.targets(correction)
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
        if not targets:  # requested before targets existed: fixed now, from the registry as it is
            worker.targets_backfill(correction)
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


def idempotency_key_for(entry: OutboxEntry, target: CorrectionTarget, *, single: bool) -> str:
    """Unique to (correction, action, generation, deployment); a one-target correction keeps the bare key."""
    return entry.idempotency_key if single else f"{entry.idempotency_key}@{target.deployment.slug}"


def dispatch_entry(*, entry_id: int) -> Outcome:
    """Claim, call each target's actuator, record every attempt, and move the targets and the correction on."""
    now = timezone.now()
    claimed = _claim(entry_id, now)
    if isinstance(claimed, Outcome):
        return claimed
    entry, correction = claimed
    calls, total = _calls(correction, entry.action)
    single = total == 1
    # A target no actuator reaches (none wired, the type unsupported, or done by hand by choice) becomes a
    # manual step the commander confirms, even when it is the only one: an emergency may need it by hand.
    payload = payload_for(correction)
    results: list[tuple[CorrectionTarget, CallResult | None]] = []
    manual_reasons: dict[int, str] = {}
    for call in calls:
        if call.actuator is None:
            results.append((call.target, None))  # becomes a manual step
            manual_reasons[call.target.pk] = call.why_manual
            continue
        key = idempotency_key_for(entry, call.target, single=single)
        connector = connector_for(call.actuator)
        if entry.action == OutboxEntry.Action.APPLY:
            result = connector.apply(correction_id=str(correction.pk), payload=payload, idempotency_key=key)
        else:
            result = connector.lift(
                correction_id=str(correction.pk), idempotency_key=key, generation=correction.generation
            )
        results.append((call.target, result))
    outcome = _finish(entry, correction, results, manual_reasons=manual_reasons)
    if outcome.result == "done" and entry.action == OutboxEntry.Action.APPLY:
        verify(correction_id=correction.pk, entry=entry)
    return outcome


def _record_results(
    entry: OutboxEntry,
    targets: dict[int, CorrectionTarget],
    results: list[tuple[CorrectionTarget, CallResult | None]],
    now: datetime,
    manual_reasons: dict[int, str],
) -> list[tuple[CorrectionTarget, CallResult]]:
    """Move each target on by its own answer; returns the targets whose error may pass if retried."""
    applying = entry.action == OutboxEntry.Action.APPLY
    transient = []
    for called, result in results:
        target = targets[called.pk]
        if result is None:
            target.manual = True
            target.manual_reason = (
                manual_reasons.get(called.pk) or f"No actuator is configured for {target.deployment.slug}."
            )
            target.state = TargetState.MANUAL_PENDING if applying else TargetState.LIFTING
        elif result.ok:
            target.state, target.failure = (TargetState.ACTIVE if applying else TargetState.LIFTED), ""
            if applying:
                target.activated_at = now
            else:
                target.lifted_at = now
        elif result.transient:
            target.state = TargetState.APPLYING if applying else TargetState.LIFTING
            target.failure = result.error[:1000]
            transient.append((target, result))
        else:
            target.state, target.failure = TargetState.FAILED, result.error[:1000]
        target.save()
    return transient


def _finish(
    entry: OutboxEntry,
    correction: Correction,
    results: list[tuple[CorrectionTarget, CallResult | None]],
    *,
    permanent_error: str = "",
    manual_reasons: dict[int, str] | None = None,
) -> Outcome:
    now = timezone.now()
    with transaction.atomic():  # success may stamp the incident as contained: it is locked first
        _, correction = locks.incident_and_correction(correction.pk, related=("incident", "model", "requested_by"))
        targets = {t.pk: t for t in locks.targets(correction)}
        current = locks.outbox_entry(entry.pk)
        for target, result in results:  # numbered by our claim, even if a newer claim fenced us out
            if result is not None:
                _store_attempt(correction, entry, target, entry.action, result, now)
        if current.claim_token != entry.claim_token or current.done_at is not None:
            return Outcome("busy")  # fenced out: our lease ran out and someone else owns the entry now
        transient = _record_results(entry, targets, results, now, manual_reasons or {})
        if permanent_error:
            for target in targets.values():
                if target.state in TO_APPLY:
                    target.state, target.failure = TargetState.FAILED, permanent_error[:1000]
                    target.save()
        if transient:
            named = len(targets) > 1  # which deployment said it, when there is more than one
            error = "; ".join(f"{t.deployment.slug}: {r.error}" if named else r.error for t, r in transient)
            first_failure = current.failing_since is None
            current.failing_since = current.failing_since or now
            current.last_error = error[:1000]
            failing_for = (now - current.failing_since).total_seconds()
            if failing_for < retry_seconds() and current.attempt_count < attempt_cap():
                retry_in = backoff_seconds(current.attempt_count)
                current.claimed_until = None
                current.next_attempt_at = now + timedelta(seconds=retry_in)
                current.save(update_fields=["claimed_until", "failing_since", "last_error", "next_attempt_at"])
                if first_failure:  # once per entry: the commander hears it is struggling, not every retry
                    _alert_retrying(correction, entry.action, error)
                return Outcome("retry", retry_in=retry_in)
            gave_up = f" (gave up after {current.attempt_count} attempts over {failing_for:.0f} s)"
            for target, result in transient:
                target.state, target.failure = TargetState.FAILED, (result.error + gave_up)[:1000]
                target.save()
        current.done_at = now
        current.save(update_fields=["done_at", "failing_since", "last_error"])
        latency = max((r.latency_ms for _, r in results if r is not None), default=0)
        return _conclude(correction, entry.action, list(targets.values()), current, now, latency_ms=latency)


def _conclude(
    correction: Correction,
    action: str,
    targets: list[CorrectionTarget],
    entry: OutboxEntry,
    now: datetime,
    *,
    latency_ms: int,
) -> Outcome:
    """Every target this dispatch could reach has answered for good: the correction follows its targets."""
    states = [t.state for t in targets]
    outcome = after_apply(states) if action == OutboxEntry.Action.APPLY else after_lift(states)
    if outcome == State.FAILED:
        failed = [t for t in targets if t.state == TargetState.FAILED]
        error = (
            "; ".join(f"{t.deployment.slug}: {t.failure}" for t in failed) if len(targets) > 1 else failed[0].failure
        )
        entry.last_error = error[:1000]
        entry.save(update_fields=["last_error"])
        worker.dispatch_failed(WORKER, correction, action, error=error, attempts=entry.attempt_count)
        _alert_failure(correction, error, summary=rollup(states))
        return Outcome("failed")
    if outcome in (State.ACTIVE, State.LIFTED):
        worker.dispatch_succeeded(WORKER, correction, action, latency_ms=latency_ms, now=now)
        return Outcome("done")
    # Some targets wait for a person: applied (or lifted) everywhere else.
    manual = [t for t in targets if t.manual and t.state in (TargetState.MANUAL_PENDING, TargetState.LIFTING)]
    worker.dispatch_partly_done(
        WORKER, correction, action, manual=[t.deployment.slug for t in manual], now=now,
        any_in_force=rollup(states).in_force > 0,
    )  # fmt: skip
    _alert_manual_steps(correction, action, manual)
    return Outcome("done")


def _store_attempt(
    correction: Correction,
    entry: OutboxEntry,
    target: CorrectionTarget,
    action: str,
    result: CallResult,
    now: datetime,
) -> None:
    DispatchAttempt.objects.create(
        correction=correction,
        outbox_entry=entry,
        target=target,
        deployment_id=target.deployment_id,
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


def _commanders(incident: Incident) -> list[User]:
    commander = Incident.objects.select_related("commander").get(pk=incident.pk).commander
    return [commander] if commander else members_of(Role.INCIDENT_COMMANDER)


def _alert_commander(correction: Correction, *, event: Event, subject: str, body: str) -> None:
    incident = correction.incident
    notify(
        incident=incident,
        users=_commanders(incident),
        needs=Need.INCIDENT_COMMANDER,
        event=event,
        subject=f"{subject}: {correction.type} on {correction.target_name} ({incident.ref})",
        body=f"{body}\n{incident_url(incident.ref)}",
    )


def _alert_failure(correction: Correction, error: str, *, summary: Rollup) -> None:
    """A failure (or a partial one) is news to everyone who put the correction in motion, and
    pages the commanders' on-call (who then gets the page instead of the mail)."""
    incident = correction.incident
    approvers = [
        a.approver
        for a in Approval.objects.select_related("approver").filter(
            correction=correction, decision=Approval.Decision.APPROVE, voided_at__isnull=True
        )
    ]
    partly = summary.in_force > 0
    what = "PARTLY FAILED" if partly else "FAILED"
    where = f"\nIt is {summary.label()}; the rest did not take effect." if partly else ""
    subject = f"Correction {what}: {correction.type} on {correction.target_name} ({incident.ref})"
    body = f"Correction #{correction.pk} failed: {error}{where}\nRetry it from the incident page."
    page = oncall.page_open(
        actor=WORKER, incident=incident, role=Role.INCIDENT_COMMANDER, reason=Page.Reason.DISPATCH_FAILED,
        subject=subject, summary=body,
    )  # fmt: skip
    paged = set(page.recipients.values_list("user_id", flat=True))
    notify(
        incident=incident,
        users=[u for u in [correction.requested_by, *approvers, *_commanders(incident)] if u.pk not in paged],
        needs=Need.ATTENTION,
        event=Event.DISPATCH_FAILED,
        subject=subject,
        body=f"{body}\n{incident_url(incident.ref)}",
    )


def _alert_retrying(correction: Correction, action: str, error: str) -> None:
    _alert_commander(
        correction,
        event=Event.DISPATCH_RETRYING,
        subject="Correction retrying",
        body=f"Correction #{correction.pk} is retrying: {error}\n"
        f"Failsafe keeps trying the {action} for {retry_seconds():.0f} s and tells you again if it gives up.",
    )


def _alert_manual_steps(correction: Correction, action: str, manual: list[CorrectionTarget]) -> None:
    verb = "taken down" if action == OutboxEntry.Action.APPLY else "restored"
    steps = "\n".join(
        f"- confirm that {t.deployment.slug} was {verb} ({t.manual_reason or 'no actuator'})" for t in manual
    )
    _alert_commander(
        correction,
        event=Event.MANUAL_STEPS,
        subject="Manual step needed",
        body=f"Correction #{correction.pk} could not reach every deployment automatically. "
        f"Carry out and confirm on the correction page:\n{steps}",
    )


def verify(*, correction_id: int, entry: OutboxEntry) -> bool:
    """Ask each automated target's actuator whether the correction is in force; record it as verified if so."""
    reached = [
        t
        for t in CorrectionTarget.objects.filter(correction_id=correction_id, manual=False, state=TargetState.ACTIVE)
        .select_related("deployment")
        .order_by("id")
    ]
    actuators = {
        a.deployment_id: a for a in Actuator.objects.filter(deployment_id__in=[t.deployment_id for t in reached])
    }
    results = []
    for target in reached:
        actuator = actuators.get(target.deployment_id)
        if actuator is not None:
            results.append((target, connector_for(actuator).status(correction_id=str(correction_id))))
    dry_run = Correction.objects.filter(pk=correction_id, incident__is_drill=True).exists()
    verified = bool(results) and all(_in_force(r, dry_run=dry_run) for _, r in results)
    # An actuator that enforced a dry run does not know the flag: the drill's correction is REAL there.
    enforced_dry_run = dry_run and any(isinstance(r.body, dict) and r.body.get("enforced") for _, r in results)
    now = timezone.now()
    with transaction.atomic():
        correction = locks.correction(correction_id, related=("incident",))
        for target, result in results:
            _store_attempt(correction, entry, target, "status", result, now)
        if verified:
            worker.dispatch_verified(WORKER, correction, now=now)
    if enforced_dry_run:
        _alert_commander(
            correction,
            event=Event.DISPATCH_FAILED,
            subject="Dry run ENFORCED",
            body=f"Correction #{correction.pk} was sent as a dry run, but the actuator reports it in force: it "
            "ignored dry_run. Lift it now; the drill's correction is restricting real users.",
        )
    return verified


def _in_force(result: CallResult, *, dry_run: bool) -> bool:
    """The status answer says the correction is active: enforced, or for a dry run, recorded and not enforced."""
    body = result.body
    if not (result.ok and isinstance(body, dict) and body.get("state") == "active"):
        return False
    if dry_run:
        return body.get("dry_run") is True and not body.get("enforced", False)
    return bool(body.get("enforced", True))


# --- expiry --------------------------------------------------------------------------------------


def corrections_expire(*, now: datetime | None = None) -> int:
    """Active corrections past expires_at become expired and are lifted (swept by beat)."""
    now = now or timezone.now()
    due = list(
        Correction.objects.filter(state__in=IN_FORCE_STATES, expires_at__lte=now).values_list("pk", flat=True)[:500]
    )
    for pk in due:
        worker.correction_expire(actor=WORKER, correction_id=pk, now=now)
    return len(due)


# --- readiness -----------------------------------------------------------------------------------


def actuator_check_readiness(*, actor: Actor, actuator: Actuator) -> Actuator:
    actuator = Actuator.objects.get(pk=actuator.pk)  # the configuration as saved, not as this caller last saw it
    result = connector_for(actuator).readiness()
    return configuration.actuator_record_readiness(actor=actor, actuator=actuator, result=result)


def _check_due(now: datetime) -> Q:
    return Q(next_check_at__isnull=True) | Q(next_check_at__lte=now + readiness.beat_period())


def _claim_check(actuator_id: int, now: datetime) -> bool:
    """Move the actuator's next check forward if it is due; only one of several beats succeeds."""
    due = _check_due(now)
    return bool(
        Actuator.objects.filter(due, pk=actuator_id).update(next_check_at=now + readiness.interval())
    )  # one UPDATE: the database decides who claimed it


def actuators_check_due(*, now: datetime | None = None) -> int:
    """Check every actuator whose check is due (swept by beat); each call outside any transaction."""
    now = now or timezone.now()
    due = _check_due(now)
    checked = 0
    for pk in list(Actuator.objects.filter(due).order_by("next_check_at", "pk").values_list("pk", flat=True)[:200]):
        if _claim_check(pk, now):
            actuator_check_readiness(actor=READINESS, actuator=Actuator(pk=pk))
            checked += 1
    return checked
