"""notify(): the one way out, addressed by the same visibility as the pages (DESIGN §7).

Every kind of message, through the real services, is covered in tests/corrections/test_notifications.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core import mail
from django.db import transaction

from accounts.roles import Role
from incidents import services
from incidents.models import Delivery, Incident, Notification
from incidents.notifications import Need, notify
from incidents.selectors import can_view_incident, viewers_among

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cast(make_user, make_incident, actor_for):
    """A restricted and an open incident, and people on every side of the restricted one's rule."""
    reporter, leader = make_user(Role.RESPONDER), make_user(Role.LEADERSHIP)
    restricted = make_incident(by=reporter, title="Secret title", restricted=True)
    open_incident = make_incident(by=reporter, title="Open title")
    granted, revoked, inactive, roleless = (make_user(Role.RESPONDER), make_user(Role.INCIDENT_COMMANDER),
                                            make_user(Role.RESPONDER), make_user(None))  # fmt: skip
    for user in (granted, revoked, inactive, roleless):
        services.incident_grant_access(actor=actor_for(leader), incident=restricted, user=user, reason="needs it")
    services.incident_grant_access(
        actor=actor_for(leader), incident=restricted, user=revoked, reason="left", revoke=True
    )
    inactive.is_active = False
    inactive.save()
    people = {
        "reporter": reporter, "leader": leader, "granted": granted, "revoked": revoked, "inactive": inactive,
        "roleless": roleless, "ungranted responder": make_user(Role.RESPONDER),
        "ungranted commander": make_user(Role.INCIDENT_COMMANDER), "auditor": make_user(Role.AUDITOR),
        "admin": make_user(Role.ADMIN),
    }  # fmt: skip
    return {"restricted": restricted, "open": open_incident, "people": people}


@pytest.mark.parametrize("which", ["restricted", "open"])
def test_notify_addresses_people_exactly_as_the_pages_let_them_see(cast, which, django_assert_num_queries):
    incident, people = cast[which], list(cast["people"].values())
    expected = {user.pk for user in people if can_view_incident(user, incident)}
    with django_assert_num_queries(1):  # one query for every recipient, not one each
        assert viewers_among(incident=incident, users=people) == expected
    if which == "restricted":  # the rule is not vacuous: both sides are populated
        names = {name for name, user in cast["people"].items() if user.pk in expected}
        assert names == {"reporter", "leader", "granted"}


def test_a_stale_copy_of_a_restricted_incident_still_gets_the_generic_message(cast, make_user, deliver_notifications):
    stale = Incident.objects.get(pk=cast["open"].pk)
    Incident.objects.filter(pk=stale.pk).update(restricted=True)  # restricted since the caller read it
    outsider = make_user(Role.INCIDENT_COMMANDER)
    notified = notify(incident=stale, users=[outsider], subject="Open title", body="Open title", needs=Need.APPROVAL)
    assert notified == [f"{outsider.username} (redacted)"]
    deliver_notifications()
    [message] = mail.outbox
    assert "Open title" not in message.subject + message.body
    assert message.subject == "[Failsafe] A restricted incident needs an approval"
    assert stale.ref in message.body


def test_notify_costs_a_fixed_number_of_queries_whatever_the_number_of_recipients(cast, django_assert_num_queries):
    """Viewers, preferences and Slack ids, the webhooks subscribed to the event, the notification, its
    deliveries: six queries, for one person or ten."""
    people = list(cast["people"].values())
    for recipients in (people[:1], people):
        with django_assert_num_queries(6):
            notified = notify(incident=cast["restricted"], users=recipients, subject="s", body="b")
        assert len(notified) == len(recipients)


def test_a_message_about_no_incident_goes_to_everyone_in_full(make_user, deliver_notifications):
    users = [make_user(Role.RESPONDER), make_user(None)]
    notified = notify(incident=None, users=users, subject="Maintenance", body="Tonight.")
    assert notified == [u.username for u in users]
    deliver_notifications()
    assert sorted((m.to[0], m.body.split("\n")[0]) for m in mail.outbox) == sorted((u.email, "Tonight.") for u in users)


def test_nothing_is_written_or_sent_when_the_change_rolls_back(
    cast, django_capture_on_commit_callbacks, deliver_notifications
):
    capture = django_capture_on_commit_callbacks(execute=True)
    with capture as callbacks, pytest.raises(RuntimeError), transaction.atomic():
        notify(incident=cast["open"], users=[cast["people"]["leader"]], subject="s", body="b")
        assert Delivery.objects.count() == 1  # written in the change's transaction...
        raise RuntimeError("the change failed")
    assert callbacks == []  # ...so no task is queued,
    assert not Notification.objects.exists() and not Delivery.objects.exists()  # and nothing stays
    deliver_notifications()
    assert mail.outbox == []


MAIL_APIS = re.compile(r"\b(send_mail|send_mass_mail|mail_admins|mail_managers|EmailMessage|EmailMultiAlternatives)\b")


def test_no_other_module_sends_mail_around_notify():
    """Another way out would skip the visibility rule: notify() writes what the email channel sends."""
    senders = {
        str(path.relative_to(ROOT))
        for app in ("config", "accounts", "incidents", "corrections")
        for path in (ROOT / app).rglob("*.py")
        if MAIL_APIS.search(path.read_text())
    }
    assert senders == {"incidents/channels/email.py"}
