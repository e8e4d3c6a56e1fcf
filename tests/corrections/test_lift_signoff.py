"""Lifting is a decision too (issue 10, point 3): lifting a tier 3–4 correction before it expires
needs one leadership approval, from someone other than who asked, bound to a hash of the lift."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts import ledger
from accounts.actor import Actor
from accounts.models import LedgerEvent
from config.errors import DomainError
from corrections import services
from corrections.models import Correction, LiftRequest, OutboxEntry, State
from corrections.services import worker

API = "/api/v1"


@pytest.fixture
def incident(make_incident, people):
    return make_incident(by=people["responder"], severity="SEV1")


def _active(correction: Correction, *, expires_in: timedelta | None = timedelta(hours=4)) -> Correction:
    """As if the worker had applied it (the dispatch path is tested elsewhere)."""
    now = timezone.now()
    Correction.objects.filter(pk=correction.pk).update(
        state=State.ACTIVE, activated_at=now, expires_at=now + expires_in if expires_in else None
    )
    return Correction.objects.get(pk=correction.pk)


def _pause(actor_for, incident, people) -> Correction:
    """A tier-3 pause, signed off by a leader and a commander, now in force."""
    c = services.correction_request(
        actor=actor_for(people["responder"]), incident=incident, type="pause_deployment", deployment="atlas-chat",
        params={}, rationale="Harm under way.",
    )  # fmt: skip
    for who in ("leader1", "commander"):
        services.correction_approve(actor=actor_for(people[who]), correction=c, content_hash=c.content_hash)
    return _active(c)


def _lift_hash(correction: Correction) -> str:
    return LiftRequest.objects.get(correction=correction, state="pending").content_hash


def test_tier3_early_lift_only_asks_and_a_leader_who_did_not_ask_starts_it(actor_for, incident, people, task_sends):
    c = _pause(actor_for, incident, people)
    services.correction_lift(actor=actor_for(people["responder"]), correction=c, reason="Fixed upstream.")
    c.refresh_from_db()
    assert c.state == State.ACTIVE  # still in force: nothing lifts before the approval
    assert not OutboxEntry.objects.filter(correction=c, action="lift").exists()
    assert LedgerEvent.objects.filter(verb="correction.lift_signoff_requested").count() == 1

    services.correction_lift_approve(actor=actor_for(people["leader2"]), correction=c, content_hash=_lift_hash(c))
    c.refresh_from_db()
    assert c.state == State.LIFTING
    assert OutboxEntry.objects.filter(correction=c, action="lift").count() == 1
    lift = LiftRequest.objects.get(correction=c)
    assert (lift.state, lift.decided_by_id) == ("approved", people["leader2"].pk)
    assert ledger.verify().ok


def test_the_lift_requester_cannot_approve_their_own_lift_even_as_a_leader(actor_for, incident, people):
    c = _pause(actor_for, incident, people)
    services.correction_lift(actor=actor_for(people["leader1"]), correction=c, reason="Fixed upstream.")
    with pytest.raises(DomainError) as err:
        services.correction_lift_approve(actor=actor_for(people["leader1"]), correction=c, content_hash=_lift_hash(c))
    assert err.value.code == "conflict"
    assert Correction.objects.get(pk=c.pk).state == State.ACTIVE


def test_the_database_refuses_a_lift_decided_by_its_requester(actor_for, incident, people):
    c = _pause(actor_for, incident, people)
    services.correction_lift(actor=actor_for(people["leader1"]), correction=c, reason="Fixed upstream.")
    with pytest.raises(IntegrityError), transaction.atomic():
        LiftRequest.objects.filter(correction=c).update(decided_by=people["leader1"], state="approved")


def test_a_commander_cannot_approve_an_early_lift(actor_for, incident, people):
    c = _pause(actor_for, incident, people)
    services.correction_lift(actor=actor_for(people["responder"]), correction=c, reason="Fixed upstream.")
    with pytest.raises(DomainError) as err:
        services.correction_lift_approve(
            actor=actor_for(people["commander2"]), correction=c, content_hash=_lift_hash(c)
        )
    assert err.value.code == "forbidden"
    assert Correction.objects.get(pk=c.pk).state == State.ACTIVE


def test_an_approval_for_another_lift_is_refused(actor_for, incident, people):
    """Reject, ask again with another reason: the hash reviewed for the first lift does not approve the second."""
    c = _pause(actor_for, incident, people)
    services.correction_lift(actor=actor_for(people["responder"]), correction=c, reason="Fixed upstream.")
    first = _lift_hash(c)
    services.correction_lift_reject(actor=actor_for(people["leader2"]), correction=c, comment="Not yet.")
    services.correction_lift(actor=actor_for(people["responder"]), correction=c, reason="Really fixed now.")
    with pytest.raises(DomainError) as err:
        services.correction_lift_approve(actor=actor_for(people["leader2"]), correction=c, content_hash=first)
    assert err.value.code == "conflict"
    assert Correction.objects.get(pk=c.pk).state == State.ACTIVE


def test_a_lift_nobody_approved_in_time_lapses(actor_for, incident, people):
    c = _pause(actor_for, incident, people)
    services.correction_lift(actor=actor_for(people["responder"]), correction=c, reason="Fixed upstream.")
    LiftRequest.objects.filter(correction=c).update(pending_until=timezone.now() - timedelta(seconds=1))
    with pytest.raises(DomainError) as err:
        services.correction_lift_approve(actor=actor_for(people["leader2"]), correction=c, content_hash=_lift_hash(c))
    assert "lapsed" in err.value.message
    assert LiftRequest.objects.get(correction=c).state == "lapsed"
    assert Correction.objects.get(pk=c.pk).state == State.ACTIVE


def test_a_tier2_lift_is_unchanged_one_operator_lifts_at_once(actor_for, incident, people):
    c = services.correction_request(
        actor=actor_for(people["responder"]), incident=incident, type="disable_capability", deployment="atlas-api",
        params={"capability": "code_execution"}, rationale="Exploit code.",
    )  # fmt: skip
    services.correction_approve(actor=actor_for(people["commander"]), correction=c, content_hash=c.content_hash)
    c = _active(c)
    services.correction_lift(actor=actor_for(people["responder"]), correction=c, reason="Patched.")
    c.refresh_from_db()
    assert c.state == State.LIFTING
    assert not LiftRequest.objects.exists()


def test_expiry_lifts_a_tier3_correction_without_sign_off_and_ends_a_lift_still_waiting(actor_for, incident, people):
    c = _pause(actor_for, incident, people)
    services.correction_lift(actor=actor_for(people["responder"]), correction=c, reason="Fixed upstream.")
    Correction.objects.filter(pk=c.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert worker.correction_expire(actor=Actor.system("sweep"), correction_id=c.pk, now=timezone.now())
    c.refresh_from_db()
    assert c.state == State.EXPIRED
    assert OutboxEntry.objects.filter(correction=c, action="lift").count() == 1
    assert LiftRequest.objects.get(correction=c).state == "superseded"


def test_page_shows_lift_awaiting_approval_and_a_leader_approves_it_there(client_for, actor_for, incident, people):
    c = _pause(actor_for, incident, people)
    services.correction_lift(actor=actor_for(people["responder"]), correction=c, reason="Fixed upstream.")
    page = client_for(people["leader2"]).get(reverse("correction-detail", args=[c.pk])).content.decode()
    assert "lift awaiting approval" in page
    assert 'id="act-approve_lift"' in page
    inbox = client_for(people["leader2"]).get(reverse("approval-inbox"))
    assert [row.correction.pk for row in inbox.context["rows"]] == [c.pk]
    # the commander sees it waiting, but has nothing to approve
    assert (
        'id="act-approve_lift"'
        not in client_for(people["commander"]).get(reverse("correction-detail", args=[c.pk])).content.decode()
    )
    response = client_for(people["leader2"]).post(
        reverse("correction-lift-approve", args=[c.pk]), {"content_hash": _lift_hash(c), "comment": "OK"}
    )
    assert response.status_code == 302
    assert Correction.objects.get(pk=c.pk).state == State.LIFTING


def test_api_shows_the_lift_and_refuses_the_requesters_approval(api_for, actor_for, incident, people):
    c = _pause(actor_for, incident, people)
    services.correction_lift(actor=actor_for(people["leader1"]), correction=c, reason="Fixed upstream.")
    body = api_for(people["leader1"]).get(f"{API}/corrections/{c.pk}/").json()
    assert body["lift_awaiting_approval"]["requested_by"] == people["leader1"].username
    refused = api_for(people["leader1"]).post(
        f"{API}/corrections/{c.pk}/lift/approve/", {"content_hash": _lift_hash(c)}, format="json"
    )
    assert refused.status_code == 409
    pending = api_for(people["leader2"]).get(f"{API}/approvals/pending/").json()
    assert [p["id"] for p in pending] == [c.pk]
    ok = api_for(people["leader2"]).post(
        f"{API}/corrections/{c.pk}/lift/approve/", {"content_hash": _lift_hash(c)}, format="json"
    )
    assert ok.status_code == 200
    assert ok.json()["state"] == "lifting"


def test_inbox_filters_narrow_the_lifts_waiting_too_on_the_page_and_the_api(
    client_for, api_for, actor_for, incident, people
):
    """A filter applies to the whole inbox: a tier-3 lift is not listed under tier 2 (API), nor
    dropped under tier 3 (page), whichever channel asks."""
    c = _pause(actor_for, incident, people)
    services.correction_lift(actor=actor_for(people["responder"]), correction=c, reason="Fixed upstream.")
    leader = people["leader2"]
    for query, expected in (({"tier": "2"}, []), ({"tier": "3"}, [c.pk]), ({"incident": incident.ref}, [c.pk])):
        page = client_for(leader).get(reverse("approval-inbox"), query)
        assert [row.correction.pk for row in page.context["rows"]] == expected, query
        api = api_for(leader).get(f"{API}/approvals/pending/", query).json()
        assert [p["id"] for p in api] == expected, query
