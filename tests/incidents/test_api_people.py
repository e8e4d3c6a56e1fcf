"""Assigning a commander and granting or revoking access to a restricted incident through the API
(issue 14 §9): the same services, rules and ledger events as the pages, tried as an insider or an
attacker would — a responder granting themselves access, a commander reaching an incident they
cannot see, a commander who lacks the role, a repeated key, two grants at once, an auditor."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import LedgerEvent
from accounts.roles import Role
from incidents import services
from incidents.models import Incident, IncidentUserObjectPermission
from incidents.selectors import VIEW_RESTRICTED, can_view_incident

API = "/api/v1"
# What must be the same whichever way the change arrived (the source says web or api).
SAME = ("verb", "actor_name", "actor_roles", "object_type", "object_id", "incident_ref", "before", "after", "reason")


@pytest.fixture
def people(make_user):
    return {
        "leader": make_user(Role.LEADERSHIP, username="leader"),
        "commander": make_user(Role.INCIDENT_COMMANDER, username="commander"),
        "outsider": make_user(Role.INCIDENT_COMMANDER, username="outsider"),  # a commander, not on the incident
        "responder": make_user(Role.RESPONDER, username="responder"),
        "auditor": make_user(Role.AUDITOR, username="auditor"),
        "admin": make_user(Role.ADMIN, username="admin"),
    }


@pytest.fixture
def secret(make_incident, people, actor_for):
    """A restricted incident reported by the responder, commanded by the commander."""
    incident = make_incident(by=people["responder"], restricted=True, title="Hazardous details")
    leader = actor_for(people["leader"])
    services.incident_grant_access(actor=leader, incident=incident, user=people["commander"], reason="commands it")
    services.incident_assign(actor=leader, incident=incident, commander=people["commander"])
    return Incident.objects.get(pk=incident.pk)


def _granted(incident, user) -> bool:
    return IncidentUserObjectPermission.objects.filter(
        content_object=incident, user=user, permission__codename=VIEW_RESTRICTED
    ).exists()


def _events(verb: str) -> list[LedgerEvent]:
    return list(LedgerEvent.objects.filter(verb=verb).order_by("seq"))


# --- assigning the commander ---------------------------------------------------------------------


def test_a_commander_assigns_the_commander_and_the_ledger_says_what_the_page_would(
    make_incident, people, api_for, client_for
):
    by_page, by_api = make_incident(), make_incident()
    new = people["outsider"]

    page = client_for(people["commander"]).post(f"/incidents/{by_page.ref}/assign/", {"commander": new.pk})
    response = api_for(people["commander"]).post(
        f"{API}/incidents/{by_api.ref}/assign/", {"commander": new.username}, format="json"
    )

    assert page.status_code == 302
    assert response.status_code == 200, response.content
    assert response.json()["commander"] == new.username
    assert new.username in response.json()["participants"]
    from_page, from_api = _events("incident.assigned")
    assert (from_page.source, from_api.source) == ("web", "api")
    for field in SAME:
        expected = getattr(from_page, field)
        if field in ("object_id", "incident_ref"):
            expected = {"object_id": str(by_api.pk), "incident_ref": by_api.ref}[field]
        assert getattr(from_api, field) == expected, field


def test_assigning_someone_without_the_commander_role_is_a_field_error(make_incident, people, api_for):
    incident = make_incident()

    response = api_for(people["commander"]).post(
        f"{API}/incidents/{incident.ref}/assign/", {"commander": people["responder"].username}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {"commander": ["responder is not an incident commander."]}
    assert Incident.objects.get(pk=incident.pk).commander is None
    assert not _events("incident.assigned")


@pytest.mark.parametrize("commander", ["nobody", "", "x" * 151, "com\x00mander", 7, None, ["commander"]])
def test_assigning_no_such_person_or_nonsense_is_a_field_error(make_incident, people, api_for, commander):
    incident = make_incident()

    response = api_for(people["leader"]).post(
        f"{API}/incidents/{incident.ref}/assign/", {"commander": commander}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["commander"]
    assert not _events("incident.assigned")


def test_an_inactive_commander_cannot_be_assigned(make_incident, people, api_for):
    incident = make_incident()
    gone = people["outsider"]
    gone.is_active = False
    gone.save()

    response = api_for(people["leader"]).post(
        f"{API}/incidents/{incident.ref}/assign/", {"commander": gone.username}, format="json"
    )

    assert response.status_code == 400
    assert "commander" in response.json()["errors"]


def test_a_responder_cannot_make_themselves_commander(make_incident, people, api_for):
    incident = make_incident(by=people["responder"])

    response = api_for(people["responder"]).post(
        f"{API}/incidents/{incident.ref}/assign/", {"commander": people["commander"].username}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["detail"] == "Only an incident commander or leadership may assign people to an incident."
    assert Incident.objects.get(pk=incident.pk).commander is None


def test_a_commander_cannot_take_over_a_restricted_incident_they_cannot_see(secret, people, api_for):
    response = api_for(people["outsider"]).post(
        f"{API}/incidents/{secret.ref}/assign/", {"commander": people["outsider"].username}, format="json"
    )
    unknown = api_for(people["outsider"]).post(
        f"{API}/incidents/INC-1999-9999/assign/", {"commander": people["outsider"].username}, format="json"
    )

    assert response.status_code == unknown.status_code == 404
    assert response.json() == unknown.json()  # the same answer as for no incident at all
    assert Incident.objects.get(pk=secret.pk).commander == people["commander"]
    assert not _granted(secret, people["outsider"])


# --- granting and revoking access ----------------------------------------------------------------


def test_a_grant_lets_the_person_see_the_incident_and_is_the_pages_ledger_event(secret, people, api_for, client_for):
    responder, auditor = people["responder"], people["auditor"]
    page = client_for(people["commander"]).post(
        f"/audit/incidents/{secret.ref}/access/", {"user": auditor.pk, "reason": "Annual audit"}
    )
    revoke = client_for(people["commander"]).post(
        f"/audit/incidents/{secret.ref}/access/", {"action": "revoke", "user": auditor.pk, "reason": "Annual audit"}
    )
    assert (page.status_code, revoke.status_code) == (302, 302)
    assert api_for(auditor).get(f"{API}/incidents/{secret.ref}/").status_code == 404

    response = api_for(people["commander"]).post(
        f"{API}/incidents/{secret.ref}/access/", {"user": auditor.username, "reason": "Annual audit"}, format="json"
    )
    revoked = api_for(people["commander"]).post(
        f"{API}/incidents/{secret.ref}/access/revoke/",
        {"user": auditor.username, "reason": "Annual audit"},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert auditor.username in [p["username"] for p in response.json()["granted"]]
    assert revoked.status_code == 200, revoked.content
    assert auditor.username not in [p["username"] for p in revoked.json()["granted"]]
    assert responder.username in [p["username"] for p in revoked.json()["granted"]]  # the reporter keeps theirs
    for verb in ("incident.access_granted", "incident.access_revoked"):
        from_page, from_api = _events(verb)[-2:]
        assert (from_page.source, from_api.source) == ("web", "api")
        assert [getattr(from_page, f) for f in SAME] == [getattr(from_api, f) for f in SAME], verb


def test_the_grantee_sees_the_incident_until_the_grant_is_revoked(secret, people, api_for):
    auditor, commander = people["auditor"], api_for(people["commander"])
    body = {"user": auditor.username, "reason": "Audit"}

    assert commander.post(f"{API}/incidents/{secret.ref}/access/", body, format="json").status_code == 201
    assert api_for(auditor).get(f"{API}/incidents/{secret.ref}/").status_code == 200
    assert commander.post(f"{API}/incidents/{secret.ref}/access/revoke/", body, format="json").status_code == 200
    assert api_for(auditor).get(f"{API}/incidents/{secret.ref}/").status_code == 404


def test_a_responder_cannot_grant_themselves_access(secret, make_incident, people, api_for):
    """Neither to a restricted incident they cannot see nor to one they reported (and so see)."""
    outsider = api_for(people["responder"])
    hidden = make_incident(by=people["commander"], restricted=True)
    body = {"user": people["responder"].username, "reason": "I need it"}

    refused = [outsider.post(f"{API}/incidents/{i.ref}/access/", body, format="json") for i in (hidden, secret)]
    revoke = outsider.post(
        f"{API}/incidents/{secret.ref}/access/revoke/", {"user": "commander", "reason": "mine now"}, format="json"
    )

    assert [r.status_code for r in refused] == [403, 403]
    assert revoke.status_code == 403
    assert "commander, leadership or an admin" in refused[0].json()["detail"]
    assert not _granted(hidden, people["responder"])
    assert _granted(secret, people["commander"])
    assert len(_events("incident.access_granted")) == 1  # the fixture's own grant


def test_a_commander_cannot_grant_access_to_an_incident_they_cannot_see(secret, people, api_for):
    outsider = api_for(people["outsider"])
    for who in ("outsider", "auditor"):
        body = {"user": who, "reason": "let me in"}
        response = outsider.post(f"{API}/incidents/{secret.ref}/access/", body, format="json")
        unknown = outsider.post(f"{API}/incidents/INC-1999-9999/access/", body, format="json")
        assert response.status_code == unknown.status_code == 404
        assert response.json() == unknown.json()
    assert outsider.get(f"{API}/incidents/{secret.ref}/access/").status_code == 404
    assert not _granted(secret, people["outsider"]) and not _granted(secret, people["auditor"])


def test_the_auditor_may_not_write_here(secret, people, api_for):
    auditor = api_for(people["auditor"])
    body = {"user": "auditor", "reason": "audit"}

    answers = [
        auditor.post(f"{API}/incidents/{secret.ref}/access/", body, format="json"),
        auditor.post(
            f"{API}/incidents/{secret.ref}/access/revoke/", {"user": "commander", "reason": "x"}, format="json"
        ),
        auditor.post(f"{API}/incidents/{secret.ref}/assign/", {"commander": "commander"}, format="json"),
        auditor.get(f"{API}/incidents/{secret.ref}/access/"),
    ]

    assert [a.status_code for a in answers] == [403, 403, 403, 403]
    assert all(a.json()["detail"] for a in answers)
    assert not _granted(secret, people["auditor"])
    assert Incident.objects.get(pk=secret.pk).commander == people["commander"]


def test_granting_on_an_incident_that_is_not_restricted_is_a_conflict(make_incident, people, api_for):
    incident = make_incident()

    response = api_for(people["leader"]).post(
        f"{API}/incidents/{incident.ref}/access/", {"user": "auditor", "reason": "x"}, format="json"
    )

    assert response.status_code == 409
    assert "not restricted" in response.json()["detail"]
    assert not IncidentUserObjectPermission.objects.filter(user=people["auditor"]).exists()


def test_granting_twice_or_revoking_no_grant_is_a_conflict(secret, people, api_for):
    leader = api_for(people["leader"])

    again = leader.post(f"{API}/incidents/{secret.ref}/access/", {"user": "commander", "reason": "x"}, format="json")
    nothing = leader.post(
        f"{API}/incidents/{secret.ref}/access/revoke/", {"user": "auditor", "reason": "x"}, format="json"
    )

    assert (again.status_code, nothing.status_code) == (409, 409)
    assert again.json()["detail"] == f"commander already has access to {secret.ref}."
    assert nothing.json()["detail"] == f"auditor holds no grant on {secret.ref}."
    assert len(_events("incident.access_granted")) == 1 and not _events("incident.access_revoked")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user": "leader", "reason": "x"}, "user"),  # leadership sees it all: no grant
        ({"user": "nobody", "reason": "x"}, "user"),
        ({"user": "roleless", "reason": "x"}, "user"),
        ({"user": "auditor"}, "reason"),
        ({"user": "auditor", "reason": "   "}, "reason"),
        ({"user": "auditor", "reason": "x" * 2001}, "reason"),
        ({"user": "auditor\x00", "reason": "x"}, "user"),
        ({"user": ["auditor"], "reason": "x"}, "user"),
        ({"reason": "x"}, "user"),
    ],
)
def test_a_bad_grant_is_a_field_error(secret, people, make_user, api_for, body, field):
    make_user(None, username="roleless")

    response = api_for(people["leader"]).post(f"{API}/incidents/{secret.ref}/access/", body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert len(_events("incident.access_granted")) == 1


def test_an_unknown_field_is_refused_not_ignored(secret, people, api_for):
    response = api_for(people["leader"]).post(
        f"{API}/incidents/{secret.ref}/access/", {"user": "auditor", "reason": "x", "revoke": True}, format="json"
    )

    assert response.status_code == 400
    assert not _granted(secret, people["auditor"])


def test_the_access_list_names_the_grantees(secret, people, api_for):
    response = api_for(people["leader"]).get(f"{API}/incidents/{secret.ref}/access/")

    assert response.status_code == 200
    assert response.json()["restricted"] is True
    assert sorted(p["username"] for p in response.json()["granted"]) == ["commander", "responder"]


# --- Idempotency-Key -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "verb"),
    [
        ("access/", {"user": "auditor", "reason": "Audit"}, "incident.access_granted"),
        ("access/revoke/", {"user": "responder", "reason": "Left"}, "incident.access_revoked"),
        ("assign/", {"commander": "outsider"}, "incident.assigned"),
    ],
)
def test_a_repeat_with_the_same_key_runs_once(secret, people, api_for, path, body, verb):
    leader = api_for(people["leader"])
    key = str(uuid.uuid4())
    before = len(_events(verb))

    first = leader.post(f"{API}/incidents/{secret.ref}/{path}", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    again = leader.post(f"{API}/incidents/{secret.ref}/{path}", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    other = leader.post(
        f"{API}/incidents/{secret.ref}/{path}", {**body, "reason": "other"}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )

    assert first.status_code in (200, 201), first.content
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert len(_events(verb)) == before + 1


# --- two at once, on PostgreSQL ------------------------------------------------------------------


def _at_once(*calls):
    barrier = threading.Barrier(len(calls))
    answers: list = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            answers[i] = call()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return answers


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.postgres
def test_two_grants_of_one_person_at_once_grant_once(transactional_db, secret, people):
    """The incident row lock serialises them: the second sees the first's grant and is refused."""
    body = {"user": "auditor", "reason": "Audit"}
    leader, commander = _client(people["leader"]), _client(people["commander"])
    url = f"{API}/incidents/{secret.ref}/access/"

    answers = _at_once(lambda: leader.post(url, body, format="json"), lambda: commander.post(url, body, format="json"))

    assert sorted(a.status_code for a in answers) == [201, 409]
    assert IncidentUserObjectPermission.objects.filter(content_object=secret, user=people["auditor"]).count() == 1
    assert len([e for e in _events("incident.access_granted") if e.after == {"user": "auditor"}]) == 1
    assert can_view_incident(people["auditor"], secret)


@pytest.mark.postgres
def test_two_grants_with_one_key_at_once_run_once_and_answer_alike(transactional_db, secret, people):
    leader = _client(people["leader"])
    url, key = f"{API}/incidents/{secret.ref}/access/", str(uuid.uuid4())
    body = {"user": "auditor", "reason": "Audit"}

    answers = _at_once(*[lambda: leader.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)] * 2)

    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].content == answers[1].content
    assert len([e for e in _events("incident.access_granted") if e.after == {"user": "auditor"}]) == 1
