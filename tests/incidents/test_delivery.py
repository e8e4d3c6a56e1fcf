"""Notifications as data (issue 11 §1, §2 email, §6): rows in the change's transaction, delivered
by the worker through the outbox machinery: retried, idempotent, resent after a broker outage,
deferred by quiet hours, filtered per channel by the one visibility rule."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from celery import Celery
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection
from django.utils import timezone

from accounts.models import LedgerEvent
from accounts.roles import Role
from config.errors import DomainError
from incidents import delivery as worker
from incidents import services
from incidents.channels import base as channels
from incidents.channels.base import DeliveryError
from incidents.localsmtp import LocalSmtp
from incidents.models import Delivery, DeliveryState, Event, Notification, NotificationPreference, SlackIdentity
from incidents.notifications import DELIVER_TASK, Address, notify

pytestmark = pytest.mark.django_db


class RecordingChannel:
    """A channel that records what it is asked to send, optionally slowly or failing."""

    def __init__(self, name: str, *, delay: float = 0.0, fail: DeliveryError | None = None):
        self.name, self.delay, self.fail = name, delay, fail
        self.sent: list[tuple[str, object, str]] = []
        self._lock = threading.Lock()

    def send(self, *, address, message, idempotency_key):
        time.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        with self._lock:
            self.sent.append((address, message, idempotency_key))


@pytest.fixture
def channel(monkeypatch):
    def make(name: str = "testchat", **kwargs) -> RecordingChannel:
        recording = RecordingChannel(name, **kwargs)
        monkeypatch.setitem(channels._CHANNELS, name, recording)
        return recording

    return make


def only_delivery() -> Delivery:
    [row] = Delivery.objects.all()
    return row


# --- written with the change, sent after commit ----------------------------------------------------


def test_an_escalation_writes_its_notification_and_deliveries_in_the_same_transaction(
    make_user, make_incident, actor_for, django_capture_on_commit_callbacks, task_sends
):
    commanders = [make_user(Role.INCIDENT_COMMANDER), make_user(Role.INCIDENT_COMMANDER)]
    incident = make_incident()
    with django_capture_on_commit_callbacks(execute=True):
        services.incident_escalate(actor=actor_for(incident.reporter), incident=incident, reason="spreading")
        assert Notification.objects.filter(event=Event.ESCALATION, incident=incident).count() == 1  # before commit
    rows = Delivery.objects.filter(notification__incident=incident).order_by("id")
    assert {row.user_id for row in rows} >= {c.pk for c in commanders}
    assert all(row.channel == "email" and row.state == DeliveryState.PENDING for row in rows)
    assert [args[0] for name, args, _ in task_sends if name == DELIVER_TASK] == [row.pk for row in rows]
    assert mail.outbox == []  # the web process sent nothing: the worker will


def test_notify_outside_a_transaction_wraps_its_own(make_user, django_capture_on_commit_callbacks, task_sends):
    user = make_user(Role.RESPONDER)
    with django_capture_on_commit_callbacks(execute=True):
        notify(incident=None, users=[user], subject="s", body="b")
    assert only_delivery().sent_at is not None  # handed to the broker after its commit


def test_no_mail_server_is_contacted_during_the_web_request(
    make_user,
    make_incident,
    client_for,
    settings,
    task_sends,
    deliver_notifications,
    django_capture_on_commit_callbacks,
):
    """A mail backend that records which thread and when: nothing while the request runs."""
    calls: list[tuple[int, float]] = []

    class RecordingBackend(EmailBackend):
        def send_messages(self, messages):
            calls.append((threading.get_ident(), time.monotonic()))
            return super().send_messages(messages)

    settings.EMAIL_BACKEND = f"{__name__}.RecordingBackend"
    globals()["RecordingBackend"] = RecordingBackend
    make_user(Role.INCIDENT_COMMANDER)
    incident = make_incident()
    client = client_for(incident.reporter)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/incidents/{incident.ref}/escalate/", {"reason": "worse"})
    finished = time.monotonic()
    assert response.status_code in (200, 302)
    assert calls == []
    assert Delivery.objects.filter(state=DeliveryState.PENDING).exists()
    deliver_notifications()
    assert calls and all(at > finished for _, at in calls)


# --- the worker --------------------------------------------------------------------------------------


def test_a_sent_delivery_is_never_sent_again(make_user, deliver_notifications):
    notify(incident=None, users=[make_user(Role.RESPONDER)], subject="once", body="b")
    row = only_delivery()
    assert worker.delivery_deliver(delivery_id=row.pk).result == "sent"
    assert worker.delivery_deliver(delivery_id=row.pk).result == "skipped"  # the task ran again
    assert deliver_notifications() == []
    assert len(mail.outbox) == 1
    row.refresh_from_db()
    assert (row.state, row.attempt_count) == (DeliveryState.SENT, 1)


def test_a_transient_error_retries_with_backoff_then_fails_when_the_budget_is_spent(make_user, channel, settings):
    flaky = channel(fail=DeliveryError("421 try later", transient=True))
    notify(incident=None, users=[], to=[Address("testchat", "#ops")], subject="s", body="b")
    row = only_delivery()
    now = timezone.now()
    first = worker.delivery_deliver(delivery_id=row.pk, now=now)
    assert first.result == "retry" and first.retry_in > 0
    row.refresh_from_db()
    assert row.state == DeliveryState.PENDING and row.next_attempt_at > now and "421" in row.last_error
    assert worker.delivery_deliver(delivery_id=row.pk, now=now).result == "early"  # a duplicate cannot skip the wait
    settings.FAILSAFE_NOTIFY_RETRY_SECONDS = 0
    assert worker.delivery_deliver(delivery_id=row.pk, now=row.next_attempt_at).result == "failed"
    row.refresh_from_db()
    assert row.state == DeliveryState.FAILED and "gave up after 2 attempts" in row.last_error
    assert flaky.sent == []


def test_a_permanent_error_fails_at_once(channel):
    channel(fail=DeliveryError("channel_not_found", transient=False))
    notify(incident=None, users=[], to=[Address("testchat", "#gone")], subject="s", body="b")
    assert worker.delivery_deliver(delivery_id=only_delivery().pk).result == "failed"
    assert only_delivery().last_error == "channel_not_found"


def test_an_unknown_channel_fails_with_a_clear_error():
    notify(incident=None, users=[], to=[Address("carrier-pigeon", "loft 3")], subject="s", body="b")
    assert worker.delivery_deliver(delivery_id=only_delivery().pk).result == "failed"
    assert "carrier-pigeon" in only_delivery().last_error


def test_a_broker_outage_at_commit_leaves_the_delivery_for_the_relay(
    make_user, monkeypatch, django_capture_on_commit_callbacks, task_sends
):
    def down(self, *args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(Celery, "send_task", down)
    with django_capture_on_commit_callbacks(execute=True):
        notify(incident=None, users=[make_user(Role.RESPONDER)], subject="s", body="b")
    row = only_delivery()
    assert row.sent_at is None  # the commit went through; the message did not
    monkeypatch.setattr(Celery, "send_task", lambda self, name, args=None, **kw: task_sends.append((name, args)))
    assert worker.deliveries_relay(now=timezone.now()) == 0  # too fresh: its own send may still be on the way
    assert worker.deliveries_relay(now=timezone.now() + timedelta(seconds=3)) == 1
    assert task_sends == [(DELIVER_TASK, [row.pk])]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_of_the_task_at_once_deliver_once(make_user, channel, task_sends):
    slow = channel(delay=0.5)
    notify(incident=None, users=[], to=[Address("testchat", "#ops")], subject="s", body="b")
    row = only_delivery()
    results, barrier = [], threading.Barrier(4)

    def run():
        barrier.wait()
        try:
            results.append(worker.delivery_deliver(delivery_id=row.pk).result)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["busy", "busy", "busy", "sent"]
    assert len(slow.sent) == 1
    assert worker.delivery_deliver(delivery_id=row.pk).result == "skipped"


# --- visibility, per channel ------------------------------------------------------------------------------


@pytest.mark.parametrize("restricted", [True, False])
def test_an_address_that_is_no_person_gets_the_generic_message_about_a_restricted_incident(
    restricted, make_incident, channel, deliver_notifications
):
    chat = channel()
    incident = make_incident(title="Secret title", restricted=restricted)
    notify(incident=incident, users=[], to=[Address("testchat", "#leadership")], subject="Secret title", body="x")
    deliver_notifications()
    [(address, message, _)] = chat.sent
    assert address == "#leadership"
    assert message.redacted is restricted
    assert ("Secret title" in message.subject) is not restricted
    assert message.incident_ref == incident.ref


def test_each_channel_of_a_person_gets_what_that_person_may_see(
    make_user, make_incident, channel, deliver_notifications
):
    """Email and Slack alike: the person's visibility, decided once, applies to every channel."""
    slack = channel("slack")
    incident = make_incident(title="Secret title", restricted=True)
    outsider, leader = make_user(Role.INCIDENT_COMMANDER), make_user(Role.LEADERSHIP)
    for user in (outsider, leader):
        NotificationPreference.objects.create(user=user, email_events=Event.values, slack_events=Event.values)
        SlackIdentity.objects.create(user=user, member_id=f"U{user.pk:08d}")
    told = notify(incident=incident, users=[outsider, leader], subject="Secret title", body="Secret body")
    assert told == [f"{outsider.username} (redacted)", leader.username]
    deliver_notifications()
    rows = {(row.user_id, row.channel): row for row in Delivery.objects.all()}
    assert set(rows) == {(u.pk, c) for u in (outsider, leader) for c in ("email", "slack")}
    for channel_name in ("email", "slack"):
        assert rows[(outsider.pk, channel_name)].redacted and "Secret" not in rows[(outsider.pk, channel_name)].text
        assert not rows[(leader.pk, channel_name)].redacted
    [outsider_mail] = [m for m in mail.outbox if m.to == [outsider.email]]
    assert "Secret" not in outsider_mail.subject + outsider_mail.body
    assert [m.redacted for a, m, _ in sorted(slack.sent, key=lambda s: s[0])] == [
        a != f"U{leader.pk:08d}" for a, _, _ in sorted(slack.sent, key=lambda s: s[0])
    ]


# --- preferences: events switched off, quiet hours -----------------------------------------------------


def test_an_event_switched_off_is_not_delivered_but_a_page_always_is(make_user):
    user = make_user(Role.RESPONDER)
    NotificationPreference.objects.create(user=user, email_events=[Event.REVIEW])
    assert notify(incident=None, users=[user], subject="s", body="b", event=Event.ESCALATION) == [user.username]
    assert not Delivery.objects.exists()
    notify(incident=None, users=[user], subject="wake up", body="b", event=Event.PAGE)
    assert only_delivery().channel == "email"
    notify(incident=None, users=[user], subject="urgent", body="b", event=Event.GENERAL, urgent=True)
    assert Delivery.objects.count() == 2


def _quiet_now(user, zone="Asia/Tokyo"):
    """Quiet hours around this very minute, in the user's (non-UTC) time zone."""
    from zoneinfo import ZoneInfo

    local = timezone.now().astimezone(ZoneInfo(zone))
    start, end = (local - timedelta(hours=1)).time(), (local + timedelta(hours=1)).time()
    NotificationPreference.objects.create(
        user=user, email_events=Event.values, quiet_start=start.replace(second=0, microsecond=0),
        quiet_end=end.replace(second=0, microsecond=0), time_zone=zone,
    )  # fmt: skip
    return local + timedelta(hours=1)


def test_quiet_hours_defer_a_non_urgent_message_to_their_end(make_user, django_capture_on_commit_callbacks, task_sends):
    user = make_user(Role.RESPONDER)
    ends = _quiet_now(user)
    with django_capture_on_commit_callbacks(execute=True):
        notify(incident=None, users=[user], subject="later", body="b", event=Event.REVIEW)
    row = only_delivery()
    assert row.state == DeliveryState.DEFERRED
    assert abs((row.next_attempt_at - ends).total_seconds()) < 61
    assert task_sends == []  # not handed to the broker now...
    assert worker.deliveries_relay(now=timezone.now() + timedelta(minutes=30)) == 0
    assert worker.delivery_deliver(delivery_id=row.pk).result == "early"
    # ...but by the relay once the quiet hours are over.
    assert worker.deliveries_relay(now=row.next_attempt_at + timedelta(seconds=11)) == 1
    assert worker.delivery_deliver(delivery_id=row.pk, now=row.next_attempt_at).result == "sent"


@pytest.mark.parametrize("event", [Event.PAGE, Event.SEV1, Event.BREAK_GLASS])
def test_pages_sev1_and_break_glass_ignore_quiet_hours(
    event, make_user, django_capture_on_commit_callbacks, task_sends
):
    user = make_user(Role.LEADERSHIP)
    _quiet_now(user)
    with django_capture_on_commit_callbacks(execute=True):
        notify(incident=None, users=[user], subject="now", body="b", event=event)
    row = only_delivery()
    assert row.state == DeliveryState.PENDING and row.notification.urgent
    assert [args for name, args, _ in task_sends] == [(row.pk,)]


def test_a_sev1_through_the_real_service_is_urgent(make_incident, make_user, actor_for):
    """A SEV1 pages leadership (incidents.oncall): the page's notification is urgent, so quiet hours
    do not hold it back, and carries the acknowledge link."""
    leader = make_user(Role.LEADERSHIP)
    _quiet_now(leader)
    incident = make_incident()
    services.incident_edit(actor=actor_for(incident.reporter), incident=incident, changes={"severity": "SEV1"},
                           reason="catastrophic")  # fmt: skip
    notification = Notification.objects.get(incident=incident, event=Event.PAGE)
    assert notification.urgent and "/pages/" in notification.ack_url
    assert notification.deliveries.get(user=leader).state == DeliveryState.PENDING


# --- email over a real SMTP connection (aiosmtpd) --------------------------------------------------------


@pytest.fixture
def smtp(settings):
    server = LocalSmtp().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", server.port, 2
    yield server
    server.stop()


def test_email_goes_out_as_html_and_text_with_the_page_and_ack_links(make_incident, make_user, smtp):
    user = make_user(Role.LEADERSHIP)
    incident = make_incident(title="Tool misuse")
    notify(incident=incident, users=[user], subject="Page: Tool misuse", body="Look.", event=Event.PAGE,
           ack_url="http://127.0.0.1:8000/ack/abc/")  # fmt: skip
    assert worker.delivery_deliver(delivery_id=only_delivery().pk).result == "sent"
    [message] = smtp.messages
    assert message["Subject"] == "[Failsafe] Page: Tool misuse"
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in message.walk() if not p.is_multipart()}
    assert "Look." in parts["text/plain"] and "http://127.0.0.1:8000/ack/abc/" in parts["text/plain"]
    assert f'href="http://127.0.0.1:8000/incidents/{incident.ref}/"' in parts["text/html"]
    assert 'href="http://127.0.0.1:8000/ack/abc/"' in parts["text/html"]
    assert message["Message-ID"] == f"<{only_delivery().idempotency_key}@failsafe>"


def test_a_rejected_address_fails_for_good(make_user, smtp):
    user = make_user(Role.RESPONDER)
    smtp.refuse.add(user.email)
    notify(incident=None, users=[user], subject="s", body="b")
    assert worker.delivery_deliver(delivery_id=only_delivery().pk).result == "failed"
    assert "550" in only_delivery().last_error


def test_mail_down_is_retried_and_delivered_when_the_server_comes_back(
    make_user, make_incident, client_for, smtp, django_capture_on_commit_callbacks, task_sends, capsys
):
    """Acceptance: the web request takes as long with the mail server down as up; the message arrives later."""
    make_user(Role.INCIDENT_COMMANDER)

    def escalate() -> float:
        incident = make_incident()
        client = client_for(incident.reporter)
        started = time.perf_counter()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/incidents/{incident.ref}/escalate/", {"reason": "worse"})
        assert response.status_code in (200, 302)
        return time.perf_counter() - started

    escalate()  # warm up (templates, URL conf)
    up = min(escalate() for _ in range(3))
    smtp.stop()
    down = min(escalate() for _ in range(3))
    with capsys.disabled():
        print(f"\nweb request (escalate, best of 3): mail up {up * 1000:.1f} ms, mail down {down * 1000:.1f} ms")
    assert down < up + 0.5  # no connect timeout, no SMTP at all in the request

    pending = list(Delivery.objects.filter(done_at__isnull=True).order_by("id"))
    now = timezone.now()
    assert {worker.delivery_deliver(delivery_id=d.pk, now=now).result for d in pending} == {"retry"}
    assert all("unavailable" in d.last_error for d in Delivery.objects.filter(pk__in=[d.pk for d in pending]))
    smtp.start()  # the mail server comes back on the same port
    later = now + timedelta(hours=1)
    assert {worker.delivery_deliver(delivery_id=d.pk, now=later).result for d in pending} == {"sent"}
    assert smtp.count >= len(pending)


# --- admin: a failed delivery can be resent, ledgered --------------------------------------------------


def test_the_admin_resends_a_failed_delivery_and_the_ledger_says_so(
    make_user, make_incident, channel, client, actor_for, django_capture_on_commit_callbacks, task_sends
):
    channel(fail=DeliveryError("404 no such hook", transient=False))
    incident = make_incident()
    notify(incident=incident, users=[], to=[Address("testchat", "hook-1")], subject="s", body="b")
    row = only_delivery()
    worker.delivery_deliver(delivery_id=row.pk)
    admin = make_user(Role.ADMIN)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/incidents/delivery/", {"action": "resend", "_selected_action": [row.pk]})
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.state == DeliveryState.PENDING and row.done_at is None
    event = LedgerEvent.objects.get(verb="notification.resent")
    assert event.incident_ref == incident.ref and event.after["recipient"] == "hook-1"
    assert (DELIVER_TASK, (row.pk,)) in [(name, args) for name, args, _ in task_sends]
    with pytest.raises(DomainError, match="Only a failed delivery"):  # one that did not fail is not resent
        worker.delivery_resend(actor=actor_for(admin), delivery=row)


def test_the_task_retries_itself_with_the_backoff_countdown_on_a_transient_error(channel, task_sends):
    from celery.exceptions import Retry

    from incidents.tasks import deliver_notification

    channel(fail=DeliveryError("timed out", transient=True))
    notify(incident=None, users=[], to=[Address("testchat", "#ops")], subject="s", body="b")
    row = only_delivery()
    with pytest.raises(Retry):
        deliver_notification(row.pk)
    row.refresh_from_db()
    assert row.next_attempt_at is not None and row.attempt_count == 1


def test_the_task_reports_sent_and_then_skipped(channel):
    from incidents.tasks import deliver_notification

    channel()
    notify(incident=None, users=[], to=[Address("testchat", "#ops")], subject="s", body="b")
    assert deliver_notification(only_delivery().pk) == "sent"
    assert deliver_notification(only_delivery().pk) == "skipped"
