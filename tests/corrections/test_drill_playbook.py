"""Drills started from a playbook (issue 12 §3): the playbook's current version is attached to the
drill's incident (checklist, recommended corrections), fills in the scenario left blank, is recorded
on the drill and named by its reports; /drills/ and the API compare the drills of one playbook."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import LedgerEvent
from config.errors import DomainError
from corrections.drills import services as drills
from corrections.events import CorrectionEvent
from corrections.models import Drill, IncidentPlaybook
from corrections.playbooks import selectors as playbook_selectors
from incidents.models import ChecklistItem


@pytest.fixture
def version(make_playbook):
    return make_playbook(approve=True)  # CBRN: dangerous_capability/misuse, cbrn, SEV2 and worse


def test_a_drill_from_a_playbook_takes_its_version_checklist_and_scenario(version, people, actor_for, registry):
    drill = drills.drill_start(
        actor=actor_for(people["commander"]), playbook=version.playbook, deployments=[registry["atlas-api"]]
    )
    incident = drill.incident
    assert incident.is_drill
    assert (incident.title, incident.category, incident.risk_domain, incident.severity) == (
        "Drill: CBRN uplift via a tool", "dangerous_capability", "cbrn", "SEV2"
    )  # fmt: skip
    assert drill.playbook_version == version and drill.scenario["playbook"] == "cbrn-uplift v1"
    assert playbook_selectors.playbook_for(incident) == version
    texts = list(ChecklistItem.objects.filter(incident=incident).values_list("text", flat=True))
    assert texts == ["Preserve the transcripts", "Disable tool use on the deployment", "Brief the RSO"]  # once
    rows = playbook_selectors.recommendations_for(incident, version)
    assert [r.type for r in rows] == ["disable_capability", "tighten_safeguard"] and rows[0].preauthorised
    started = LedgerEvent.objects.get(verb=CorrectionEvent.DRILL_STARTED, incident_ref=incident.ref)
    assert started.after["playbook"] == "cbrn-uplift v1"


def test_the_scenario_given_wins_over_the_playbook(version, people, actor_for):
    drill = drills.drill_start(
        actor=actor_for(people["commander"]), playbook=version.playbook, title="Tabletop", category="misuse",
        severity="SEV1",
    )  # fmt: skip
    incident = drill.incident
    assert (incident.title, incident.category, incident.risk_domain, incident.severity) == (
        "Tabletop", "misuse", "cbrn", "SEV1"
    )  # fmt: skip


def test_a_playbook_that_does_not_match_its_own_scenario_is_still_attached(make_playbook, people, actor_for):
    version = make_playbook("any-cbrn", categories=[], preauthorised_type="")
    with pytest.raises(DomainError) as err:  # "any category": the scenario must say which
        drills.drill_start(actor=actor_for(people["commander"]), playbook=version.playbook)
    assert set(err.value.fields) == {"category"}
    drill = drills.drill_start(
        actor=actor_for(people["commander"]), playbook=version.playbook, category="security", severity="SEV4"
    )
    # SEV4 is below the playbook's SEV2: nothing matched at creation, the drill attaches it all the same.
    assert IncidentPlaybook.objects.get(incident=drill.incident).trigger == "drill"


def test_without_a_playbook_the_scenario_is_required_field_by_field(people, actor_for, registry):
    with pytest.raises(DomainError) as err:
        drills.drill_start(actor=actor_for(people["commander"]), title="x")
    assert set(err.value.fields) == {"category", "risk_domain", "severity"}


def test_the_report_names_the_playbook_and_the_page_compares_its_drills(
    version, make_playbook, people, actor_for, client_for
):
    other = make_playbook("jailbreak", categories=["misuse"], risk_domains=["manipulation"], preauthorised_type="")
    commander = actor_for(people["commander"])
    ours = [drills.drill_start(actor=commander, playbook=version.playbook) for _ in range(2)]
    theirs = drills.drill_start(actor=commander, playbook=other.playbook)
    plain = drills.drill_start(actor=commander, title="x", category="misuse", risk_domain="cyber", severity="SEV3")
    reports = {d.pk: drills.drill_report_make(actor=commander, drill=d) for d in [*ours, theirs, plain]}
    assert reports[ours[0].pk].summary["playbook_version"] == "cbrn-uplift v1"
    assert reports[plain.pk].summary["playbook"] is None

    client = client_for(people["responder"])
    report_page = client.get(reverse("drill-report", args=[reports[ours[0].pk].pk])).content.decode()
    assert "cbrn-uplift v1" in report_page and "?playbook=cbrn-uplift" in report_page
    compared = client.get(reverse("drill-list"), {"playbook": "cbrn-uplift"})
    assert {row.report.drill_id for row in compared.context["rows"]} == {d.pk for d in ours}
    assert 'value="cbrn-uplift" selected' in compared.content.decode()
    everything = client.get(reverse("drill-list"))
    assert len(everything.context["rows"]) == 4
    assert client.get(reverse("drill-list"), {"playbook": "no such/thing"}).status_code == 200


def test_the_api_starts_from_a_playbook_and_filters_reports_by_it(version, people, api_for):
    api = api_for(people["commander"])
    answer = api.post("/api/v1/drills/", {"playbook": "cbrn-uplift"}, format="json")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["playbook"] == "cbrn-uplift v1" and body["incident"]["severity"] == "SEV2"
    drill = Drill.objects.get(pk=body["id"])
    assert drill.playbook_version == version
    assert api.post(f"/api/v1/incidents/{drill.incident.ref}/drill-report/").status_code == 201
    listed = api.get("/api/v1/drills/", {"playbook": "cbrn-uplift"}).json()
    assert [r["playbook"] for r in listed["results"]] == ["cbrn-uplift v1"]
    assert api.get("/api/v1/drills/", {"playbook": "jailbreak"}).json()["results"] == []
    assert api.get("/api/v1/drills/", {"playbook": "not a slug"}).status_code == 400
    unknown = api.post("/api/v1/drills/", {"playbook": "nope"}, format="json")
    assert unknown.status_code == 400 and "playbook" in unknown.json()["errors"]
    incomplete = api.post("/api/v1/drills/", {"title": "x"}, format="json")
    assert incomplete.status_code == 400 and {"category", "risk_domain", "severity"} <= set(incomplete.json()["errors"])


def test_the_page_prefills_from_a_playbook_and_starts_it(version, people, client_for):
    client = client_for(people["commander"])
    form = client.get(reverse("drill-list"), {"from_playbook": str(version.playbook_id)}).context["form"]
    assert form.initial["playbook"] == version.playbook_id and form.initial["severity"] == "SEV2"
    answer = client.post(reverse("drill-list"), {"playbook": str(version.playbook_id)})
    assert answer.status_code == 302
    drill = Drill.objects.get()
    assert drill.playbook_version == version and drill.incident.title == "Drill: CBRN uplift via a tool"
    detail = client.get(reverse("incident-detail", args=[drill.incident.ref])).content.decode()
    assert "Rehearses playbook" in detail and "cbrn-uplift v1" in detail
    # Without a playbook, the blanks are named next to their fields.
    refused = client.post(reverse("drill-list"), {"title": "x"})
    assert refused.status_code == 400 and "category" in refused.context["form"].errors
