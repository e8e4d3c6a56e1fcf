"""The playbooks API and the incident checklist API: field-level refusals, roles, versions, approval,
the incident's recommendations ready to POST, and ticking."""

import pytest

from accounts.models import LedgerEvent
from accounts.roles import Role
from corrections.models import Correction
from incidents.events import IncidentEvent
from tests.conftest import CBRN_PLAYBOOK

API = "/api/v1"


def _cbrn_incident(make_incident):
    return make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV2")


def test_commander_creates_a_playbook(registry, make_user, api_for):
    response = api_for(make_user(Role.INCIDENT_COMMANDER)).post(
        f"{API}/playbooks/", {"slug": "cbrn-uplift", **CBRN_PLAYBOOK}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "cbrn-uplift" and [v["number"] for v in body["versions"]] == [1]
    assert body["versions"][0]["recommendations"][0]["params"] == {"capability": "tool_use"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"recommendations": [{"type": "teleport", "params": {}}], "preauthorised_type": ""},
         "recommendations.0.type"),
        ({"recommendations": [{"type": "rate_limit", "params": {"scope": "galaxy", "requests_per_minute": 5}}],
          "preauthorised_type": ""}, "recommendations.0.params.scope"),
        ({"recommendations": [{"type": "destroy_weights", "params": {"model": "atlas"}}],
          "preauthorised_type": "destroy_weights"}, "preauthorised_type"),
        ({"min_severity": "SEV7"}, "min_severity"),
    ],
)  # fmt: skip
def test_bad_playbooks_are_400_with_the_field_named(registry, make_user, api_for, changes, field):
    response = api_for(make_user(Role.ADMIN)).post(
        f"{API}/playbooks/", {"slug": "bad", **CBRN_PLAYBOOK, **changes}, format="json"
    )
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


def test_overlapping_playbook_is_400_on_priority(make_playbook, make_user, api_for):
    make_playbook()
    response = api_for(make_user(Role.ADMIN)).post(
        f"{API}/playbooks/", {"slug": "other", **CBRN_PLAYBOOK, "preauthorised_type": ""}, format="json"
    )
    assert response.status_code == 400
    assert "cbrn-uplift" in response.json()["errors"]["priority"][0]


@pytest.mark.parametrize("role", [Role.RESPONDER, Role.LEADERSHIP, Role.AUDITOR])
def test_other_roles_cannot_create(registry, make_user, api_for, role):
    response = api_for(make_user(role)).post(f"{API}/playbooks/", {"slug": "x", **CBRN_PLAYBOOK}, format="json")
    assert response.status_code == 403


def test_new_version_then_leadership_approval(make_playbook, make_user, api_for):
    version = make_playbook()
    editor = make_user(Role.ADMIN)
    response = api_for(editor).post(
        f"{API}/playbooks/{version.playbook_id}/versions/", {**CBRN_PLAYBOOK, "note": "Fewer steps", "steps": ["One"]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    assert [v["number"] for v in response.json()["versions"]] == [2, 1]
    stale = api_for(make_user(Role.LEADERSHIP)).post(f"{API}/playbooks/{version.playbook_id}/versions/1/approve/")
    assert stale.status_code == 409
    approved = api_for(make_user(Role.LEADERSHIP)).post(
        f"{API}/playbooks/{version.playbook_id}/versions/2/approve/", {"comment": "ok"}, format="json"
    )
    assert approved.status_code == 200, approved.content
    assert approved.json()["versions"][0]["preauthorised"] is True
    detail = api_for(editor).get(f"{API}/playbooks/{version.playbook_id}/")
    assert detail.json()["versions"][0]["preauth_approved_by"] is not None


def test_commander_approval_is_403_and_unknown_version_404(make_playbook, make_user, api_for):
    version = make_playbook()
    url = f"{API}/playbooks/{version.playbook_id}/versions"
    assert api_for(make_user(Role.INCIDENT_COMMANDER)).post(f"{url}/1/approve/").status_code == 403
    assert api_for(make_user(Role.LEADERSHIP)).post(f"{url}/9/approve/").status_code == 404


def test_list_shows_each_playbook_with_its_current_version(make_playbook, make_user, api_for):
    make_playbook()
    body = api_for(make_user(Role.AUDITOR)).get(f"{API}/playbooks/").json()
    assert [(p["slug"], p["current"]["number"]) for p in body["results"]] == [("cbrn-uplift", 1)]


def test_incident_recommendations_post_as_they_are_and_run_preauthorised(
    make_playbook, make_incident, make_user, api_for
):
    version = make_playbook(approve=True)
    cbrn_incident = _cbrn_incident(make_incident)
    responder = api_for(make_user(Role.RESPONDER))
    body = responder.get(f"{API}/incidents/{cbrn_incident.ref}/playbook/").json()
    assert (body["playbook"], body["version"]["number"]) == ("cbrn-uplift", 1)
    recommendation = body["recommendations"][0]
    assert recommendation["preauthorised"] is True
    request = recommendation["requests"][0]
    assert request["deployment"] == "atlas-api"
    response = responder.post(f"{API}/incidents/{cbrn_incident.ref}/corrections/", request["body"], format="json")
    assert response.status_code == 201, response.content
    correction = Correction.objects.get(pk=response.json()["id"])
    assert (correction.state, correction.tier, correction.playbook_version_id) == ("approved", 1, version.pk)


def test_an_incident_without_a_playbook_says_so(make_incident, make_user, api_for):
    incident = make_incident()
    body = api_for(make_user()).get(f"{API}/incidents/{incident.ref}/playbook/").json()
    assert body["playbook"] is None and body["recommendations"] == []


def test_checklist_read_and_tick(make_playbook, make_incident, make_user, api_for):
    make_playbook()
    cbrn_incident = _cbrn_incident(make_incident)
    client = api_for(make_user(Role.RESPONDER))
    checklist = client.get(f"{API}/incidents/{cbrn_incident.ref}/checklist/").json()
    assert (checklist["done"], checklist["total"]) == (0, 3)
    first = checklist["items"][0]
    url = f"{API}/incidents/{cbrn_incident.ref}/checklist/{first['id']}/tick/"
    ticked = client.post(url, {}, format="json")
    assert ticked.status_code == 200 and ticked.json()["ticked_by"] is not None
    assert client.post(url, {}, format="json").status_code == 409
    assert client.get(f"{API}/incidents/{cbrn_incident.ref}/checklist/").json()["done"] == 1
    assert client.get(f"{API}/incidents/?q=").json()["results"][0]["checklist_done"] == 1
    assert LedgerEvent.objects.filter(verb=IncidentEvent.CHECKLIST_TICKED).count() == 1


def test_auditor_cannot_tick_and_a_stranger_cannot_see_a_restricted_checklist(
    make_playbook, make_incident, make_user, api_for
):
    make_playbook()
    incident = make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV2", restricted=True)
    item = incident.checklist.first()
    tick = f"{API}/incidents/{incident.ref}/checklist/{item.pk}/tick/"
    assert api_for(make_user(Role.AUDITOR)).post(tick, {}, format="json").status_code in (403, 404)
    stranger = api_for(make_user(Role.RESPONDER))
    assert stranger.get(f"{API}/incidents/{incident.ref}/checklist/").status_code == 404
    assert stranger.get(f"{API}/incidents/{incident.ref}/playbook/").status_code == 404
    assert stranger.post(tick, {}, format="json").status_code == 404
    item.refresh_from_db()
    assert item.ticked_at is None
