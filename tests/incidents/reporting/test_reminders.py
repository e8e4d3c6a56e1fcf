"""Reminders at 50 %, 80 % and 24 h before a clock is due: each once, to the commander and leadership."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection

from accounts.actor import Actor
from accounts.models import LedgerEvent
from incidents import services as incident_services
from incidents.delivery import deliveries_run_pending
from incidents.models.reporting import Clock, ClockReminder
from incidents.reporting import services
from tests.incidents.reporting.conftest import utc

AWARE = utc(2026, 9, 1, 0, 0)  # an Art. 73 default clock: due 16 Sep 00:00 (15 days)
SYSTEM = Actor.system("sweep_clocks")


@pytest.fixture(autouse=True)
def _deliveries(task_sends):
    """Reminders are notification rows whose tasks are recorded here; sweep() delivers them in-process."""


@pytest.fixture
def clock(now, make_incident, assess, people, actor_for):
    incident = make_incident(by=people["responder"])
    incident_services.incident_assign(
        actor=actor_for(people["leader"]), incident=incident, commander=people["commander"]
    )
    assess(incident, "eu_ai_act_art73", aware=AWARE)
    deliveries_run_pending()
    mail.outbox.clear()
    return Clock.objects.get(incident=incident)


def sweep(now, at, capture) -> int:
    now.set(at)
    with capture(execute=True):
        sent = services.clock_reminders_send(actor=SYSTEM)
    deliveries_run_pending()
    return sent


def test_reminders_fall_at_half_eighty_percent_and_a_day_before(clock, now, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    assert sweep(now, AWARE + timedelta(days=7), capture) == 0  # before half-time
    assert sweep(now, AWARE + timedelta(days=7, hours=12), capture) == 1  # 50 %
    assert sweep(now, AWARE + timedelta(days=11), capture) == 0
    assert sweep(now, AWARE + timedelta(days=12), capture) == 1  # 80 %
    assert sweep(now, AWARE + timedelta(days=13, hours=23), capture) == 0
    assert sweep(now, AWARE + timedelta(days=14), capture) == 1  # 24 h before
    assert sweep(now, AWARE + timedelta(days=16), capture) == 0  # overdue: every reminder already sent
    assert list(ClockReminder.objects.filter(clock=clock).values_list("mark", flat=True)) == [
        "half", "eighty", "day_before"]  # fmt: skip


def test_a_reminder_goes_to_the_commander_and_leadership_and_is_ledgered(
    clock, now, people, django_capture_on_commit_callbacks
):
    sweep(now, AWARE + timedelta(days=8), django_capture_on_commit_callbacks)
    assert sorted(m.to[0] for m in mail.outbox) == sorted([people["commander"].email, people["leader"].email])
    assert all(clock.incident.ref in m.subject and "EU AI Act Art. 73" in m.subject for m in mail.outbox)
    event = LedgerEvent.objects.get(verb="reporting.reminder_sent")
    assert event.after["mark"] == "half" and sorted(event.after["notified"]) == ["commander", "leader"]


def test_repeating_the_sweep_sends_each_reminder_once(clock, now, django_capture_on_commit_callbacks):
    for _ in range(3):
        sweep(now, AWARE + timedelta(days=8), django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 2  # commander + leader, once
    assert ClockReminder.objects.count() == 1


def test_marks_that_fall_due_together_are_one_message(clock, now, django_capture_on_commit_callbacks):
    assert sweep(now, AWARE + timedelta(days=14, hours=1), django_capture_on_commit_callbacks) == 1
    assert ClockReminder.objects.count() == 3
    assert len(mail.outbox) == 2


def test_a_met_or_stopped_clock_gets_no_reminder(clock, now, people, actor_for, django_capture_on_commit_callbacks):
    services.clock_meet(actor=actor_for(people["commander"]), clock=clock)
    assert sweep(now, AWARE + timedelta(days=14, hours=1), django_capture_on_commit_callbacks) == 0


def test_on_a_restricted_incident_an_ungranted_commander_gets_only_the_generic_message(
    now, make_incident, assess, people, actor_for, make_user, django_capture_on_commit_callbacks
):
    incident = make_incident(by=people["leader"], restricted=True)
    outsider = make_user("incident_commander", username="outsider")
    incident_services.incident_grant_access(
        actor=actor_for(people["leader"]), incident=incident, user=outsider, reason="commands it"
    )
    incident_services.incident_assign(actor=actor_for(people["leader"]), incident=incident, commander=outsider)
    assess(incident, "eu_ai_act_art73", by=people["leader"], aware=AWARE)
    incident_services.incident_grant_access(
        actor=actor_for(people["leader"]), incident=incident, user=outsider, reason="moved on", revoke=True
    )
    sweep(now, AWARE + timedelta(days=8), django_capture_on_commit_callbacks)
    [generic] = [m for m in mail.outbox if m.to == [outsider.email]]
    assert "Art. 73" not in generic.subject + generic.body and incident.ref in generic.body


@pytest.mark.postgres
def test_two_beats_at_once_send_each_reminder_once(transactional_db, now, make_incident, assess, people):
    incident = make_incident(by=people["leader"])
    assess(incident, "eu_ai_act_art73", by=people["leader"], aware=AWARE)
    now.set(AWARE + timedelta(days=8))
    barrier = threading.Barrier(2)
    results = [None, None]

    def beat(i):
        try:
            barrier.wait()
            results[i] = services.clock_reminders_send(actor=SYSTEM)
        finally:
            connection.close()

    threads = [threading.Thread(target=beat, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == [0, 1]
    assert ClockReminder.objects.count() == 1
    assert LedgerEvent.objects.filter(verb="reporting.reminder_sent").count() == 1


def test_the_beat_task_syncs_and_reminds(clock, now, django_capture_on_commit_callbacks):
    from incidents.reporting.tasks import sweep_clocks

    now.set(AWARE + timedelta(days=8))
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_clocks() == 1
