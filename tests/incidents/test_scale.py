"""Lists that stay flat as data grows (issue 9): capped counts, full-text search, fixed query
counts at two data sizes, and visibility that survives the new search and paging paths."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.roles import Role
from incidents import pagination, services
from incidents.models import Incident, Signal

API = "/api/v1"


def _bulk_incidents(registry, reporter, count, *, restricted_every=10):
    now = timezone.now()
    incidents = Incident.objects.bulk_create(
        Incident(
            ref=f"INC-1998-{n:04d}",
            title=f"Bulk {n}",
            summary="Bulk summary.",
            category="misuse",
            risk_domain="cyber",
            severity=f"SEV{n % 4 + 1}",
            status="reported",
            restricted=n % restricted_every == 0,
            reporter=reporter,
            reported_at=now - timedelta(minutes=n),
        )
        for n in range(1, count + 1)
    )
    through = Incident.deployments.through
    through.objects.bulk_create(through(incident_id=i.pk, deployment_id=registry["atlas-api"].pk) for i in incidents)
    return incidents


def _bulk_signals(count):
    now = timezone.now()
    Signal.objects.bulk_create(
        Signal(source="internal_monitoring", title=f"Spike {n}", last_seen_at=now - timedelta(minutes=n))
        for n in range(count)
    )


def _page_client(user):
    client = Client()
    client.force_login(user)
    return client


def _api_client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _queries(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {})
    assert response.status_code == 200, response.content[:300]
    return len(captured.captured_queries)


# --- query counts at two data sizes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_client", "url", "params"),
    [
        (_page_client, "/incidents/", {}),
        (_page_client, "/incidents/", {"q": "bulk"}),
        (_page_client, "/incidents/", {"severity": "SEV2", "page": "2"}),
        (_api_client, f"{API}/incidents/", {}),
        (_api_client, f"{API}/incidents/", {"q": "bulk"}),
    ],
)
def test_incident_lists_cost_the_same_queries_below_and_past_the_count_cap(
    make_user, registry, monkeypatch, make_client, url, params
):
    viewer = make_user(Role.RESPONDER)  # not leadership: the restricted-incident filter is in play
    monkeypatch.setattr(pagination, "COUNT_CAP", 100)
    _bulk_incidents(registry, viewer, 60)
    client = make_client(viewer)
    client.get(url, params)  # warm the session
    small = _queries(client, url, params)
    Incident.objects.all().delete()
    _bulk_incidents(registry, viewer, 1000)
    large = _queries(client, url, params)
    assert small == large, (small, large)


@pytest.mark.parametrize(
    ("make_client", "url"),
    [(_page_client, "/signals/?state=all"), (_api_client, f"{API}/signals/")],
)
def test_signal_lists_cost_the_same_queries_for_10_and_1000_signals(make_user, make_client, url):
    viewer = make_user(Role.RESPONDER)
    _bulk_signals(10)
    client = make_client(viewer)
    client.get(url)
    small = _queries(client, url)
    _bulk_signals(990)
    assert _queries(client, url) == small


@pytest.mark.parametrize(("make_client", "url"), [(_page_client, "/audit/"), (_api_client, f"{API}/audit/events/")])
def test_audit_event_lists_cost_the_same_queries_for_10_and_1000_events(make_user, make_client, url):
    auditor = make_user(Role.AUDITOR)
    call_command("seed_ledger", events=10, stdout=open("/dev/null", "w"))  # noqa: SIM115
    client = make_client(auditor)
    client.get(url)
    small = _queries(client, url)
    call_command("seed_ledger", events=990, stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert _queries(client, url) == small


# --- capped counts ------------------------------------------------------------------------------------


@pytest.fixture
def cap_of_20(monkeypatch):
    monkeypatch.setattr(pagination, "COUNT_CAP", 20)


def test_list_page_past_the_cap_says_so_and_still_pages_to_the_end(make_user, registry, cap_of_20):
    viewer = make_user(Role.LEADERSHIP)
    _bulk_incidents(registry, viewer, 60)
    client = _page_client(viewer)

    first = client.get(reverse("incident-list"))
    assert first.context["page"].paginator.capped
    assert "20+ incidents" in first.content.decode()
    last = client.get(reverse("incident-list"), {"page": 3})  # beyond the 20 counted: rows 51–60
    assert len(last.context["page"].object_list) == 10
    assert not last.context["page"].has_next()
    past_the_end = client.get(reverse("incident-list"), {"page": 9})
    assert past_the_end.status_code == 200
    assert past_the_end.context["page"].number == 1


def test_list_below_the_cap_counts_exactly(make_user, registry, cap_of_20):
    viewer = make_user(Role.LEADERSHIP)
    _bulk_incidents(registry, viewer, 20)
    page = _page_client(viewer).get(reverse("incident-list")).context["page"]
    assert (page.paginator.count, page.paginator.capped) == (20, False)


def test_api_list_past_the_cap_reports_a_lower_bound_and_next_links_reach_every_row(make_user, registry, cap_of_20):
    viewer = make_user(Role.LEADERSHIP)
    _bulk_incidents(registry, viewer, 120)
    client = _api_client(viewer)
    body = client.get(f"{API}/incidents/").json()
    assert (body["count"], body["count_capped"]) == (20, True)
    seen = [row["ref"] for row in body["results"]]
    while body["next"]:
        body = client.get(body["next"]).json()
        seen += [row["ref"] for row in body["results"]]
    assert len(seen) == len(set(seen)) == 120


def test_capped_count_never_counts_hidden_incidents(make_user, registry, cap_of_20):
    """A responder sees the unrestricted rows only: the capped count must not leak the others."""
    reporter = make_user(Role.RESPONDER)
    _bulk_incidents(registry, reporter, 30, restricted_every=2)  # 15 restricted, granted to nobody
    outsider = make_user(Role.RESPONDER)
    body = _api_client(outsider).get(f"{API}/incidents/").json()
    assert (body["count"], body["count_capped"]) == (15, False)
    assert not any(row["restricted"] for row in body["results"])


# --- the list reads only what it shows ----------------------------------------------------------------


def test_incident_list_does_not_read_summaries(make_user, make_incident):
    viewer = make_user(Role.LEADERSHIP)
    make_incident(summary="A very long account of what happened.")
    client = _page_client(viewer)
    client.get(reverse("incident-list"))
    with CaptureQueriesContext(connection) as captured:
        client.get(reverse("incident-list"))
    listing = [q["sql"] for q in captured.captured_queries if q["sql"].startswith('SELECT "incidents_incident".')]
    assert listing
    assert not any('"summary"' in sql for sql in listing), listing


# --- full-text search (PostgreSQL) --------------------------------------------------------------------


def _refs(client, **params):
    response = client.get(f"{API}/incidents/", params)
    assert response.status_code == 200, response.json()
    return [row["ref"] for row in response.json()["results"]]


@pytest.mark.postgres
def test_search_matches_other_forms_of_a_word(make_user, make_incident):
    viewer = make_user(Role.LEADERSHIP)
    hit = make_incident(title="Weights exfiltrated", summary="")
    make_incident(title="Unrelated", summary="")
    assert _refs(_api_client(viewer), q="exfiltration") == [hit.ref]


@pytest.mark.postgres
def test_search_ranks_title_matches_above_summary_matches(make_user, make_incident):
    viewer = make_user(Role.LEADERSHIP)
    # The summary match is the more severe one, so the list order alone would put it first.
    in_summary = make_incident(title="Odd behaviour", summary="Possible jailbreak.", severity="SEV1")
    in_title = make_incident(title="Jailbreak wave", summary="", severity="SEV4")
    assert _refs(_api_client(viewer), q="jailbreak") == [in_title.ref, in_summary.ref]


@pytest.mark.postgres
def test_search_follows_edits_of_title_and_summary(make_user, make_incident, actor_for):
    viewer = make_user(Role.LEADERSHIP)
    incident = make_incident(title="Quiet", summary="")
    services.incident_edit(
        actor=actor_for(viewer), incident=incident, changes={"summary": "Voice cloning fraud."}, reason="detail"
    )
    client = _api_client(viewer)
    assert _refs(client, q="cloning") == [incident.ref]
    Incident.objects.filter(pk=incident.pk).update(title="Renamed", summary="")  # a write around the service
    assert _refs(client, q="cloning") == []
    assert _refs(client, q="renamed") == [incident.ref]


@pytest.mark.postgres
def test_search_input_that_is_not_query_syntax_is_not_an_error(make_user, make_incident):
    viewer = make_user(Role.LEADERSHIP)
    make_incident(title="Jailbreak wave")
    client = _api_client(viewer)
    for text in ['"unbalanced', "a & | ! b", "-", "the", "(((", "jail:*"]:
        assert client.get(f"{API}/incidents/", {"q": text}).status_code == 200, text


@pytest.mark.postgres
@pytest.mark.parametrize("page", [True, False])
def test_search_never_finds_a_restricted_incident_for_someone_not_granted(make_user, make_incident, page):
    reporter = make_user(Role.RESPONDER)
    secret = make_incident(by=reporter, title="Bioweapon uplift transcript", restricted=True)
    outsider = make_user(Role.RESPONDER)
    for text in ["bioweapon", secret.ref, secret.ref.lower()]:
        if page:
            response = _page_client(outsider).get(reverse("incident-list"), {"q": text})
            assert response.context["page"].paginator.count == 0
            assert f'data-incident-ref="{secret.ref}"' not in response.content.decode()
        else:
            body = _api_client(outsider).get(f"{API}/incidents/", {"q": text}).json()
            assert (body["count"], body["results"]) == (0, [])
    assert _refs(_api_client(reporter), q="bioweapon") == [secret.ref]  # granted: found


@pytest.mark.postgres
def test_list_walks_the_index_in_its_order_instead_of_sorting(make_user, registry):
    """The list's ORDER BY matches an index, so a page stops after 25 rows (issue 9)."""
    from incidents import selectors

    viewer = make_user(Role.RESPONDER)
    _bulk_incidents(registry, viewer, 200)
    qs = selectors.incident_list_for(user=viewer)[:25]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        plan = qs.explain()
    assert "incident_list_order" in plan
    assert "Sort" not in plan.replace("Sort Key", "")
