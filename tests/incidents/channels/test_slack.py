"""The Slack channel, through the real slack_sdk WebClient against the local stand-in over a real socket."""

from __future__ import annotations

import io
import json
import urllib.request

import pytest

from accounts.models import LedgerEvent
from incidents.channels import base
from incidents.channels.base import DeliveryError, Message
from incidents.channels.local_slack import LocalSlack
from incidents.channels.slack import SlackChannel
from incidents.channels.webhooks import WebhookChannel

MESSAGE = Message(
    event="sev1",
    subject="INC-2026-0001 is SEV1",
    text="Weights <exfiltrated> & more",
    incident_ref="",
    url="http://failsafe.test/incidents/INC-2026-0001/",
    ack_url="http://failsafe.test/ack/abc/",
)


def send(address="C0RESPOND", message=MESSAGE, key="delivery-1"):
    SlackChannel().send(address=address, message=message, idempotency_key=key)


def test_both_channels_are_registered_under_their_names():
    assert isinstance(base.get("slack"), SlackChannel)
    assert isinstance(base.get("webhook"), WebhookChannel)
    assert {"slack", "webhook"} <= set(base.names())


def test_posts_subject_body_and_link_buttons_with_the_real_client(db, local_slack):
    send()

    [posted] = local_slack.messages
    assert posted["channel"] == "C0RESPOND"
    header, section, actions = posted["blocks"]
    assert header["text"]["text"] == "INC-2026-0001 is SEV1"
    assert section["text"]["text"] == "Weights &lt;exfiltrated&gt; &amp; more"  # mrkdwn control characters escaped
    buttons = {b["action_id"]: b["url"] for b in actions["elements"]}
    assert buttons == {"open": MESSAGE.url, "acknowledge": MESSAGE.ack_url}
    assert posted["metadata"]["event_payload"]["idempotency_key"] == "delivery-1"


def test_no_acknowledge_button_without_an_ack_url(db, local_slack):
    send(message=Message(event="general", subject="Hello", text="Body", url="http://failsafe.test/"))
    [posted] = local_slack.messages
    assert [b["action_id"] for b in posted["blocks"][-1]["elements"]] == ["open"]


def test_a_member_id_gets_a_direct_message(db, local_slack):
    send(address="U0ALICE")
    assert local_slack.messages[0]["channel"] == "D0ALICE"


def test_messages_are_listed_over_http_for_inspection(db, local_slack):
    send()
    with urllib.request.urlopen(local_slack.url.replace("/api/", "/_messages")) as response:
        body = json.load(response)
    assert [m["text"] for m in body["messages"]] == [local_slack.messages[0]["text"]]


def test_without_a_token_slack_is_off_and_the_error_is_permanent_and_says_so(db, settings):
    settings.FAILSAFE_SLACK_BOT_TOKEN = ""
    with pytest.raises(DeliveryError) as refused:
        send()
    assert not refused.value.transient
    assert "FAILSAFE_SLACK_BOT_TOKEN" in str(refused.value)


def test_a_wrong_token_is_invalid_auth_and_permanent(db, local_slack, settings):
    settings.FAILSAFE_SLACK_BOT_TOKEN = "xoxb-wrong"
    with pytest.raises(DeliveryError) as refused:
        send()
    assert not refused.value.transient and "invalid_auth" in str(refused.value)
    assert local_slack.messages == []


def test_rate_limited_is_transient_and_carries_retry_after(db, local_slack):
    local_slack.fail_next("ratelimited", status=429, retry_after=7)
    with pytest.raises(DeliveryError) as refused:
        send()
    assert refused.value.transient and refused.value.retry_after == 7
    send()  # the next try goes through
    assert len(local_slack.messages) == 1


@pytest.mark.parametrize(
    ("error", "status"), [("internal_error", 500), ("service_unavailable", 503), ("fatal_error", 200)]
)
def test_server_errors_are_transient(db, local_slack, error, status):
    local_slack.fail_next(error, status=status)
    with pytest.raises(DeliveryError) as refused:
        send()
    assert refused.value.transient


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "is_archived", "account_inactive"])
def test_refusals_about_the_address_or_the_bot_are_permanent(db, local_slack, error):
    local_slack.fail_next(error)
    with pytest.raises(DeliveryError) as refused:
        send()
    assert not refused.value.transient and error in str(refused.value)


def test_an_unknown_channel_is_permanent(db, local_slack):
    with pytest.raises(DeliveryError) as refused:
        send(address="C0NOSUCH")
    assert not refused.value.transient and "channel_not_found" in str(refused.value)


def test_an_unreachable_server_is_transient(db, settings):
    gone = LocalSlack(token="t")
    gone.serve()
    settings.FAILSAFE_SLACK_API_URL, settings.FAILSAFE_SLACK_BOT_TOKEN = gone.url, "t"
    gone.stop()  # nothing listens there any more
    with pytest.raises(DeliveryError) as refused:
        send()
    assert refused.value.transient


def test_a_restricted_incident_goes_to_slack_as_its_ref_and_a_link_only(local_slack, make_incident, make_user):
    incident = make_incident(restricted=True, title="Secret capability", summary="Hazardous details")
    full = Message(
        event="sev1",
        subject=f"{incident.ref}: Secret capability",
        text="Hazardous details",
        url=f"http://failsafe.test/incidents/{incident.ref}/",
        incident_ref=incident.ref,
        data={"title": "Secret capability"},
    )

    send(address="C0LEADERS", message=full)  # even to a channel only leadership reads: Slack keeps it

    posted = json.dumps(local_slack.messages)
    assert incident.ref in posted and full.url in posted
    assert "Secret" not in posted and "Hazardous" not in posted


def test_an_unrestricted_incident_goes_in_full(local_slack, make_incident):
    incident = make_incident(title="Open capability")
    send(
        message=Message(
            event="sev1", subject=f"{incident.ref}: Open capability", text="Details", incident_ref=incident.ref
        )
    )
    assert "Open capability" in local_slack.messages[0]["text"]


def test_sending_writes_nothing_to_the_ledger(db, local_slack):
    before = LedgerEvent.objects.count()
    send()
    assert LedgerEvent.objects.count() == before


def test_make_run_gives_the_app_and_the_stand_in_the_same_demo_token():
    from config import devstack
    from incidents.channels import local_slack

    assert devstack.DEMO_SLACK_TOKEN == local_slack.DEMO_TOKEN


def test_seed_demo_routes_each_role_to_its_demo_channel(db, settings, tmp_path):
    from django.core.management import call_command

    from incidents.channels.local_slack import DEMO_ROLE_CHANNELS
    from incidents.models import SlackIdentity, SlackRoleChannel

    settings.DEBUG = True
    for _ in range(2):  # safe to repeat
        call_command("seed_demo", gateway_state_dir=str(tmp_path), stdout=io.StringIO())
    routed = dict(SlackRoleChannel.objects.values_list("role", "channel_id"))
    assert routed == {role: channel_id for role, (channel_id, _) in DEMO_ROLE_CHANNELS.items()}
    assert SlackIdentity.objects.get(user__username="leader1").member_id == "U0LEADER1"
