"""An incident's own Slack channel (service, page, API), Slack routing per role, and the admin pages."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection

from accounts.models import LedgerEvent
from accounts.roles import Role
from config.errors import DomainError
from incidents.channels import services
from incidents.channels.events import ChannelEvent
from incidents.channels.routing import chat_addresses_for
from incidents.models import IncidentChatChannel, SlackIdentity, SlackRoleChannel


@pytest.fixture
def slack_ids(make_user, actor_for):
    admin = make_user(Role.ADMIN)

    def give(user, member_id):
        services.slack_identity_set(actor=actor_for(admin), user=user, member_id=member_id)
        return user

    return give


def test_opening_creates_the_channel_invites_its_people_and_posts_the_summary(
    local_slack, make_user, make_incident, actor_for, slack_ids
):
    reporter = slack_ids(make_user(Role.RESPONDER), "U0REPORTER")
    commander = slack_ids(make_user(Role.INCIDENT_COMMANDER), "U0COMMANDER")
    make_user(Role.RESPONDER)  # no Slack id: not invited, no error
    incident = make_incident(by=reporter, title="Jailbreak spreading", summary="A prompt is shared widely.")

    chat, created = services.incident_open_chat_channel(actor=actor_for(commander), incident=incident)

    assert created and chat.name == incident.ref.lower()
    channel = local_slack.channels[chat.channel_id]
    assert channel["name"] == incident.ref.lower() and not channel["is_private"]
    assert channel["members"] == ["U0REPORTER"]  # the commander is not one of the incident's people yet
    assert "Jailbreak spreading" in channel["topic"]
    [posted] = local_slack.messages
    assert posted["channel"] == chat.channel_id and "A prompt is shared widely." in posted["text"]
    event = LedgerEvent.objects.get(verb=ChannelEvent.CHAT_CHANNEL_OPENED)
    assert event.incident_ref == incident.ref and event.after["channel_id"] == chat.channel_id


def test_a_second_call_returns_the_existing_channel_without_calling_slack(
    local_slack, make_user, make_incident, actor_for
):
    commander = make_user(Role.INCIDENT_COMMANDER)
    incident = make_incident()
    first, _ = services.incident_open_chat_channel(actor=actor_for(commander), incident=incident)
    calls = len(local_slack.calls)

    again, created = services.incident_open_chat_channel(actor=actor_for(make_user(Role.LEADERSHIP)), incident=incident)

    assert not created and again.pk == first.pk
    assert len(local_slack.calls) == calls
    assert IncidentChatChannel.objects.count() == 1
    assert LedgerEvent.objects.filter(verb=ChannelEvent.CHAT_CHANNEL_OPENED).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_commanders_at_once_open_one_channel(local_slack, make_user, make_incident, actor_for):
    incident = make_incident()
    commanders = [make_user(Role.INCIDENT_COMMANDER) for _ in range(2)]
    results, barrier = [], threading.Barrier(2)

    def press(user):
        try:
            barrier.wait()
            results.append(services.incident_open_chat_channel(actor=actor_for(user), incident=incident))
        finally:
            connection.close()

    threads = [threading.Thread(target=press, args=(user,)) for user in commanders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(created for _, created in results) == [False, True]
    assert len(local_slack.channels) == 3  # the two seeded and one new
    assert IncidentChatChannel.objects.count() == 1


def test_a_restricted_incident_gets_a_private_channel_with_its_ref_and_a_link_only(
    local_slack, make_user, make_incident, actor_for, slack_ids
):
    reporter = slack_ids(make_user(Role.RESPONDER), "U0REPORTER")
    outsider = slack_ids(make_user(Role.RESPONDER), "U0OUTSIDER")
    incident = make_incident(by=reporter, restricted=True, title="Bioweapon uplift", summary="Synthesis route")
    incident.participants.add(outsider)  # a participant without a grant (a stale row): still not invited

    chat, _ = services.incident_open_chat_channel(actor=actor_for(make_user(Role.LEADERSHIP)), incident=incident)

    channel = local_slack.channels[chat.channel_id]
    assert channel["is_private"] and channel["members"] == ["U0REPORTER"]
    told = json.dumps([channel["topic"], local_slack.messages])
    assert incident.ref in told and f"/incidents/{incident.ref}/" in told
    assert "Bioweapon" not in told and "Synthesis" not in told


def test_a_responder_may_not_open_the_channel(local_slack, make_user, make_incident, actor_for):
    incident = make_incident()
    with pytest.raises(DomainError) as refused:
        services.incident_open_chat_channel(actor=actor_for(make_user(Role.RESPONDER)), incident=incident)
    assert refused.value.code == "forbidden"
    assert local_slack.calls == []


def test_with_slack_off_opening_is_a_clear_conflict(db, settings, make_user, make_incident, actor_for):
    settings.FAILSAFE_SLACK_BOT_TOKEN = ""
    with pytest.raises(DomainError) as refused:
        services.incident_open_chat_channel(
            actor=actor_for(make_user(Role.INCIDENT_COMMANDER)), incident=make_incident()
        )
    assert refused.value.code == "conflict" and "FAILSAFE_SLACK_BOT_TOKEN" in refused.value.message


def test_a_name_already_taken_in_slack_opens_a_fresh_channel(local_slack, make_user, make_incident, actor_for):
    incident = make_incident()
    local_slack.add_channel("C0SOMEONES", incident.ref.lower())  # someone's own channel by that name

    chat, _ = services.incident_open_chat_channel(
        actor=actor_for(make_user(Role.INCIDENT_COMMANDER)), incident=incident
    )

    assert chat.channel_id != "C0SOMEONES" and chat.name.startswith(incident.ref.lower() + "-")
    assert all(m["channel"] != "C0SOMEONES" for m in local_slack.messages)


def test_slack_refusing_leaves_nothing_recorded(local_slack, make_user, make_incident, actor_for):
    local_slack.fail_next("restricted_action")
    with pytest.raises(DomainError) as refused:
        services.incident_open_chat_channel(
            actor=actor_for(make_user(Role.INCIDENT_COMMANDER)), incident=make_incident()
        )
    assert refused.value.code == "conflict" and "restricted_action" in refused.value.message
    assert not IncidentChatChannel.objects.exists()
    assert not LedgerEvent.objects.filter(verb=ChannelEvent.CHAT_CHANNEL_OPENED).exists()


def test_a_refusal_after_the_channel_exists_keeps_it_and_records_the_problem(
    local_slack, make_user, make_incident, actor_for, slack_ids
):
    reporter = slack_ids(make_user(Role.RESPONDER), "U0REPORTER")
    incident = make_incident(by=reporter)
    commander = actor_for(make_user(Role.INCIDENT_COMMANDER))
    original = local_slack._conversations_invite
    local_slack._conversations_invite = lambda args: {"ok": False, "error": "cant_invite"}

    chat, created = services.incident_open_chat_channel(actor=commander, incident=incident)

    local_slack._conversations_invite = original
    assert created and chat.channel_id in local_slack.channels
    assert len(local_slack.messages) == 1  # the summary was still posted
    event = LedgerEvent.objects.get(verb=ChannelEvent.CHAT_CHANNEL_OPENED)
    assert "cant_invite" in event.after["problems"][0]
    again, created_again = services.incident_open_chat_channel(actor=commander, incident=incident)
    assert (again.pk, created_again) == (chat.pk, False)


# --- the page and the API ---------------------------------------------------------------------------


def test_the_page_offers_commanders_the_button_and_opens_the_channel(local_slack, make_user, make_incident, client_for):
    incident = make_incident()
    commander = client_for(make_user(Role.INCIDENT_COMMANDER))
    assert b"Open Slack channel" in commander.get(f"/incidents/{incident.ref}/").content
    assert b"Open Slack channel" not in client_for(make_user(Role.RESPONDER)).get(f"/incidents/{incident.ref}/").content

    response = commander.post(f"/incidents/{incident.ref}/chat-channel/", follow=True)

    assert response.status_code == 200
    chat = IncidentChatChannel.objects.get(incident=incident)
    assert f"#{chat.name}".encode() in response.content
    assert b"Open Slack channel" not in response.content


def test_the_page_says_slack_is_off_without_a_token(db, settings, make_user, make_incident, client_for):
    settings.FAILSAFE_SLACK_BOT_TOKEN = ""
    incident = make_incident()
    page = client_for(make_user(Role.INCIDENT_COMMANDER)).get(f"/incidents/{incident.ref}/").content
    assert b"Slack is off" in page and b"Open Slack channel" not in page


def test_an_auditor_cannot_post_the_button(local_slack, make_user, make_incident, client_for):
    incident = make_incident()
    response = client_for(make_user(Role.AUDITOR)).post(f"/incidents/{incident.ref}/chat-channel/")
    assert response.status_code == 403
    assert not IncidentChatChannel.objects.exists()


def test_the_api_opens_once_then_returns_the_same_channel(local_slack, make_user, make_incident, api_for):
    incident = make_incident()
    api = api_for(make_user(Role.INCIDENT_COMMANDER))
    first = api.post(f"/api/v1/incidents/{incident.ref}/chat-channel/", {}, format="json")
    second = api.post(f"/api/v1/incidents/{incident.ref}/chat-channel/", {}, format="json")
    assert (first.status_code, first.json()["created"]) == (201, True)
    assert (second.status_code, second.json()["created"]) == (200, False)
    assert first.json()["channel_id"] == second.json()["channel_id"]


def test_the_api_refuses_a_responder_and_an_unseen_restricted_incident(local_slack, make_user, make_incident, api_for):
    assert (
        api_for(make_user(Role.RESPONDER))
        .post(f"/api/v1/incidents/{make_incident().ref}/chat-channel/", {}, format="json")
        .status_code
        == 403
    )
    hidden = make_incident(restricted=True)
    response = api_for(make_user(Role.INCIDENT_COMMANDER)).post(
        f"/api/v1/incidents/{hidden.ref}/chat-channel/", {}, format="json"
    )
    assert response.status_code == 404
    assert local_slack.calls == []


def test_the_api_with_slack_off_answers_409(db, settings, make_user, make_incident, api_for):
    settings.FAILSAFE_SLACK_BOT_TOKEN = ""
    response = api_for(make_user(Role.INCIDENT_COMMANDER)).post(
        f"/api/v1/incidents/{make_incident().ref}/chat-channel/", {}, format="json"
    )
    assert response.status_code == 409 and "FAILSAFE_SLACK_BOT_TOKEN" in response.json()["detail"]


# --- routing ----------------------------------------------------------------------------------------


def test_chat_addresses_are_the_roles_channels_then_the_incidents_own(local_slack, make_user, make_incident, actor_for):
    admin = actor_for(make_user(Role.ADMIN))
    services.slack_role_channel_set(actor=admin, role="leadership", channel_id="C0LEADERS")
    services.slack_role_channel_set(actor=admin, role="responder", channel_id="C0RESPOND")
    incident = make_incident()
    assert chat_addresses_for(roles=["leadership"], incident=incident) == ["C0LEADERS"]
    chat, _ = services.incident_open_chat_channel(actor=actor_for(make_user(Role.LEADERSHIP)), incident=incident)
    assert chat_addresses_for(roles=[Role.LEADERSHIP, Role.RESPONDER], incident=incident) == [
        "C0LEADERS",
        "C0RESPOND",
        chat.channel_id,
    ]
    assert chat_addresses_for(roles=["auditor"], incident=None) == []


def test_role_channel_changes_are_ledgered_and_checked(db, make_user, actor_for):
    admin = actor_for(make_user(Role.ADMIN))
    services.slack_role_channel_set(actor=admin, role="leadership", channel_id="C0LEADERS")
    services.slack_role_channel_set(actor=admin, role="leadership", channel_id="C0OTHER")
    services.slack_role_channel_remove(actor=admin, role="leadership")
    verbs = list(LedgerEvent.objects.filter(verb__startswith="channels.").order_by("seq").values_list("verb", "before"))
    assert verbs == [
        (ChannelEvent.SLACK_ROLE_CHANNEL_SET, None),
        (ChannelEvent.SLACK_ROLE_CHANNEL_SET, {"role": "leadership", "channel_id": "C0LEADERS"}),
        (ChannelEvent.SLACK_ROLE_CHANNEL_REMOVED, {"role": "leadership", "channel_id": "C0OTHER"}),
    ]
    with pytest.raises(DomainError) as bad_id:
        services.slack_role_channel_set(actor=admin, role="leadership", channel_id="#general")
    assert "channel_id" in bad_id.value.fields
    with pytest.raises(DomainError) as bad_role:
        services.slack_role_channel_set(actor=admin, role="janitor", channel_id="C0X1")
    assert "role" in bad_role.value.fields
    with pytest.raises(DomainError) as not_admin:
        services.slack_role_channel_set(
            actor=actor_for(make_user(Role.LEADERSHIP)), role="leadership", channel_id="C0X1"
        )
    assert not_admin.value.code == "forbidden"


def test_a_member_id_belongs_to_one_person(db, make_user, actor_for):
    admin = actor_for(make_user(Role.ADMIN))
    services.slack_identity_set(actor=admin, user=make_user(), member_id="U0SAME")
    with pytest.raises(DomainError) as taken:
        services.slack_identity_set(actor=admin, user=make_user(), member_id="U0SAME")
    assert "member_id" in taken.value.fields


# --- the admin pages ------------------------------------------------------------------------------------


def _admin_user(make_user):
    user = make_user(Role.ADMIN)
    user.is_staff = True
    user.save()
    return user


def test_the_admin_routes_a_role_to_a_channel_through_the_service(db, make_user, client_for):
    client = client_for(_admin_user(make_user))
    response = client.post("/admin/incidents/slackrolechannel/add/", {"role": "leadership", "channel_id": "C0LEADERS"})
    assert response.status_code == 302
    assert SlackRoleChannel.objects.get().channel_id == "C0LEADERS"
    assert LedgerEvent.objects.filter(verb=ChannelEvent.SLACK_ROLE_CHANNEL_SET).count() == 1

    bad = client.post("/admin/incidents/slackrolechannel/add/", {"role": "responder", "channel_id": "general"})
    assert bad.status_code == 200 and b"Not a Slack id" in bad.content
    assert SlackRoleChannel.objects.count() == 1


def test_the_admin_sets_a_persons_slack_id_ledgered(db, make_user, client_for):
    person = make_user()
    client = client_for(_admin_user(make_user))
    response = client.post("/admin/incidents/slackidentity/add/", {"user": person.pk, "member_id": "U0PERSON"})
    assert response.status_code == 302
    assert SlackIdentity.objects.get(user=person).member_id == "U0PERSON"
    assert LedgerEvent.objects.filter(verb=ChannelEvent.SLACK_IDENTITY_SET).count() == 1


def test_staff_without_the_admin_role_see_no_chat_admin(db, make_user, client_for):
    staff = make_user(Role.LEADERSHIP)
    staff.is_staff = staff.is_superuser = True
    staff.save()
    client = client_for(staff)
    assert client.get("/admin/incidents/slackrolechannel/").status_code == 403
    assert client.get("/admin/incidents/webhookendpoint/").status_code == 403
