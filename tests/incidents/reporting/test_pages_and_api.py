"""The reportability page and API, /deadlines/ (visibility in the query, fixed query counts), the
dashboard, the viewer's time zone, and the regulator bundle."""

from __future__ import annotations

from datetime import timedelta

import pytest

from accounts.models import LedgerEvent
from incidents.models.reporting import Assessment, Clock, RuleVersion
from tests.incidents.reporting.conftest import utc

API = "/api/v1"
AWARE = utc(2026, 9, 1, 9, 0)


@pytest.fixture
def clocked(now, make_incident, assess, people):
    """make(restricted=False, **facts): an incident with a running SB 53 clock."""

    def make(*, restricted=False, discovered=AWARE, **facts):
        incident = make_incident(by=people["leader"], restricted=restricted)
        assess(incident, "ca_sb53", by=people["leader"], facts=facts or None, discovered=discovered)
        return incident

    return make


# --- API ----------------------------------------------------------------------------------------


def test_api_reads_every_regime_with_its_clocks(clocked, api_for, people):
    incident = clocked(imminent_risk_of_death_or_serious_injury=True)
    body = api_for(people["responder"]).get(f"{API}/incidents/{incident.ref}/reportability/").json()
    regimes = {r["regime"]: r for r in body["regimes"]}
    assert set(regimes) == {"eu_ai_act_art73", "eu_gpai_code", "ca_sb53", "ny_raise"}
    [clock] = regimes["ca_sb53"]["clocks"]
    assert clock["due_at"].startswith("2026-09-02T09:00") and clock["rule"] == {"regime": "ca_sb53", "version": 1}
    assert regimes["eu_ai_act_art73"]["current"] is None


def test_api_post_assessment_starts_the_clock(now, make_incident, api_for, people):
    incident = make_incident()
    response = api_for(people["commander"]).post(
        f"{API}/incidents/{incident.ref}/reportability/",
        {"regime": "eu_gpai_code", "decision": "applies", "facts": {"serious_cybersecurity_breach": True},
         "model_involvement_at": "2026-09-01T09:00:00Z"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    gpai = next(r for r in response.json()["regimes"] if r["regime"] == "eu_gpai_code")
    assert gpai["clocks"][0]["due_at"].startswith("2026-09-06T09:00")
    assert gpai["clocks"][0]["display_state"] == "running"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"regime": "uk_osa", "decision": "applies"}, "regime"),
        ({"regime": "ca_sb53", "decision": "does_not_apply"}, "reason"),
        ({"regime": "ca_sb53", "decision": "maybe"}, "decision"),
        ({"regime": "ca_sb53", "decision": "applies", "facts": {"death": True}}, "facts"),
        ({"regime": "ca_sb53", "decision": "applies", "facts": {"critical_safety_incident": "yes"}}, "facts"),
        ({"regime": "ca_sb53", "decision": "applies", "discovered_at": "yesterday"}, "discovered_at"),
        ({"regime": "ca_sb53", "decision": "applies", "discovered_at": "2030-01-01T00:00:00Z"}, "discovered_at"),
        ({"regime": "ca_sb53", "decision": "applies", "colour": "red"}, "colour"),
    ],
)
def test_api_bad_assessment_input_is_a_field_level_400(now, make_incident, api_for, people, body, field):
    incident = make_incident()
    response = api_for(people["commander"]).post(f"{API}/incidents/{incident.ref}/reportability/", body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]
    assert not Assessment.objects.exists()


def test_api_a_revision_without_a_reason_is_a_400(clocked, api_for, people):
    incident = clocked()
    response = api_for(people["leader"]).post(
        f"{API}/incidents/{incident.ref}/reportability/", {"regime": "ca_sb53", "decision": "applies"}, format="json"
    )
    assert response.status_code == 400 and "reason" in response.json()["errors"]


def test_api_responder_and_auditor_may_read_but_not_assess(now, make_incident, api_for, people):
    incident = make_incident()
    for who, code in (("responder", 403), ("auditor", 403)):
        client = api_for(people[who])
        assert client.get(f"{API}/incidents/{incident.ref}/reportability/").status_code == 200
        response = client.post(
            f"{API}/incidents/{incident.ref}/reportability/",
            {"regime": "ca_sb53", "decision": "unknown"},
            format="json",
        )
        assert response.status_code == code


def test_api_a_restricted_incidents_reportability_is_404_to_the_ungranted(clocked, api_for, people):
    incident = clocked(restricted=True)
    assert api_for(people["commander"]).get(f"{API}/incidents/{incident.ref}/reportability/").status_code == 404
    assert api_for(people["leader"]).get(f"{API}/incidents/{incident.ref}/reportability/").status_code == 200


def test_api_assessment_replayed_with_the_same_idempotency_key_records_once(now, make_incident, api_for, people):
    incident = make_incident()
    client = api_for(people["commander"])
    body = {"regime": "ca_sb53", "decision": "unknown"}
    for _ in range(2):
        response = client.post(
            f"{API}/incidents/{incident.ref}/reportability/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-123456789"
        )
        assert response.status_code == 201
    assert Assessment.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"deadlines": {"default": "fifteen days"}}, "deadlines"),
        ({"deadlines": {"default": "P0D"}}, "deadlines"),
        ({"deadlines": {"death": "P1D"}}, "deadlines"),
        ({"deadlines": {"teleportation": "P1D", "default": "P2D"}}, "deadlines"),
        ({"intermediate_every": "monthly"}, "intermediate_every"),
        ({"regime": "uk_osa"}, "regime"),
        ({"starts_from": "lunch"}, "starts_from"),
        ({"effective_from": "2020-01-01T00:00:00Z"}, "effective_from"),
    ],
)
def test_api_rule_version_bad_input_is_a_field_level_400(now, api_for, people, body, field):
    good = {"regime": "eu_ai_act_art73", "effective_from": "2027-12-02T00:00:00+01:00", "starts_from": "aware",
            "deadlines": {"widespread_infringement": "P2D", "death": "P10D", "default": "P15D"}}  # fmt: skip
    response = api_for(people["admin"]).post(f"{API}/rule-versions/", good | body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]
    assert RuleVersion.objects.count() == 4


def test_api_admin_publishes_a_rule_version_and_it_is_ledgered(now, api_for, people):
    body = {"regime": "eu_ai_act_art73", "effective_from": "2027-12-02T00:00:00+01:00", "starts_from": "aware",
            "deadlines": {"death": "P10D", "default": "P15D"}, "source": "Digital Omnibus"}  # fmt: skip
    response = api_for(people["admin"]).post(f"{API}/rule-versions/", body, format="json")
    assert response.status_code == 201 and response.json()["version"] == 2
    assert LedgerEvent.objects.filter(verb="reporting.rule_version_created").count() == 1
    for who in ("leader", "commander"):
        assert api_for(people[who]).post(f"{API}/rule-versions/", body, format="json").status_code == 403


def _grow_clocks(clocked, n, start=0):
    for k in range(start, start + n):
        clocked(restricted=k % 3 == 0, discovered=AWARE - timedelta(hours=k))


def test_api_deadlines_filter_restricted_incidents_in_the_query_at_a_fixed_cost(
    clocked, api_for, people, django_assert_num_queries, django_assert_max_num_queries
):
    client = api_for(people["commander"])
    _grow_clocks(clocked, 3)
    client.get(f"{API}/deadlines/")
    with django_assert_max_num_queries(6) as small:
        body = client.get(f"{API}/deadlines/").json()
    assert body["count"] == 2  # the restricted one is not theirs to see
    _grow_clocks(clocked, 27, start=3)
    with django_assert_num_queries(len(small)):
        body = client.get(f"{API}/deadlines/").json()
    assert body["count"] == 20 and len(body["results"]) == 20
    assert api_for(people["leader"]).get(f"{API}/deadlines/").json()["count"] == 30
    dues = [r["due_at"] for r in body["results"]]
    assert dues == sorted(dues)  # earliest first


def test_api_deadlines_filters_overdue_and_refuses_bad_filters(clocked, api_for, people, now):
    clocked(imminent_risk_of_death_or_serious_injury=True)  # due in 24 h
    clocked()  # due in 15 days
    client = api_for(people["leader"])
    now.set(AWARE + timedelta(days=2))
    assert client.get(f"{API}/deadlines/", {"state": "overdue"}).json()["count"] == 1
    assert client.get(f"{API}/deadlines/", {"regime": "ny_raise"}).json()["count"] == 0
    response = client.get(f"{API}/deadlines/", {"state": "late"})
    assert response.status_code == 400 and "state" in response.json()["errors"]


def test_api_rule_versions_list_at_a_fixed_cost(now, api_for, people, django_assert_max_num_queries):
    client = api_for(people["auditor"])
    client.get(f"{API}/rule-versions/")
    with django_assert_max_num_queries(4):
        body = client.get(f"{API}/rule-versions/").json()
    assert {r["regime"] for r in body["results"]} == {"eu_ai_act_art73", "eu_gpai_code", "ca_sb53", "ny_raise"}


# --- pages ----------------------------------------------------------------------------------------


def test_incident_page_shows_clocks_earliest_first(clocked, assess, client_for, people):
    incident = clocked()
    assess(incident, "eu_ai_act_art73", by=people["leader"], facts={"widespread_infringement": True}, aware=AWARE)
    html = client_for(people["leader"]).get(f"/incidents/{incident.ref}/").content.decode()
    assert html.index("EU AI Act Art. 73") < html.index("California SB 53 —")  # 2 days before 15 days


def test_commander_records_an_assessment_from_the_page(now, make_incident, client_for, people):
    incident = make_incident()
    client = client_for(people["commander"])
    page = client.get(f"/incidents/{incident.ref}/reportability/")
    assert page.status_code == 200 and b"ca_sb53-decision" in page.content
    token = page.context["rows"][2]["form"]["submit_token"].value()
    data = {"regime": "ca_sb53", "ca_sb53-decision": "applies", "ca_sb53-fact_critical_safety_incident": "on",
            "ca_sb53-discovered_at": "2026-09-01T09:00", "ca_sb53-submit_token": token}  # fmt: skip
    response = client.post(f"/incidents/{incident.ref}/reportability/assess/", data)
    assert response.status_code == 302
    again = client.post(f"/incidents/{incident.ref}/reportability/assess/", data)  # a double click
    assert again.status_code == 302
    assert Assessment.objects.count() == 1
    assert Clock.objects.get().due_at == AWARE + timedelta(days=15)


def test_page_refuses_does_not_apply_without_a_reason_beside_the_form(now, make_incident, client_for, people):
    incident = make_incident()
    response = client_for(people["commander"]).post(
        f"/incidents/{incident.ref}/reportability/assess/",
        {"regime": "ny_raise", "ny_raise-decision": "does_not_apply"},
    )
    assert response.status_code == 400 and b"Say why this regime does not apply" in response.content


def test_responder_sees_no_form_and_cannot_post(now, make_incident, client_for, people):
    incident = make_incident()
    client = client_for(people["responder"])
    assert b"ca_sb53-decision" not in client.get(f"/incidents/{incident.ref}/reportability/").content
    response = client.post(
        f"/incidents/{incident.ref}/reportability/assess/", {"regime": "ca_sb53", "ca_sb53-decision": "unknown"}
    )
    assert response.status_code == 403
    assert client_for(people["auditor"]).post(f"/incidents/{incident.ref}/reportability/assess/").status_code == 403


def test_deadlines_page_hides_restricted_incidents_from_the_ungranted(clocked, client_for, people):
    hidden = clocked(restricted=True)
    shown = clocked()
    html = client_for(people["commander"]).get("/deadlines/").content.decode()
    assert shown.ref in html and hidden.ref not in html
    assert hidden.ref in client_for(people["leader"]).get("/deadlines/").content.decode()


def test_overdue_is_red_on_the_deadlines_page_and_the_dashboard(clocked, client_for, people, now):
    clocked(imminent_risk_of_death_or_serious_injury=True)
    now.set(AWARE + timedelta(hours=30))
    client = client_for(people["leader"])
    for url in ("/deadlines/", "/"):
        html = client.get(url).content.decode()
        assert 'class="clock-left clock-overdue">overdue by 6 h 0 min' in html, url
        assert "clock-row-overdue" in html


def test_deadlines_page_costs_a_fixed_number_of_queries(
    clocked, client_for, people, django_assert_num_queries, django_assert_max_num_queries
):
    client = client_for(people["commander"])
    _grow_clocks(clocked, 3)
    client.get("/deadlines/")
    with django_assert_max_num_queries(14) as small:
        assert client.get("/deadlines/").status_code == 200
    _grow_clocks(clocked, 27, start=3)
    with django_assert_num_queries(len(small)):
        response = client.get("/deadlines/", {"page": "1"})
    assert len(response.context["page"].object_list) == 20


def test_deadlines_page_empty_state_and_bad_filter(now, client_for, people):
    client = client_for(people["leader"])
    assert b"No regulators' clock has started" in client.get("/deadlines/").content
    assert client.get("/deadlines/", {"state": "late"}).status_code == 400


def test_due_time_shows_in_the_viewers_time_zone_and_in_utc(clocked, client_for, people):
    clocked()  # due 16 Sep 2026 09:00 UTC
    people["leader"].time_zone = "America/New_York"
    people["leader"].save()
    html = client_for(people["leader"]).get("/deadlines/").content.decode()
    assert ">16 Sep 2026, 05:00</time>" in html  # New York, EDT
    assert ">16 Sep 2026, 09:00 UTC</time>" in html
    assert "America/New_York" in html


# --- the regulator bundle -----------------------------------------------------------------------


def test_bundle_carries_assessments_clocks_and_their_rule_versions_and_still_verifies(clocked, api_for, people):
    incident = clocked()
    bundle = api_for(people["leader"]).get(f"{API}/incidents/{incident.ref}/bundle/").json()
    section = bundle["reportability"]
    assert [c["regime"] for c in section["clocks"]] == ["ca_sb53"]
    assert section["clocks"][0]["due_at"] == "2026-09-16T09:00:00.000000Z"
    assert section["rule_versions"][0]["deadlines"]["default"] == "P15D"
    assert section["assessments"][0]["discovered_at"] == "2026-09-01T09:00:00.000000Z"
    assert bundle["ledger"]["events_hash_ok"] is True
    verbs = {e["verb"] for e in bundle["ledger"]["events"]}
    assert {"reporting.assessed", "reporting.clock_started"} <= verbs
