"""Reminders of correction deadlines (issue 11 §4), each sent once, at a fixed `now`: approvers at
half a pending request's time to live and 15 minutes before it lapses, ratifiers of break glass at
12 h and 23 h, the requester when the request lapses."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection

from accounts.actor import Actor
from accounts.models import LedgerEvent
from corrections import reminders
from corrections import services as corrections
from incidents import services as incidents
from incidents.events import IncidentEvent
from incidents.models import SentReminder

SWEEP = Actor.system("send_reminders")
SECRET = "Weights exfiltrated through the fine-tuning API"
RATIONALE = "Stop the exfiltration path now"


@pytest.fixture
def pending(make_incident, people, actor_for, registry):
    """A tier 3 request (1 leadership and 1 commander) by the responder, lapsing in 4 h."""
    incident = make_incident(by=people["responder"], severity="SEV1")
    return corrections.correction_request(
        actor=actor_for(people["responder"]), incident=incident, type="pause_deployment", deployment="atlas-chat",
        params={}, rationale=RATIONALE,
    )  # fmt: skip


def reminded():
    """(stage key suffix, who) of every reminder on the ledger, oldest first."""
    return [
        (e.after["key"].rsplit(":", 1)[1], sorted(e.after["to"]))
        for e in LedgerEvent.objects.filter(verb=IncidentEvent.REMINDER_SENT).order_by("seq")
    ]


def names(*users):
    return sorted(u.username for u in users)


def test_nothing_is_due_before_half_the_time_to_live(pending):
    assert reminders.corrections_remind(actor=SWEEP, now=pending.requested_at + timedelta(hours=1, minutes=59)) == 0
    assert reminded() == []


def test_approvers_are_reminded_at_half_the_time_to_live_once(pending, people):
    half = pending.requested_at + (pending.pending_until - pending.requested_at) / 2
    assert reminders.corrections_remind(actor=SWEEP, now=half) == 1
    assert reminders.corrections_remind(actor=SWEEP, now=half + timedelta(minutes=1)) == 0  # the next beat
    deciders = names(people["commander"], people["commander2"], people["leader1"], people["leader2"], people["leader3"])
    assert reminded() == [("approve-half", deciders)]  # not the requester, the auditor nor the admin


def test_and_again_15_minutes_before_it_lapses(pending):
    half = pending.requested_at + (pending.pending_until - pending.requested_at) / 2
    reminders.corrections_remind(actor=SWEEP, now=half)
    final = pending.pending_until - timedelta(minutes=15)
    assert reminders.corrections_remind(actor=SWEEP, now=final - timedelta(seconds=1)) == 0
    assert reminders.corrections_remind(actor=SWEEP, now=final) == 1
    assert reminders.corrections_remind(actor=SWEEP, now=final + timedelta(minutes=5)) == 0
    assert [stage for stage, _ in reminded()] == ["approve-half", "approve-15min"]


def test_a_beat_that_missed_the_half_way_reminder_sends_only_the_last_one(pending):
    assert reminders.corrections_remind(actor=SWEEP, now=pending.pending_until - timedelta(minutes=10)) == 1
    assert [stage for stage, _ in reminded()] == ["approve-15min"]


def test_nothing_after_it_lapsed_or_was_decided(pending, people, actor_for):
    assert reminders.corrections_remind(actor=SWEEP, now=pending.pending_until) == 0
    corrections.correction_cancel(actor=actor_for(people["responder"]), correction=pending, reason="No longer needed")
    assert reminders.corrections_remind(actor=SWEEP, now=pending.pending_until - timedelta(minutes=5)) == 0


def test_only_people_whose_approval_would_still_count_are_reminded(pending, people, actor_for, task_sends):
    corrections.correction_approve(
        actor=actor_for(people["leader1"]), correction=pending, content_hash=pending.content_hash, comment="ok"
    )
    reminders.corrections_remind(actor=SWEEP, now=pending.pending_until - timedelta(minutes=15))
    # The leadership slot is filled: only a commander's approval counts now.
    assert reminded() == [("approve-15min", names(people["commander"], people["commander2"]))]


def test_on_a_restricted_incident_those_without_access_learn_only_the_ref(
    make_incident, people, actor_for, registry, django_capture_on_commit_callbacks, task_sends, deliver_notifications
):
    incident = make_incident(by=people["responder"], severity="SEV1", restricted=True, title=SECRET)
    incidents.incident_assign(
        actor=actor_for(people["leader1"]), incident=incident, add_participants=[people["commander"]]
    )
    correction = corrections.correction_request(
        actor=actor_for(people["responder"]), incident=incident, type="pause_deployment", deployment="atlas-chat",
        params={}, rationale=RATIONALE,
    )  # fmt: skip
    deliver_notifications()  # the request's own notifications, before the reminder's
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        reminders.corrections_remind(actor=SWEEP, now=correction.pending_until - timedelta(minutes=15))
    deliver_notifications()  # what the worker does with the rows
    granted = [m for m in mail.outbox if people["commander"].email in m.to]
    ungranted = [m for m in mail.outbox if people["commander2"].email in m.to]
    assert len(granted) == 1 and RATIONALE in granted[0].body
    assert len(ungranted) == 1
    message = ungranted[0].subject + ungranted[0].body
    assert incident.ref in message and RATIONALE not in message and SECRET not in message
    [(_, to)] = reminded()
    assert f"{people['commander2'].username} (redacted)" in to


def test_the_requester_is_told_when_the_request_lapses(
    pending, people, django_capture_on_commit_callbacks, task_sends, deliver_notifications
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert corrections.corrections_sweep_deadlines(actor=SWEEP, now=pending.pending_until) == 1
    deliver_notifications()  # what the worker does with the rows
    [message] = [m for m in mail.outbox if people["responder"].email in m.to]
    assert "Lapsed" in message.subject and "time to live" in message.body
    event = LedgerEvent.objects.get(verb="correction.lapsed")
    assert event.after["told"] == [people["responder"].username]


# --- break glass -----------------------------------------------------------------------------------


@pytest.fixture
def broken_glass(make_incident, people, actor_for, registry, task_sends):
    incident = make_incident(by=people["responder"], severity="SEV1")
    return corrections.correction_request(
        actor=actor_for(people["leader1"]), incident=incident, type="pause_deployment", deployment="atlas-chat",
        params={}, rationale=RATIONALE, break_glass=True, justification="Exfiltration under way",
    )  # fmt: skip


def test_break_glass_ratifiers_are_reminded_at_12_and_23_hours(broken_glass, people):
    start = broken_glass.ratification_due_at - timedelta(hours=24)
    assert reminders.corrections_remind(actor=SWEEP, now=start + timedelta(hours=11, minutes=59)) == 0
    assert reminders.corrections_remind(actor=SWEEP, now=start + timedelta(hours=12)) == 1
    assert reminders.corrections_remind(actor=SWEEP, now=start + timedelta(hours=13)) == 0
    assert reminders.corrections_remind(actor=SWEEP, now=start + timedelta(hours=23)) == 1
    assert reminders.corrections_remind(actor=SWEEP, now=start + timedelta(hours=23, minutes=30)) == 0
    assert (
        reminders.corrections_remind(actor=SWEEP, now=start + timedelta(hours=25)) == 0
    )  # overdue: the dashboards say so
    stages = reminded()
    assert [stage for stage, _ in stages] == ["ratify-half", "ratify-1h"]
    # Leadership (and commanders, whom a tier 3 policy also needs), never the one who broke glass.
    assert people["leader1"].username not in stages[0][1]
    assert {people["leader2"].username, people["leader3"].username} <= set(stages[0][1])


def test_a_ratified_break_glass_is_not_reminded(broken_glass, people, actor_for, task_sends):
    for who in ("leader2", "commander"):
        corrections.correction_approve(
            actor=actor_for(people[who]), correction=broken_glass, content_hash=broken_glass.content_hash, comment="ok"
        )
    broken_glass.refresh_from_db()
    assert broken_glass.ratified_at is not None
    assert reminders.corrections_remind(actor=SWEEP, now=broken_glass.ratification_due_at - timedelta(hours=1)) == 0


# --- once, even with two beats at once (PostgreSQL) --------------------------------------------------


@pytest.mark.postgres
def test_two_beats_at_once_send_each_reminder_once(transactional_db, pending, task_sends):
    now = pending.pending_until - timedelta(minutes=15)
    barrier = threading.Barrier(2)
    sent = []

    def beat():
        try:
            barrier.wait()
            sent.append(reminders.corrections_remind(actor=SWEEP, now=now))
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(sent) == [0, 1]
    assert SentReminder.objects.count() == 1
    assert len(reminded()) == 1


def test_a_sweep_after_the_reminders_went_out_only_reads(
    pending, make_incident, people, actor_for, django_assert_max_num_queries
):
    for _ in range(5):
        corrections.correction_request(
            actor=actor_for(people["responder"]), incident=pending.incident, type="pause_deployment",
            deployment="atlas-api", params={}, rationale=RATIONALE,
        )  # fmt: skip
    now = pending.pending_until - timedelta(minutes=10)  # every one past its last stage
    assert reminders.corrections_remind(actor=SWEEP, now=now) == 6
    with django_assert_max_num_queries(8):  # pending + prefetches, break glass + prefetches, the sent keys
        assert reminders.corrections_remind(actor=SWEEP, now=now + timedelta(minutes=1)) == 0
