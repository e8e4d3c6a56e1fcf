"""The audit event filters (incidents.audit.filters.AuditEventFilter): one FilterSet for the
history page, the API's event list and the exports; bad values are 4xx with field messages."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.roles import Role
from incidents import services
from incidents.audit.filters import AuditEventFilterForm
from tests.urlwalk import hostile_queries

API_EVENTS = "/api/v1/audit/events/"


@pytest.fixture
def auditor(make_user):
    return make_user(Role.AUDITOR)


@pytest.fixture
def story(make_incident, make_user, actor_for):
    commander = make_user(Role.INCIDENT_COMMANDER)
    first = make_incident(title="Jailbreak transfers", severity="SEV3")
    services.incident_edit(actor=actor_for(commander), incident=first, changes={"severity": "SEV2"}, reason="Worse")
    services.timeline_entry_add(actor=actor_for(commander), incident=first, kind="note", body="Reproduced")
    make_incident(title="Voice cloning misuse")
    return {"first": first, "commander": commander}


def _page(client, user, query: str = ""):
    client.force_login(user)
    return client.get(reverse("audit-events") + query)


def _api(user, query: str = ""):
    client = APIClient()
    client.force_authenticate(user)
    return client.get(API_EVENTS + query)


def _filter_cases(story) -> list[dict[str, str]]:
    return [
        {"verb": "incident."},
        {"verb": "timeline.note_added"},
        {"incident": story["first"].ref, "actor": story["commander"].username},
        {"object_type": "incidents.incident", "since": "2000-01-01T00:00"},
        {"until": "2999-01-01T00:00:00Z"},
    ]


def test_the_page_and_the_api_filter_alike_through_the_one_filterset(client, auditor, story):
    for params in _filter_cases(story):
        query = "?" + "&".join(f"{name}={value}" for name, value in params.items())
        page = _page(client, auditor, query)
        api = _api(auditor, query).json()["results"]
        assert isinstance(page.context["form"], AuditEventFilterForm)
        page_seqs = sorted(item.event.seq for item in page.context["items"])
        assert page_seqs == [event["seq"] for event in api], params
        assert page_seqs, params  # each case matches something


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("incident", "INC-1%00"),
        ("incident", "INC 1; drop"),
        ("actor", "%00"),
        ("verb", "incident.%00"),
        ("verb", "v" * 65),
        ("object_type", "%00"),
        ("object_id", "1%00"),
        ("since", "last tuesday"),
        ("since", "%00"),
        ("until", "2026-13-45T99:99"),
    ],
)
def test_a_bad_value_is_400_with_a_message_on_its_field(client, auditor, story, field, value):
    query = f"?{field}={value}"

    page = _page(client, auditor, query)
    api = _api(auditor, query)
    export = APIClient()
    export.force_authenticate(auditor)
    exported = export.get("/api/v1/audit/export.jsonl" + query)

    assert page.status_code == 400 and page.context["form"].errors[field]
    assert page.context["items"]  # the filters that parsed still apply: here, none
    assert api.status_code == 400 and api.json()["errors"][field]
    assert exported.status_code == 400 and exported.json()["errors"][field]


def test_until_before_since_is_refused_on_until(client, auditor, story):
    query = "?since=2026-02-01T00:00&until=2026-01-01T00:00"
    assert _page(client, auditor, query).context["form"].errors["until"]
    assert _api(auditor, query).json()["errors"]["until"] == ["Must be after the start (since)."]


def test_hostile_values_in_every_parameter_never_reach_the_database(client, auditor, story):
    api = APIClient()
    api.force_authenticate(auditor)
    client.force_login(auditor)
    for query in hostile_queries():
        for response in (client.get(reverse("audit-events") + query), api.get(API_EVENTS + query)):
            assert response.status_code in (200, 400), query


def _queries(fetch) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert fetch().status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("query", ["", "?verb=incident.&since=2000-01-01T00:00&object_type=incidents.incident"])
def test_filtered_event_list_costs_the_same_queries_at_two_data_sizes(client, auditor, story, make_incident, query):
    client.force_login(auditor)
    api = APIClient()
    api.force_authenticate(auditor)

    def page():
        return client.get(reverse("audit-events") + query)

    def listed():
        return api.get(API_EVENTS + query)

    page(), listed()  # warm up: session, permissions
    small = (_queries(page), _queries(listed))
    for _ in range(12):
        make_incident()
    large = (_queries(page), _queries(listed))

    assert large == small
    assert small[0] <= 6 and small[1] <= 4
