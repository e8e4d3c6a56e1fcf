"""The incident and signal FilterSets (incidents/filters.py): one per list, shared by the page and
the API, documented in the schema, and bad values refused beside the field."""

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.roles import Role
from incidents import services
from incidents.models import Signal

API = "/api/v1"


def _page(user):
    client = Client()
    client.force_login(user)
    return client


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def incidents(make_incident, registry):
    return [
        make_incident(title="Alpha jailbreak", severity="SEV1", category="misuse", deployments=[registry["atlas-api"]]),
        make_incident(title="Beta leak", severity="SEV2", category="security", deployments=[registry["atlas-chat"]]),
        make_incident(title="Gamma", summary="jailbreak again", severity="SEV2", category="misuse"),
    ]


@pytest.mark.parametrize(
    "query",
    [{}, {"severity": "SEV2"}, {"category": "misuse", "severity": "SEV2"}, {"deployment": "atlas-chat"},
     {"q": "jailbreak"}, {"q": "jailbreak", "severity": "SEV1"}, {"status": "reported"}],
)  # fmt: skip
def test_page_and_api_list_the_same_incidents_in_the_same_order(make_user, incidents, query):
    viewer = make_user(Role.RESPONDER)
    page = _page(viewer).get("/incidents/", query)
    api = _api(viewer).get(f"{API}/incidents/", query)
    assert page.status_code == api.status_code == 200
    assert [i.ref for i in page.context["page"].object_list] == [row["ref"] for row in api.json()["results"]]


@pytest.mark.parametrize("field", ["q", "severity", "status", "category", "deployment"])
def test_a_nul_byte_in_any_incident_filter_is_400_naming_it_on_page_and_api(make_user, registry, field):
    viewer = make_user(Role.RESPONDER)
    page = _page(viewer).get("/incidents/", {field: "a\x00b"})
    assert page.status_code == 400
    assert field in page.context["form"].errors
    api = _api(viewer).get(f"{API}/incidents/", {field: "a\x00b"})
    assert api.status_code == 400
    assert field in api.json()["errors"]


def test_signal_page_answers_an_unknown_state_with_400_and_says_so(make_user, actor_for):
    viewer = make_user(Role.RESPONDER)
    services.signal_ingest(actor=actor_for(viewer), source="other", title="Spike")
    response = _page(viewer).get("/signals/", {"state": "bogus"})
    assert response.status_code == 400
    assert "state" in response.context["filter_form"].errors
    assert "Some filters were not understood" in response.content.decode()


def test_signal_api_takes_state_all_like_the_page(make_user, actor_for):
    viewer = make_user(Role.RESPONDER)
    services.signal_ingest(actor=actor_for(viewer), source="other", title="Open one", dedup_key="a")
    gone, _ = services.signal_ingest(actor=actor_for(viewer), source="other", title="Gone", dedup_key="b")
    services.signal_dismiss(actor=actor_for(viewer), signal=gone, reason="Noise.")
    body = _api(viewer).get(f"{API}/signals/", {"state": "all"}).json()
    assert body["count"] == 2
    assert {s.pk for s in _page(viewer).get("/signals/", {"state": "all"}).context["page"].object_list} == set(
        Signal.objects.values_list("pk", flat=True)
    )


@pytest.mark.django_db
def test_the_schema_documents_every_lists_filters():
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]

    def params(path):
        return {p["name"] for p in paths[path]["get"]["parameters"] if p["in"] == "query"}

    assert {"q", "severity", "status", "category", "deployment", "page"} <= params("/api/v1/incidents/")
    assert {"state", "page"} <= params("/api/v1/signals/")
    assert {"incident", "type", "tier", "state"} <= params("/api/v1/approvals/pending/")
    assert {"incident", "type", "tier", "state", "page"} <= params("/api/v1/incidents/{ref}/corrections/")
