"""notify() joined to the channels (issue 11 §2, §3, §6): a person's email and Slack DM, the Slack
channels of the roles a message addresses (and the incident's own channel), the webhooks subscribed
to its event; one recipient filter for a restricted incident on every channel; one store for Slack
member ids; one list of event names. Real sockets: the Slack stand-in, a Standard Webhooks receiver
that verifies with the library, Django's locmem mail."""

from __future__ import annotations

import json

import pytest
from django.core import mail

from accounts.models import LedgerEvent
from accounts.roles import Role
from config.errors import DomainError
from incidents import preferences
from incidents import services as incidents
from incidents.channels import services as channel_services
from incidents.channels.webhooks import REDACTED_DATA_KEYS
from incidents.models import (
    EVENT_NAMES,
    Delivery,
    DeliveryState,
    Event,
    IncidentChatChannel,
    Notification,
    NotificationPreference,
    SlackIdentity,
)
from incidents.notifications import Need, notify
from tests.incidents.channels.test_webhooks import Receiver

pytestmark = pytest.mark.django_db

ACK = "http://testserver/pages/77/"


@pytest.fixture
def receiver(settings):
    settings.FAILSAFE_WEBHOOK_ALLOW_HTTP = True
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def admin(make_user, actor_for):
    return actor_for(make_user(Role.ADMIN))


@pytest.fixture
def wired(local_slack, receiver, admin):
    """Leadership and commanders routed to their Slack channels; a webhook subscribed to page and sev1."""
    channel_services.slack_role_channel_set(actor=admin, role=Role.LEADERSHIP, channel_id="C0LEADERS")
    channel_services.slack_role_channel_set(actor=admin, role=Role.INCIDENT_COMMANDER, channel_id="C0RESPOND")
    endpoint = channel_services.webhook_endpoint_create(
        actor=admin, name="Opsgenie", url=receiver.url, events=["page", "sev1"]
    )
    receiver.secret = endpoint.secret
    return {"slack": local_slack, "receiver": receiver, "endpoint": endpoint}


def slack_dm(user, member_id: str) -> None:
    NotificationPreference.objects.create(user=user, email_events=Event.values, slack_events=Event.values)
    SlackIdentity.objects.create(user=user, member_id=member_id)


def payloads(receiver) -> list[dict]:
    for request in receiver.requests:
        assert not isinstance(request["verified"], Exception), request["verified"]  # the library's own verifier
    return [json.loads(request["body"]) for request in receiver.requests]


def test_a_page_reaches_email_slack_dm_the_role_channel_and_the_subscribed_webhook(
    wired, make_user, make_incident, deliver_notifications
):
    leader = make_user(Role.LEADERSHIP)
    slack_dm(leader, "U0LEADER")
    incident = make_incident(title="Jailbreak wave")
    notify(incident=incident, users=[leader], subject="Jailbreak wave — PAGE", body="Look now.", event=Event.PAGE,
           ack_url=ACK, roles=[Role.LEADERSHIP], needs=Need.LEADERSHIP)  # fmt: skip
    outcomes = deliver_notifications()
    assert [o.result for o in outcomes] == ["sent"] * 4
    assert sorted(Delivery.objects.values_list("channel", "address")) == [
        ("email", leader.email), ("slack", "C0LEADERS"), ("slack", "U0LEADER"), ("webhook", str(wired["endpoint"].pk)),
    ]  # fmt: skip
    by_channel = {m["to"]: m for m in wired["slack"].messages}
    assert set(by_channel) == {"C0LEADERS", "U0LEADER"}
    for message in by_channel.values():
        assert "Jailbreak wave" in message["text"]
        buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert ACK in [b["url"] for b in buttons]
    [payload] = payloads(wired["receiver"])
    assert payload["type"] == "page" and payload["data"]["incident_ref"] == incident.ref
    [email] = mail.outbox
    assert ACK in email.body


def test_a_webhook_hears_each_notify_call_once_whatever_the_number_of_people(
    wired, make_user, make_incident, deliver_notifications
):
    people = [make_user(Role.LEADERSHIP) for _ in range(3)]
    notify(incident=make_incident(), users=people, subject="s", body="b", event=Event.PAGE, ack_url=ACK)
    assert Delivery.objects.filter(channel="webhook").count() == 1
    assert not Delivery.objects.filter(address="C0LEADERS").exists()  # no roles named: no role channel
    deliver_notifications()
    assert len(payloads(wired["receiver"])) == 1


def test_an_event_nobody_subscribed_to_writes_no_webhook_delivery(wired, make_user, make_incident):
    notify(incident=make_incident(), users=[make_user(Role.RESPONDER)], subject="s", body="b", event=Event.REVIEW)
    assert not Delivery.objects.filter(channel="webhook").exists()


def test_restricted_every_channel_gets_what_its_reader_may_see(wired, make_user, make_incident, deliver_notifications):
    """The role channel and the webhook are no person: the ref (and the ack link) only. Email follows
    each person: the leader reads it all, the commander without a grant the generic message. Slack
    keeps what it is sent, so even a leader's DM about a restricted incident is the ref and links."""
    incident = make_incident(title="Secret title", summary="Secret summary", restricted=True)
    leader, outsider = make_user(Role.LEADERSHIP), make_user(Role.INCIDENT_COMMANDER)
    slack_dm(leader, "U0LEADER")
    slack_dm(outsider, "U0OUTSIDER")
    told = notify(incident=incident, users=[leader, outsider], subject="Secret title — PAGE",
                  body="Secret summary", event=Event.PAGE, ack_url=ACK, roles=[Role.LEADERSHIP],
                  needs=Need.LEADERSHIP)  # fmt: skip
    assert told == [leader.username, f"{outsider.username} (redacted)"]
    assert {o.result for o in deliver_notifications()} == {"sent"}
    slack = {m["to"]: json.dumps(m) for m in wired["slack"].messages}
    assert set(slack) == {"C0LEADERS", "U0OUTSIDER", "U0LEADER"}
    for text in slack.values():
        assert "Secret" not in text and incident.ref in text
        assert ACK in text  # the generic page still carries the acknowledge link
    [payload] = payloads(wired["receiver"])
    assert "Secret" not in json.dumps(payload)
    assert payload["data"]["redacted"] is True
    assert {k: payload["data"][k] for k in REDACTED_DATA_KEYS} == {
        "ref": incident.ref, "event": "page", "needs": "leadership",
    }  # fmt: skip
    mails = {m.to[0]: m for m in mail.outbox}
    assert "Secret" in mails[leader.email].body
    assert "Secret" not in mails[outsider.email].subject + mails[outsider.email].body
    assert ACK in mails[outsider.email].body and incident.ref in mails[outsider.email].body


def test_restricted_the_incident_channel_gets_only_the_ref(wired, make_user, make_incident, deliver_notifications):
    incident = make_incident(title="Secret title", restricted=True)
    IncidentChatChannel.objects.create(incident=incident, channel_id="C0RESPOND", name="inc", created_by=make_user())
    notify(incident=incident, users=[], subject="Secret title", body="Secret body", event=Event.ESCALATION,
           roles=[Role.RESPONDER])  # fmt: skip
    deliver_notifications()
    [message] = wired["slack"].messages
    assert message["to"] == "C0RESPOND" and "Secret" not in json.dumps(message) and incident.ref in message["text"]


def test_an_escalation_tells_the_called_in_roles_channel(wired, make_user, make_incident, actor_for, task_sends):
    make_user(Role.INCIDENT_COMMANDER)
    incident = make_incident()
    incidents.incident_escalate(actor=actor_for(incident.reporter), incident=incident, reason="spreading")
    notification = Notification.objects.get(incident=incident, event=Event.ESCALATION)
    assert notification.deliveries.filter(channel="slack", address="C0RESPOND", user=None).count() == 1


def test_sev1_pages_leadership_and_tells_sev1_webhooks(wired, make_user, make_incident, actor_for, task_sends):
    make_user(Role.LEADERSHIP)
    incident = make_incident()
    incidents.incident_edit(actor=actor_for(incident.reporter), incident=incident, changes={"severity": "SEV1"},
                            reason="worse")  # fmt: skip
    page = Notification.objects.get(incident=incident, event=Event.PAGE)
    assert page.urgent and page.deliveries.filter(channel="slack", address="C0LEADERS").count() == 1
    assert page.deliveries.filter(channel="webhook").count() == 1
    sev1 = Notification.objects.get(incident=incident, event=Event.SEV1)
    assert list(sev1.deliveries.values_list("channel", flat=True)) == ["webhook"]


def test_a_page_to_someone_who_may_not_see_keeps_the_ack_link_in_one_notification(
    make_user, make_incident, actor_for, task_sends, deliver_notifications
):
    from datetime import date, time

    from incidents.oncall import services as oncall

    incident = make_incident(title="Secret title", restricted=True)
    commander = make_user(Role.INCIDENT_COMMANDER)
    oncall.rotation_create(actor=actor_for(make_user(Role.ADMIN)), role=Role.INCIDENT_COMMANDER, name="IC",
                           members=[commander], handoff_weekday=0, handoff_time=time(9, 0),
                           start_date=date(2026, 1, 5))  # fmt: skip
    page = oncall.page_open(actor=actor_for(incident.reporter), incident=incident, role=Role.INCIDENT_COMMANDER,
                            reason="dispatch_failed", subject="Secret title failed", summary="Secret")  # fmt: skip
    [notification] = Notification.objects.filter(incident=incident, event=Event.PAGE)
    assert notification.urgent and notification.ack_url.endswith(f"/pages/{page.pk}/")
    [row] = notification.deliveries.all()
    assert row.redacted and f"/pages/{page.pk}/" in row.text and "Secret" not in row.subject + row.text
    deliver_notifications()
    assert f"/pages/{page.pk}/" in mail.outbox[0].body


# --- one store for Slack member ids -------------------------------------------------------------------


def test_the_preferences_member_id_is_the_slack_identity(make_user, actor_for, api_for):
    user = make_user(Role.RESPONDER)
    preferences.preferences_update(actor=actor_for(user), user=user, data={"slack_member_id": "U0SELF"})
    assert SlackIdentity.objects.get(user=user).member_id == "U0SELF"
    assert api_for(user).get("/api/v1/me/notification-preferences/").json()["slack_member_id"] == "U0SELF"
    # An admin's change (channels' service) is what the person's preferences show and route by.
    channel_services.slack_identity_set(actor=actor_for(make_user(Role.ADMIN)), user=user, member_id="U0ADMINSET")
    assert preferences.preferences_of(user).slack_member_id == "U0ADMINSET"
    preferences.preferences_update(actor=actor_for(user), user=user, data={"slack_member_id": ""})
    assert not SlackIdentity.objects.filter(user=user).exists()


def test_nobody_takes_someone_elses_member_id(make_user, actor_for):
    owner, other = make_user(Role.RESPONDER), make_user(Role.RESPONDER)
    SlackIdentity.objects.create(user=owner, member_id="U0OWNER")
    with pytest.raises(DomainError) as error:
        preferences.preferences_update(actor=actor_for(other), user=other, data={"slack_member_id": "U0OWNER"})
    assert "Another person" in error.value.fields["slack_member_id"][0]
    assert SlackIdentity.objects.get(member_id="U0OWNER").user == owner
    assert not LedgerEvent.objects.filter(verb="notification.preferences_changed").exists()


def test_a_dm_goes_to_the_slack_identity_set_by_an_admin(make_user, make_incident, actor_for, admin, local_slack):
    user = make_user(Role.RESPONDER)
    NotificationPreference.objects.create(user=user, email_events=[], slack_events=["general"])
    channel_services.slack_identity_set(actor=admin, user=user, member_id="U0BYADMIN")
    notify(incident=None, users=[user], subject="s", body="b")
    assert list(Delivery.objects.values_list("channel", "address", "state")) == [
        ("slack", "U0BYADMIN", DeliveryState.PENDING)
    ]


# --- one list of event names -------------------------------------------------------------------------


def test_webhook_events_are_the_notification_events(admin, receiver):
    assert tuple(Event.values) == EVENT_NAMES
    endpoint = channel_services.webhook_endpoint_create(
        actor=admin, name="all", url=receiver.url, events=["preauthorised"]
    )
    assert endpoint.events == ["preauthorised"]
    with pytest.raises(DomainError) as error:
        channel_services.webhook_endpoint_create(actor=admin, name="x", url=receiver.url, events=["sev0"])
    assert "sev0" in error.value.fields["events"][0]
