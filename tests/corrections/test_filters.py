"""The corrections FilterSet (corrections/filters.py), shared by the approval inbox page and the API
lists: it narrows, reports bad values beside the field, and can never widen what a person sees."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from corrections import selectors, services
from corrections.models import Correction

API = "/api/v1"


@pytest.fixture
def incident(make_incident, people):
    return make_incident(by=people["responder"], severity="SEV1")


@pytest.fixture
def other_incident(make_incident, people):
    return make_incident(by=people["responder"], severity="SEV2")


@pytest.fixture
def requests(actor_for, people, incident, other_incident, registry):
    """Three requests by the responder that a commander could decide: tier 3, tier 2, and tier 3 elsewhere."""

    def ask(on, type, params, deployment="atlas-chat"):
        return services.correction_request(
            actor=actor_for(people["responder"]), incident=on, type=type, deployment=deployment, params=params,
            rationale="x",
        )  # fmt: skip

    return {
        "rollback": ask(incident, "rollback_model", {"version": "atlas-1.9"}),
        "capability": ask(incident, "disable_capability", {"capability": "browsing"}, "atlas-api"),
        "elsewhere": ask(other_incident, "pause_deployment", {}),
    }


def _page(user):
    client = Client()
    client.force_login(user)
    return client


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _inbox_ids(response) -> set[int]:
    return {row.correction.pk for row in response.context["rows"]}


def test_inbox_page_filters_by_type_tier_and_incident(people, requests, incident, other_incident):
    client = _page(people["commander"])
    assert _inbox_ids(client.get("/approvals/")) == {c.pk for c in requests.values()}
    assert _inbox_ids(client.get("/approvals/", {"type": "rollback_model"})) == {requests["rollback"].pk}
    assert _inbox_ids(client.get("/approvals/", {"tier": "2"})) == {requests["capability"].pk}
    by_incident = client.get("/approvals/", {"incident": other_incident.ref.lower()})  # refs in any case
    assert _inbox_ids(by_incident) == {requests["elsewhere"].pk}
    both = client.get("/approvals/", {"incident": incident.ref, "tier": "3"})
    assert _inbox_ids(both) == {requests["rollback"].pk}
    assert "Clear filters" in both.content.decode()


def test_filtered_inbox_page_keeps_the_header_count_of_the_whole_inbox(people, requests):
    response = _page(people["commander"]).get("/approvals/", {"tier": "2"})
    assert len(response.context["rows"]) == 1
    assert 'data-approvals-count="3"' in response.content.decode()


@pytest.mark.parametrize(
    "query, field",
    [({"tier": "9"}, "tier"), ({"type": "teleport"}, "type"), ({"incident": "INC\x00"}, "incident"),
     ({"incident": "x" * 500}, "incident"), ({"state": "exploded"}, "state")],
)  # fmt: skip
def test_inbox_page_answers_a_bad_filter_with_400_and_the_message_beside_the_form(people, requests, query, field):
    response = _page(people["commander"]).get("/approvals/", query)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert "Some filters were not understood" in response.content.decode()
    assert len(response.context["rows"]) == 3  # the bad filter is ignored, not a blank page


@pytest.mark.parametrize(
    "query, field",
    [({"tier": "9"}, "tier"), ({"type": "teleport"}, "type"), ({"incident": "INC\x00"}, "incident"),
     ({"state": "exploded"}, "state")],
)  # fmt: skip
@pytest.mark.parametrize("url", ["/approvals/pending/", "/incidents/{ref}/corrections/"])
def test_api_lists_answer_a_bad_filter_with_400_naming_the_field(people, requests, incident, url, query, field):
    response = _api(people["commander"]).get(API + url.format(ref=incident.ref), query)
    assert response.status_code == 400, response.content[:300]
    assert field in response.json()["errors"]


def test_api_pending_approvals_filter_like_the_inbox_page(people, requests, other_incident):
    client = _api(people["commander"])

    def ids(**query):
        response = client.get(f"{API}/approvals/pending/", query)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()}

    assert ids() == {c.pk for c in requests.values()}
    assert ids(type="disable_capability") == {requests["capability"].pk}
    assert ids(tier="3") == {requests["rollback"].pk, requests["elsewhere"].pk}
    assert ids(incident=other_incident.ref) == {requests["elsewhere"].pk}


def test_api_incident_corrections_filter_by_state_and_type(people, requests, incident, actor_for):
    services.correction_cancel(actor=actor_for(people["responder"]), correction=requests["rollback"], reason="No.")
    client = _api(people["commander"])

    def ids(**query):
        return {
            row["id"] for row in client.get(f"{API}/incidents/{incident.ref}/corrections/", query).json()["results"]
        }

    assert ids() == {requests["rollback"].pk, requests["capability"].pk}
    assert ids(state="cancelled") == {requests["rollback"].pk}
    assert ids(state="pending_approval", type="disable_capability") == {requests["capability"].pk}
    assert ids(type="pause_deployment") == set()  # that one is on another incident


# --- a filter narrows; it never widens ------------------------------------------------------------


def test_filtering_by_a_restricted_incident_shows_nothing_to_someone_not_granted(
    people, make_incident, actor_for, registry
):
    secret = make_incident(by=people["responder"], severity="SEV1", restricted=True)
    services.correction_request(
        actor=actor_for(people["responder"]), incident=secret, type="rollback_model", deployment="atlas-chat",
        params={"version": "atlas-1.9"}, rationale="x",
    )  # fmt: skip
    outsider = people["commander"]  # a commander, not granted the restricted incident
    assert _api(outsider).get(f"{API}/approvals/pending/", {"incident": secret.ref}).json() == []
    page = _page(outsider).get("/approvals/", {"incident": secret.ref})
    assert page.context["rows"] == []
    assert f"/incidents/{secret.ref}/" not in page.content.decode()  # the form echoes the ref typed, no more
    assert _api(people["leader1"]).get(f"{API}/approvals/pending/", {"incident": secret.ref}).json() != []


def test_the_inbox_selector_intersects_what_it_is_given_with_what_the_user_may_decide(
    people, requests, make_incident, actor_for
):
    secret = make_incident(by=people["responder"], severity="SEV1", restricted=True)
    hidden = services.correction_request(
        actor=actor_for(people["responder"]), incident=secret, type="rollback_model", deployment="atlas-chat",
        params={"version": "atlas-1.9"}, rationale="x",
    )  # fmt: skip
    commander = people["commander"]
    own = services.correction_request(
        actor=actor_for(commander), incident=requests["rollback"].incident, type="rollback_model",
        deployment="atlas-api", params={"version": "atlas-1.9"}, rationale="x",
    )  # fmt: skip

    # Handed every correction there is, as a careless caller might: still only the inbox.
    inbox = selectors.approvals_pending_for(user=commander, among=Correction.objects.all())

    assert {c.pk for c in inbox} == {c.pk for c in requests.values()}
    assert hidden.pk not in {c.pk for c in inbox} and own.pk not in {c.pk for c in inbox}
