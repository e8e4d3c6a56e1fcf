"""Every kind of notification about an incident obeys the incident's visibility (DESIGN §7).

Each kind below is a real service call that emails people. About a restricted incident, a member
of the paged role without a grant must learn at most the ref and the role it needs; a granted
member gets the full text. To add a kind: write one function and add it to KINDS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from corrections import dispatch
from corrections import services as corrections
from corrections.catalogue import get_type
from corrections.models import Correction, OutboxEntry
from corrections.services import requests as correction_requests
from incidents import services as incidents
from incidents.models import Delivery, Incident
from incidents.notifications import members_of
from incidents.oncall import services as oncall

TITLE = "Title-SECRET-bioweapon-synthesis-route"
SUMMARY = "Summary-SECRET-step-by-step-protocol"
REASON = "Reason-SECRET-uplift-confirmed"
RATIONALE = "Rationale-SECRET-jailbreak-prompt"
JUSTIFICATION = "Justification-SECRET-mass-casualty"


@dataclass
class World:
    incident: Incident
    reporter: User  # a responder who reported it, so granted
    granted_commander: User  # a participant, so granted
    ungranted_commander: User  # a member of incident_commander without a grant
    leader: User
    leader2: User
    outsider: User  # added to every role's member list: whoever a caller pages, an ungranted one is among them
    actor_for: object

    def act(self, user: User):
        return self.actor_for(user)


def label(type: str) -> str:
    return get_type(type).label


# A kind prepares what it needs and returns the step that notifies: (who is granted, what they must read).
Step = Callable[[], tuple[User, list[str]]]


def sev1_paging(w: World) -> Step:
    def step():
        incidents.incident_edit(
            actor=w.act(w.reporter), incident=w.incident, changes={"severity": "SEV1"}, reason=REASON
        )
        return w.leader, [TITLE, SUMMARY]

    return step


def escalation_to_commanders(w: World) -> Step:
    def step():
        incidents.incident_escalate(actor=w.act(w.reporter), incident=w.incident, reason=REASON)
        return w.granted_commander, [TITLE, REASON]

    return step


def escalation_to_leadership(w: World) -> Step:
    incidents.incident_assign(actor=w.act(w.leader), incident=w.incident, commander=w.granted_commander)

    def step():
        incidents.incident_escalate(actor=w.act(w.reporter), incident=w.incident, reason=REASON)
        return w.leader, [TITLE, REASON]

    return step


def approval_needed(w: World) -> Step:
    def step():
        corrections.correction_request(
            actor=w.act(w.reporter), incident=w.incident, type="disable_capability", deployment="atlas-api",
            params={"capability": "browsing"}, rationale=RATIONALE,
        )  # fmt: skip
        return w.granted_commander, [RATIONALE, "disable_capability", "atlas-api"]

    return step


def break_glass(w: World) -> Step:
    def step():
        corrections.correction_request(
            actor=w.act(w.leader2), incident=w.incident, type="pause_deployment", deployment="atlas-chat",
            params={}, rationale=RATIONALE, break_glass=True, justification=JUSTIFICATION,
        )  # fmt: skip
        return w.leader, [JUSTIFICATION, label("pause_deployment"), "atlas-chat"]

    return step


def preauthorised_tier1(w: World) -> Step:
    def step():
        corrections.correction_request(
            actor=w.act(w.reporter), incident=w.incident, type="block_accounts", deployment="atlas-api",
            params={"accounts": ["acct-mallory"]}, rationale=RATIONALE,
        )  # fmt: skip
        return w.granted_commander, [RATIONALE, label("block_accounts"), "atlas-api"]

    return step


def unreachable_actuator(slug: str) -> None:
    from corrections.models import Actuator
    from incidents.models import Deployment

    Actuator.objects.create(
        deployment=Deployment.objects.get(slug=slug), base_url="http://127.0.0.1:9/", secret="s" * 32,
        connect_timeout_seconds=0.5, read_timeout_seconds=0.5,
    )  # fmt: skip


def dispatch_failure(w: World) -> Step:
    correction = corrections.correction_request(
        actor=w.act(w.reporter), incident=w.incident, type="block_accounts", deployment="atlas-api",
        params={"accounts": ["acct-mallory"]}, rationale=RATIONALE,
    )  # fmt: skip
    entry = OutboxEntry.objects.get(correction=correction)
    # An actuator nobody answers at, retried for no time at all: the correction fails. (With no actuator
    # at all a lone target is now a manual step, not a failure: issue 12.)
    unreachable_actuator("atlas-api")

    def step():
        with override_settings(FAILSAFE_DISPATCH_RETRY_SECONDS=0):
            assert dispatch.dispatch_entry(entry_id=entry.pk).result == "failed"
        assert Correction.objects.get(pk=correction.pk).state == "failed"
        return w.granted_commander, ["block_accounts", "atlas-api"]

    return step


KINDS = [
    sev1_paging,
    escalation_to_commanders,
    escalation_to_leadership,
    approval_needed,
    break_glass,
    preauthorised_tier1,
    dispatch_failure,
]

# Nothing of these may reach someone who may not see the incident.
RESTRICTED_TEXT = [
    TITLE, SUMMARY, REASON, RATIONALE, JUSTIFICATION,
    "disable_capability", label("disable_capability"), "pause_deployment", label("pause_deployment"),
    "block_accounts", label("block_accounts"), "atlas-api", "atlas-chat", "acct-mallory", "browsing", "No actuator",
]  # fmt: skip


def make_world(*, restricted: bool, make_incident, make_user, actor_for, monkeypatch) -> World:
    reporter = make_user(Role.RESPONDER)
    granted_commander = make_user(Role.INCIDENT_COMMANDER)
    ungranted_commander = make_user(Role.INCIDENT_COMMANDER)
    leader, leader2 = make_user(Role.LEADERSHIP), make_user(Role.LEADERSHIP)
    outsider = make_user(Role.RESPONDER)
    incident = make_incident(by=reporter, title=TITLE, summary=SUMMARY, severity="SEV2", restricted=restricted)
    incidents.incident_assign(actor=actor_for(leader), incident=incident, add_participants=[granted_commander])

    def members_and_outsider(role):
        return [*members_of(role), outsider]

    for module in (incidents, correction_requests, dispatch, oncall):
        monkeypatch.setattr(module, "members_of", members_and_outsider)
    return World(
        incident=incident, reporter=reporter, granted_commander=granted_commander,
        ungranted_commander=ungranted_commander, leader=leader, leader2=leader2, outsider=outsider,
        actor_for=actor_for,
    )  # fmt: skip


def mail_to(user: User) -> list[str]:
    return [f"{m.subject}\n{m.body}" for m in mail.outbox if user.email in m.to]


@pytest.fixture
def world_for(make_incident, make_user, actor_for, monkeypatch, registry, accounts):
    def make(restricted: bool) -> World:
        return make_world(
            restricted=restricted, make_incident=make_incident, make_user=make_user, actor_for=actor_for,
            monkeypatch=monkeypatch,
        )  # fmt: skip

    return make


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
def test_restricted_details_reach_only_people_who_may_see_the_incident(
    kind, world_for, django_capture_on_commit_callbacks, task_sends, deliver_notifications
):
    w = world_for(restricted=True)
    step = kind(w)  # what it prepares is never mailed: its deliveries are dropped below
    Delivery.objects.update(done_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        granted, full_text = step()
    deliver_notifications()  # what the worker does with the rows the step wrote

    # A granted member of the paged role gets the whole story.
    [message] = mail_to(granted)
    for text in full_text:
        assert text in message
    # An ungranted member learns the ref and that it needs them; not a word of its details.
    ungranted = [u for u in (w.outsider, w.ungranted_commander) if mail_to(u)]
    assert w.outsider in ungranted
    people = [w.reporter.username, w.leader2.username, w.granted_commander.username, w.leader.username]
    for user in ungranted:
        [message] = mail_to(user)
        assert w.incident.ref in message and "ask leadership for access" in message
        leaked = [text for text in RESTRICTED_TEXT + people if text in message]
        assert leaked == [], f"{user.username} may not see {w.incident.ref} but was sent {leaked}"


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
def test_an_unrestricted_incident_mails_full_text_to_every_member(
    kind, world_for, django_capture_on_commit_callbacks, task_sends, deliver_notifications
):
    w = world_for(restricted=False)
    step = kind(w)  # what it prepares is never mailed: its deliveries are dropped below
    Delivery.objects.update(done_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        granted, full_text = step()
    deliver_notifications()  # what the worker does with the rows the step wrote

    for user in (granted, w.outsider):  # the outsider is in every paged role here and has no grant
        [message] = mail_to(user)
        for text in full_text:
            assert text in message


def test_the_ledger_says_who_was_paged_in_full_and_who_was_told_only_the_ref(world_for, monkeypatch):
    from accounts.models import LedgerEvent

    w = world_for(restricted=True)
    monkeypatch.setattr(incidents, "members_of", members_of)  # only real commanders this time
    incidents.incident_escalate(actor=w.act(w.reporter), incident=w.incident, reason=REASON)
    event = LedgerEvent.objects.get(verb="incident.escalated", incident_ref=w.incident.ref)
    assert event.after["paged"] == sorted(
        [w.granted_commander.username, f"{w.ungranted_commander.username} (redacted)"]
    )
