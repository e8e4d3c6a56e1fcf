"""Follow-up owners are reminded 48 h and 24 h before an action falls due (the end of its due date,
UTC), once each, at a fixed `now`; the beat task is routed and runs the same sweep."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail

from accounts.actor import Actor
from accounts.models import LedgerEvent
from accounts.roles import Role
from incidents import reminders
from incidents.events import IncidentEvent
from incidents.models import FollowUpAction, FollowUpStatus, Review, SentReminder

SWEEP = Actor.system("send_reminders")
DUE = date(2026, 6, 10)
DUE_AT = datetime(2026, 6, 11, tzinfo=UTC)  # the end of the due date
SECRET = "Bio uplift through the agent's browsing tool"


@pytest.fixture
def follow_up(make_incident, make_user):
    def make(*, owner=None, due=DUE, restricted=False, status=FollowUpStatus.OPEN):
        reporter = make_user(Role.RESPONDER)
        incident = make_incident(by=reporter, restricted=restricted, title=SECRET)
        review = Review.objects.create(incident=incident, created_by=reporter)
        return FollowUpAction.objects.create(
            review=review, title="Add a canary for the browsing tool", owner=owner or reporter, due_date=due,
            status=status, created_by=reporter,
        )  # fmt: skip

    return make


def sent():
    return [e.after["key"].rsplit(":", 1)[1] for e in LedgerEvent.objects.filter(verb=IncidentEvent.REMINDER_SENT)]


def test_the_owner_is_reminded_48_and_24_hours_before_once_each(follow_up):
    action = follow_up()
    assert reminders.follow_ups_remind(actor=SWEEP, now=DUE_AT - timedelta(hours=48, seconds=1)) == 0
    assert reminders.follow_ups_remind(actor=SWEEP, now=DUE_AT - timedelta(hours=48)) == 1
    assert reminders.follow_ups_remind(actor=SWEEP, now=DUE_AT - timedelta(hours=30)) == 0
    assert reminders.follow_ups_remind(actor=SWEEP, now=DUE_AT - timedelta(hours=24)) == 1
    assert reminders.follow_ups_remind(actor=SWEEP, now=DUE_AT - timedelta(hours=1)) == 0
    assert (
        reminders.follow_ups_remind(actor=SWEEP, now=DUE_AT + timedelta(hours=1)) == 0
    )  # overdue: the dashboard shows it
    assert sent() == ["48h", "24h"]
    event = LedgerEvent.objects.filter(verb=IncidentEvent.REMINDER_SENT).first()
    assert event.after["to"] == [action.owner.username]


def test_a_late_first_sweep_sends_only_the_24_hour_reminder(follow_up):
    follow_up()
    assert reminders.follow_ups_remind(actor=SWEEP, now=DUE_AT - timedelta(hours=3)) == 1
    assert sent() == ["24h"]


def test_a_done_action_is_not_reminded(follow_up):
    follow_up(status=FollowUpStatus.DONE)
    assert reminders.follow_ups_remind(actor=SWEEP, now=DUE_AT - timedelta(hours=24)) == 0


def test_a_new_due_date_is_reminded_afresh(follow_up):
    action = follow_up()
    reminders.follow_ups_remind(actor=SWEEP, now=DUE_AT - timedelta(hours=24))
    FollowUpAction.objects.filter(pk=action.pk).update(due_date=DUE + timedelta(days=7))
    later = DUE_AT + timedelta(days=7) - timedelta(hours=24)
    assert reminders.follow_ups_remind(actor=SWEEP, now=later) == 1
    assert SentReminder.objects.count() == 2


def test_an_owner_without_access_to_a_restricted_incident_learns_only_the_ref(
    follow_up, make_user, django_capture_on_commit_callbacks, task_sends, deliver_notifications
):
    outsider = make_user(Role.RESPONDER)
    action = follow_up(owner=outsider, restricted=True)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        reminders.follow_ups_remind(actor=SWEEP, now=DUE_AT - timedelta(hours=24))
    deliver_notifications()  # what the worker does with the rows
    [message] = mail.outbox
    text = message.subject + message.body
    assert action.review.incident.ref in text
    assert SECRET not in text and action.title not in text


def test_the_beat_tasks_are_routed_and_scheduled(settings):
    for task in ("incidents.send_reminders", "corrections.send_reminders"):
        assert settings.CELERY_TASK_ROUTES[task] == {"queue": "sweeps"}
        assert any(entry["task"] == task for entry in settings.CELERY_BEAT_SCHEDULE.values())


def test_the_task_runs_the_sweep(follow_up):
    from incidents import tasks

    follow_up(due=datetime.now(UTC).date())
    assert tasks.send_reminders() == 1
    assert tasks.send_reminders() == 0


@pytest.mark.django_db(transaction=True)
def test_a_claim_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError):
        reminders.reminder_claim(key="x", now=DUE_AT)
