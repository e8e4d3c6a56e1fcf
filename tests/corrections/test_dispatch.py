"""The worker's retry budget (issue 8, point 10): transient actuator errors are retried for a time,
not a number of attempts; the commander hears once when a dispatch starts failing and again if it
gives up; a delivery that comes early (a duplicate, the relay) makes no attempt; the relay resends
an entry whose next attempt is overdue and leaves one that is waiting alone.

The actuator is a real sandbox gateway process with injected faults; the clock is moved by
writing the entry's `failing_since` and `next_attempt_at`, as if the time had gone by.
"""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from corrections import dispatch, services
from corrections.models import Correction, DispatchAttempt, OutboxEntry, State
from tests.corrections import gateway_fixture

sandbox_gateway = gateway_fixture.sandbox_gateway


COMMANDER_EMAIL = "commander-on-call@example.test"


@pytest.fixture
def incident(make_incident, people):
    people["commander"].email = COMMANDER_EMAIL
    people["commander"].save(update_fields=["email"])
    return make_incident(by=people["responder"], severity="SEV1")


@pytest.fixture
def gateway(sandbox_gateway, registry, people, actor_for):
    services.actuator_configure(
        actor=actor_for(people["admin"]), deployment=registry["atlas-api"], base_url=sandbox_gateway.base_url,
        secret=sandbox_gateway.secret,
    )  # fmt: skip
    return sandbox_gateway


@pytest.fixture
def entry(actor_for, incident, people, accounts) -> OutboxEntry:
    """A tier-1 block, approved at once: its apply entry, not yet sent anywhere."""
    correction = services.correction_request(
        actor=actor_for(people["responder"]), incident=incident, type="block_accounts", deployment="atlas-api",
        params={"accounts": ["acct-mallory"]}, rationale="Mallory is automating exploit development.",
    )  # fmt: skip
    assert correction.state == State.APPROVED
    return OutboxEntry.objects.get(correction=correction, action="apply")


@pytest.fixture
def run(django_capture_on_commit_callbacks, task_sends, deliver_notifications):
    """Dispatch the entry as a worker would, running what the worker's transactions queued on commit,
    then deliver the notifications it wrote (as the notification worker would)."""

    def dispatch_it(entry: OutboxEntry) -> dispatch.Outcome:
        with django_capture_on_commit_callbacks(execute=True):
            outcome = dispatch.dispatch_entry(entry_id=entry.pk)
        deliver_notifications()
        return outcome

    return dispatch_it


def as_if(entry: OutboxEntry, *, failing_for: float, attempts: int) -> None:
    """Move the clock: the entry has been failing for `failing_for` seconds and its next attempt is due."""
    now = timezone.now()
    OutboxEntry.objects.filter(pk=entry.pk).update(
        failing_since=now - timedelta(seconds=failing_for), next_attempt_at=now, attempt_count=attempts
    )


def alerts(mailoutbox, kind: str) -> list:
    """The alerts of one kind that reached one commander (the incident has none: every commander is told)."""
    return [
        m for m in mailoutbox
        if m.subject.startswith(f"[Failsafe] Correction {kind}") and m.to == [COMMANDER_EMAIL]
    ]  # fmt: skip


def test_a_transient_failure_is_retried_and_the_entry_says_when_and_why(gateway, entry, run, mailoutbox):
    gateway.inject_fault(503, times=100, methods=["PUT"])
    before = timezone.now()
    outcome = run(entry)

    assert outcome.result == "retry"
    entry.refresh_from_db()
    assert entry.done_at is None and entry.claimed_until is None and entry.attempt_count == 1
    assert before <= entry.failing_since <= timezone.now()
    assert entry.last_error.startswith("HTTP 503")
    assert entry.next_attempt_at == entry.failing_since + timedelta(seconds=outcome.retry_in)
    assert Correction.objects.get(pk=entry.correction_id).state == State.APPLYING


def test_transient_failures_for_100_seconds_are_still_retried_whatever_the_attempt_count(gateway, entry, run):
    gateway.inject_fault(503, times=100, methods=["PUT"])
    run(entry)
    as_if(entry, failing_for=100, attempts=9)  # more attempts than the old count-based limit allowed

    outcome = run(entry)

    assert outcome.result == "retry", outcome
    entry.refresh_from_db()
    assert entry.done_at is None and entry.attempt_count == 10
    assert entry.next_attempt_at > timezone.now()
    correction = Correction.objects.get(pk=entry.correction_id)
    assert (correction.state, correction.failure) == (State.APPLYING, "")


def test_transient_failures_past_the_two_minute_budget_fail_the_correction(gateway, entry, run, mailoutbox):
    gateway.inject_fault(503, times=100, methods=["PUT"])
    run(entry)
    as_if(entry, failing_for=121, attempts=3)  # few attempts: only the time has run out

    outcome = run(entry)

    assert outcome.result == "failed"
    entry.refresh_from_db()
    assert entry.done_at is not None
    correction = Correction.objects.get(pk=entry.correction_id)
    assert correction.state == State.FAILED
    assert correction.failure.startswith("HTTP 503") and "gave up after 4 attempts over 121 s" in correction.failure
    assert len(alerts(mailoutbox, "FAILED")) == 1


def test_the_budget_is_a_setting(gateway, entry, run, settings):
    settings.FAILSAFE_DISPATCH_RETRY_SECONDS = 300
    gateway.inject_fault(503, times=100, methods=["PUT"])
    run(entry)
    as_if(entry, failing_for=200, attempts=20)
    assert run(entry).result == "retry"
    as_if(entry, failing_for=301, attempts=21)
    assert run(entry).result == "failed"


def test_a_permanent_error_fails_at_once_with_the_budget_untouched(gateway, entry, run, mailoutbox):
    gateway.inject_fault(400, times=100, methods=["PUT"])

    outcome = run(entry)

    assert outcome.result == "failed"
    entry.refresh_from_db()
    assert (entry.attempt_count, entry.next_attempt_at) == (1, None)
    assert entry.done_at is not None and entry.last_error.startswith("HTTP 400")
    correction = Correction.objects.get(pk=entry.correction_id)
    assert correction.state == State.FAILED and "gave up" not in correction.failure
    assert len(alerts(mailoutbox, "FAILED")) == 1
    assert alerts(mailoutbox, "retrying") == []  # nothing will be retried: no "retrying" alert


def test_the_commander_is_alerted_once_when_retrying_starts_and_again_when_it_fails(
    gateway, entry, run, mailoutbox, people
):
    gateway.inject_fault(503, times=100, methods=["PUT"])
    run(entry)
    (retrying,) = alerts(mailoutbox, "retrying")
    assert f"Correction #{entry.correction_id} is retrying: HTTP 503" in retrying.body
    assert alerts(mailoutbox, "FAILED") == []

    for attempts in (1, 2, 3):  # more failures inside the budget: no more alerts
        as_if(entry, failing_for=10 * attempts, attempts=attempts)
        assert run(entry).result == "retry"
    assert len(alerts(mailoutbox, "retrying")) == 1

    as_if(entry, failing_for=130, attempts=4)
    assert run(entry).result == "failed"
    assert len(alerts(mailoutbox, "retrying")) == 1
    (failed,) = alerts(mailoutbox, "FAILED")
    assert f"Correction #{entry.correction_id} failed: HTTP 503" in failed.body


def test_a_new_generation_after_a_human_retry_alerts_again(gateway, entry, run, mailoutbox, people, actor_for):
    gateway.inject_fault(503, times=100, methods=["PUT"])
    run(entry)
    as_if(entry, failing_for=130, attempts=5)
    run(entry)
    correction = services.correction_retry(
        actor=actor_for(people["commander"]), correction=Correction.objects.get(pk=entry.correction_id),
        reason="the gateway's load balancer was fixed",
    )  # fmt: skip
    fresh = OutboxEntry.objects.get(correction=correction, generation=correction.generation)
    run(fresh)
    assert len(alerts(mailoutbox, "retrying")) == 2


def test_a_repeated_delivery_before_the_next_attempt_is_due_makes_no_attempt(gateway, entry, run):
    gateway.inject_fault(503, times=100, methods=["PUT"])
    run(entry)
    OutboxEntry.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now() + timedelta(seconds=10))

    assert run(entry).result == "early"  # the relay, or a duplicate message, cannot shorten the backoff
    entry.refresh_from_db()
    assert entry.attempt_count == 1
    assert DispatchAttempt.objects.filter(outbox_entry=entry).count() == 1


def test_a_success_after_retries_ends_active_with_no_failure(gateway, entry, run, mailoutbox):
    gateway.inject_fault(503, times=2, methods=["PUT"])
    run(entry)
    as_if(entry, failing_for=5, attempts=1)
    run(entry)
    as_if(entry, failing_for=10, attempts=2)

    assert run(entry).result == "done"
    correction = Correction.objects.get(pk=entry.correction_id)
    assert (correction.state, correction.failure) == (State.ACTIVE, "")
    assert alerts(mailoutbox, "FAILED") == []


# --- the relay --------------------------------------------------------------------------------


def test_relay_resends_an_entry_whose_next_attempt_is_overdue_but_not_one_still_waiting(
    actor_for, incident, people, accounts, task_sends, settings
):
    settings.FAILSAFE_OUTBOX_RESEND_AFTER = 10
    now = timezone.now()

    def retrying_entry(account: str, next_attempt_at):
        correction = services.correction_request(
            actor=actor_for(people["responder"]), incident=incident, type="block_accounts", deployment="atlas-api",
            params={"accounts": [account]}, rationale="Misuse.",
        )  # fmt: skip
        entry = OutboxEntry.objects.get(correction=correction)
        # Its last attempt was claimed and failed a minute ago; its Celery countdown brings it back at
        # next_attempt_at, unless the worker holding that countdown died.
        OutboxEntry.objects.filter(pk=entry.pk).update(
            created_at=now - timedelta(minutes=2), sent_at=now - timedelta(minutes=1), attempt_count=6,
            failing_since=now - timedelta(minutes=1), next_attempt_at=next_attempt_at, claimed_until=None,
        )  # fmt: skip
        return entry

    waiting = retrying_entry("acct-mallory", now + timedelta(seconds=12))
    just_due = retrying_entry("acct-bob", now - timedelta(seconds=3))  # its countdown should be arriving now
    overdue = retrying_entry("acct-alice", now - timedelta(seconds=11))  # its countdown was lost

    assert dispatch.outbox_relay(now=now) == 1
    assert [args for _, args, _ in task_sends] == [(overdue.pk,)]

    task_sends.clear()
    OutboxEntry.objects.filter(pk=overdue.pk).update(done_at=now)  # the resent one went through
    later = now + timedelta(seconds=25)
    dispatch.outbox_relay(now=later)
    assert sorted(args for _, args, _ in task_sends) == sorted([(waiting.pk,), (just_due.pk,)])


# --- the backoff ------------------------------------------------------------------------------


def test_backoff_grows_is_capped_and_is_never_shorter_than_half_a_step(settings):
    settings.FAILSAFE_DISPATCH_BACKOFF_BASE, settings.FAILSAFE_DISPATCH_BACKOFF_CAP = 0.5, 15.0
    for attempt, step in ((1, 0.5), (2, 1.0), (3, 2.0), (6, 15.0), (40, 15.0), (10_000, 15.0)):
        delays = [dispatch.backoff_seconds(attempt) for _ in range(500)]
        assert step / 2 <= min(delays) and max(delays) <= step, (attempt, min(delays), max(delays))
        assert len(set(delays)) > 1  # jittered


def test_the_default_budget_is_two_minutes_with_a_15_second_backoff_cap():
    from django.conf import settings

    assert settings.FAILSAFE_DISPATCH_RETRY_SECONDS == 120
    assert settings.FAILSAFE_DISPATCH_BACKOFF_CAP == 15
    assert not hasattr(settings, "FAILSAFE_DISPATCH_MAX_ATTEMPTS")


# --- twice at once ------------------------------------------------------------------------------


@pytest.mark.postgres
def test_two_simultaneous_deliveries_of_a_due_entry_make_one_attempt_and_one_alert(
    transactional_db, gateway, entry, mailoutbox, task_sends, deliver_notifications
):
    gateway.inject_fault(503, times=100, methods=["PUT"], delay_ms=300)  # both arrive while the first is out
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def deliver():
        try:
            barrier.wait()
            outcomes.append(dispatch.dispatch_entry(entry_id=entry.pk).result)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert sorted(outcomes) == ["busy", "retry"]
    entry.refresh_from_db()
    assert entry.attempt_count == 1
    assert DispatchAttempt.objects.filter(outbox_entry=entry).count() == 1
    deliver_notifications()
    assert len(alerts(mailoutbox, "retrying")) == 1
