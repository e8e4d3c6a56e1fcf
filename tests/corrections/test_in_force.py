"""What is in force (issue 10, point 1): one page and one API listing, per model and deployment, every
correction active, partly active, applying, expiring, awaiting ratification or failed — with why only
for those who may see its incident, at a fixed number of queries."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from corrections import services
from corrections.models import Correction, CorrectionTarget, State, TargetState

SECRET_TITLE = "Bioweapon uplift through atlas-chat"
SECRET_RATIONALE = "The uplift recipe is itself hazardous"


def put_in_force(correction: Correction, **fields) -> Correction:
    """As if the worker had applied it: active everywhere."""
    now = timezone.now()
    Correction.objects.filter(pk=correction.pk).update(state=State.ACTIVE, activated_at=now, **fields)
    CorrectionTarget.objects.filter(correction=correction).update(state=TargetState.ACTIVE, activated_at=now)
    correction.refresh_from_db()
    return correction


@pytest.fixture
def pause(make_incident, people, actor_for):
    incident = make_incident(by=people["responder"], title="Open incident", severity="SEV1")
    correction = services.correction_request(
        actor=actor_for(people["responder"]), incident=incident, type="pause_deployment", deployment="atlas-api",
        params={}, rationale="Visible rationale",
    )  # fmt: skip
    return put_in_force(correction, expires_at=timezone.now() + timedelta(hours=2))


@pytest.fixture
def secret(make_incident, people, actor_for, accounts):
    incident = make_incident(by=people["commander"], title=SECRET_TITLE, restricted=True)
    correction = services.correction_request(
        actor=actor_for(people["commander"]), incident=incident, type="block_accounts", deployment="atlas-chat",
        params={"accounts": ["acct-mallory"]}, rationale=SECRET_RATIONALE,
    )  # fmt: skip
    return put_in_force(correction)


def api(user, path="/api/v1/in-force/"):
    client = APIClient()
    client.force_authenticate(user)
    response = client.get(path)
    assert response.status_code == 200, response.content
    return response.json()


def test_the_api_lists_what_is_in_force_per_deployment_with_who_approved_and_until_when(pause, people):
    (entry,) = [e for e in api(people["responder"]) if e["deployment"] == "atlas-api"]
    assert (entry["type"], entry["status"], entry["incident"]) == ("pause_deployment", "active", pause.incident.ref)
    assert entry["expiring"] is True and entry["until"] and entry["since"]
    assert entry["rationale"] == "Visible rationale" and entry["restricted"] is False


def test_a_restricted_incidents_correction_shows_what_is_in_force_but_not_why(secret, people):
    (entry,) = [e for e in api(people["responder"]) if e["deployment"] == "atlas-chat"]
    assert (entry["type"], entry["status"], entry["restricted"]) == ("block_accounts", "active", True)
    assert entry["since"] is not None
    for hidden in ("incident", "incident_title", "rationale", "requested_by", "approved_by", "correction"):
        assert entry[hidden] is None, hidden
    assert SECRET_TITLE not in str(api(people["responder"])) and secret.incident.ref not in str(
        api(people["responder"])
    )
    (granted,) = [e for e in api(people["commander"]) if e["deployment"] == "atlas-chat"]
    assert (granted["incident"], granted["rationale"]) == (secret.incident.ref, SECRET_RATIONALE)


def test_the_page_shows_what_is_in_force_but_not_why_for_a_restricted_incident(secret, pause, people, client):
    client.force_login(people["responder"])
    page = client.get(reverse("in-force")).content.decode()
    assert "atlas-chat" in page and "Block accounts" in page and "On a restricted incident you may not see" in page
    assert SECRET_TITLE not in page and SECRET_RATIONALE not in page and secret.incident.ref not in page
    assert pause.incident.ref in page  # the open one says why
    client.force_login(people["commander"])
    assert SECRET_TITLE in client.get(reverse("in-force")).content.decode()


def test_the_api_filters_by_model_and_deployment(pause, secret, people):
    assert {e["deployment"] for e in api(people["leader1"], "/api/v1/in-force/?deployment=atlas-api")} == {"atlas-api"}
    assert api(people["leader1"], "/api/v1/in-force/?model=vega") == []
    assert len(api(people["leader1"], "/api/v1/in-force/?model=atlas")) == 2


def test_a_pending_or_lifted_correction_is_not_in_force(make_incident, people, actor_for, pause):
    incident = make_incident(by=people["responder"])
    services.correction_request(
        actor=actor_for(people["responder"]), incident=incident, type="pause_deployment", deployment="atlas-chat",
        params={}, rationale="waiting",
    )  # fmt: skip
    Correction.objects.filter(pk=pause.pk).update(state=State.LIFTED)
    assert api(people["leader1"]) == []


def test_the_dashboard_counts_and_the_deployment_badge(pause, secret, people, client):
    client.force_login(people["responder"])
    page = client.get(reverse("dashboard")).content.decode()
    assert "In force" in page and 'href="/in-force/"' in page
    incident_page = client.get(reverse("incident-detail", args=[pause.incident.ref])).content.decode()
    assert "1 in force" in incident_page


def _many(n, make_incident, people, actor_for):
    for i in range(n):
        incident = make_incident(by=people["commander"], restricted=bool(i % 2))
        correction = services.correction_request(
            actor=actor_for(people["commander"]), incident=incident, type="pause_deployment",
            deployment="atlas-api" if i % 2 else "atlas-chat", params={}, rationale=f"r{i}",
        )  # fmt: skip
        put_in_force(correction)


@pytest.mark.parametrize("n", [2, 8])
def test_the_page_and_the_api_cost_a_fixed_number_of_queries(
    n, make_incident, people, actor_for, client, django_assert_max_num_queries
):
    _many(n, make_incident, people, actor_for)
    client.force_login(people["responder"])
    with django_assert_max_num_queries(14):
        assert client.get(reverse("in-force")).status_code == 200
    with django_assert_max_num_queries(12):
        assert len(api(people["responder"])) == n
