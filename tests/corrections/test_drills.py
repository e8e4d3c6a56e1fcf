"""Drills (issue 12 §3): an incident marked DRILL for good, a real sign-off and a real dispatch with
dry_run that the sandbox gateway records and never enforces, a kept report timing every phase,
schedules with reminders, and nothing about a drill in metrics or in what goes to regulators.

The dispatch tests call a real sandbox gateway process over HTTP (tests/corrections/gateway_fixture.py);
the worker's part runs in-process (corrections.dispatch.dispatch_entry), as tests/corrections/test_dispatch.py
does. tests/e2e/test_drill.py runs the same path over the full stack (web, worker, beat, Redis).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from accounts.models import LedgerEvent
from config.errors import DomainError
from corrections import dispatch, services
from corrections.drills import selectors as drill_selectors
from corrections.drills import services as drills
from corrections.drills.phases import PHASE_KEYS, CorrectionFacts, Decision, DrillFacts, drill_timing
from corrections.models import Correction, DispatchAttempt, DrillReport, DrillSchedule, OutboxEntry, State
from incidents.audit import incident_bundle
from incidents.metrics.selectors import MetricFilters, metrics_for
from incidents.models import Incident
from tests.corrections import gateway_fixture

sandbox_gateway = gateway_fixture.sandbox_gateway


@pytest.fixture(autouse=True)
def _demo_accounts(accounts):
    """acct-alice, acct-bob and acct-mallory exist, as at the gateway."""


@pytest.fixture
def start(people, registry, actor_for):
    def make(*, by: str = "commander", **fields):
        scenario = {
            "title": "CBRN uplift through the browsing tool",
            "category": "dangerous_capability",
            "risk_domain": "cbrn",
            "severity": "SEV2",
            "deployments": [registry["atlas-api"]],
            "detected_at": timezone.now() - timedelta(minutes=10),
        }
        return drills.drill_start(actor=actor_for(people[by]), **(scenario | fields))

    return make


@pytest.fixture
def gateway(sandbox_gateway, registry, people, actor_for):
    services.actuator_configure(
        actor=actor_for(people["admin"]), deployment=registry["atlas-api"], base_url=sandbox_gateway.base_url,
        secret=sandbox_gateway.secret,
    )  # fmt: skip
    return sandbox_gateway


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Dispatch an outbox entry as the worker would, running what its transactions queued on commit."""

    def dispatch_it(correction: Correction, action: str = "apply") -> dispatch.Outcome:
        entry = OutboxEntry.objects.filter(correction=correction, action=action).latest("id")
        with django_capture_on_commit_callbacks(execute=True):
            return dispatch.dispatch_entry(entry_id=entry.pk)

    return dispatch_it


# --- the mark --------------------------------------------------------------------------------------


def test_a_drill_is_an_incident_marked_at_creation_and_the_mark_is_in_the_creation_event(start):
    drill = start()
    incident = Incident.objects.get(pk=drill.incident_id)
    assert incident.is_drill
    created = LedgerEvent.objects.get(verb="incident.created", incident_ref=incident.ref)
    assert created.after["is_drill"] is True
    started = LedgerEvent.objects.get(verb="drill.started", incident_ref=incident.ref)
    assert started.after["risk_domain"] == "cbrn"


def test_is_drill_cannot_be_set_or_changed_by_an_edit(start, make_incident, people, actor_for, api_for):
    from incidents import services as incident_services

    real = make_incident()
    with pytest.raises(DomainError):
        incident_services.incident_edit(actor=actor_for(people["commander"]), incident=real, changes={"is_drill": True})
    answer = api_for(people["commander"]).patch(f"/api/v1/incidents/{real.ref}/", {"is_drill": True}, format="json")
    assert answer.status_code == 400
    drill = start()
    answer = api_for(people["commander"]).patch(
        f"/api/v1/incidents/{drill.incident.ref}/", {"is_drill": False}, format="json"
    )
    assert answer.status_code == 400
    assert Incident.objects.get(pk=real.pk).is_drill is False
    assert Incident.objects.get(pk=drill.incident_id).is_drill is True


def test_a_responder_cannot_start_a_drill(start, people, api_for):
    with pytest.raises(DomainError) as refused:
        start(by="responder")
    assert refused.value.code == "forbidden"
    body = {"title": "x", "category": "misuse", "risk_domain": "cyber", "severity": "SEV3"}
    assert api_for(people["responder"]).post("/api/v1/drills/", body, format="json").status_code == 403
    assert not Incident.objects.filter(is_drill=True).exists()


def test_every_message_about_a_drill_says_drill_in_its_subject(
    start, people, django_capture_on_commit_callbacks, task_sends, deliver_notifications
):
    with django_capture_on_commit_callbacks(execute=True):
        start(severity="SEV1")  # a SEV1 pages leadership
    deliver_notifications()
    subjects = [m.subject for m in mail.outbox]
    assert subjects and all(s.startswith("[Failsafe] [DRILL] SEV1 ") for s in subjects), subjects


def test_someone_who_may_not_see_a_restricted_drill_still_learns_it_is_a_drill(
    start, people, django_capture_on_commit_callbacks, task_sends, deliver_notifications
):
    from incidents.notifications import notify

    drill = start(restricted=True)
    deliver_notifications()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        notify(incident=drill.incident, users=[people["responder"]], subject="secret title", body="secret body")
    deliver_notifications()
    (message,) = mail.outbox
    assert message.subject == "[Failsafe] [DRILL] A restricted incident needs attention"
    assert "secret" not in message.body


def test_the_list_marks_drills_and_filters_them_in_or_out(start, make_incident, people, client_for, api_for):
    real, drill = make_incident(title="A real one"), start()
    page = client_for(people["commander"]).get("/incidents/")
    html = page.content.decode()
    assert html.count('class="tag tag-drill"') == 1
    api = api_for(people["commander"])
    refs = {row["ref"]: row["is_drill"] for row in api.get("/api/v1/incidents/").json()["results"]}
    assert refs == {real.ref: False, drill.incident.ref: True}
    only = [r["ref"] for r in api.get("/api/v1/incidents/", {"drills": "only"}).json()["results"]]
    hidden = [r["ref"] for r in api.get("/api/v1/incidents/", {"drills": "hide"}).json()["results"]]
    assert only == [drill.incident.ref] and hidden == [real.ref]
    assert api.get("/api/v1/incidents/", {"drills": "maybe"}).status_code == 400
    only_page = client_for(people["commander"]).get("/incidents/", {"drills": "only"})
    assert drill.incident.ref in only_page.content.decode() and real.ref not in only_page.content.decode()


def test_the_incident_page_carries_a_drill_banner(start, people, client_for):
    drill = start()
    html = client_for(people["responder"]).get(f"/incidents/{drill.incident.ref}/").content.decode()
    assert "This is a DRILL" in html and "dry_run" in html


# --- left out of metrics and of everything for regulators --------------------------------------------


def _closed_with_milestones(incident: Incident) -> None:
    now = timezone.now()
    Incident.objects.filter(pk=incident.pk).update(
        detected_at=now - timedelta(hours=2), reported_at=now - timedelta(hours=1),
        acknowledged_at=now - timedelta(minutes=50), contained_at=now - timedelta(minutes=30),
    )  # fmt: skip


def test_metrics_leave_drills_and_their_corrections_out(start, make_incident, people, actor_for, api_for):
    real, drill = make_incident(), start()
    for incident in (real, drill.incident):
        _closed_with_milestones(incident)
        correction = services.correction_request(
            actor=actor_for(people["responder"]), incident=incident, type="block_accounts", deployment="atlas-api",
            params={"accounts": ["acct-mallory"]}, rationale="x",
        )  # fmt: skip
        Correction.objects.filter(pk=correction.pk).update(approved_at=correction.requested_at + timedelta(minutes=1))
    leader = people["leader1"]
    report = metrics_for(user=leader, filters=MetricFilters.default())
    groups = {g.group.key: g for g in report.groups}
    incidents, corrections = groups["incidents"], groups["corrections"]
    assert incidents.cell("acknowledge").n == 1  # the real incident only
    assert incidents.cell("report").n == 1
    assert corrections.cell("approve").n == 1
    # The API's real output: the overall cells count one incident and one correction.
    body = api_for(leader).get("/api/v1/metrics/").json()
    cells = {(c["group"], c["metric"]): c["n"] for c in body["cells"] if c["severity"] == "all" and c["month"] == "all"}
    assert cells[("incidents", "acknowledge")] == 1 and cells[("corrections", "approve")] == 1


def test_the_metrics_csv_export_leaves_drills_out(start, make_incident, people, client_for):
    real, drill = make_incident(), start()
    for incident in (real, drill.incident):
        _closed_with_milestones(incident)
    response = client_for(people["leader1"]).get("/metrics/export.csv")
    assert response.status_code == 200
    rows = [line.split(",") for line in b"".join(response.streaming_content if response.streaming else
                                                  [response.content]).decode().splitlines()]  # fmt: skip
    header = rows[0]
    overall = [
        dict(zip(header, row, strict=True)) for row in rows[1:]
        if row[header.index("severity")] == "all" and row[header.index("month")] == "all"
    ]  # fmt: skip
    acknowledge = next(r for r in overall if r["metric"] == "acknowledge")
    assert acknowledge["n"] == "1"


def test_the_regulator_bundle_refuses_a_drill_and_still_serves_a_real_incident(start, make_incident, people, api_for):
    real, drill = make_incident(), start()
    auditor = people["leader1"]  # leadership audits and sees everything
    answer = api_for(auditor).get(f"/api/v1/incidents/{drill.incident.ref}/bundle/")
    assert answer.status_code == 409
    assert "drill" in answer.json()["detail"]
    assert api_for(auditor).get(f"/api/v1/incidents/{real.ref}/bundle/").status_code == 200
    with pytest.raises(DomainError):
        incident_bundle(user=auditor, ref=drill.incident.ref)


def test_the_audit_history_of_a_drill_offers_no_regulator_bundle(start, people, client_for):
    drill = start()
    html = client_for(people["leader1"]).get(f"/audit/incidents/{drill.incident.ref}/").content.decode()
    assert "A drill: no regulator bundle." in html and "Regulator bundle (JSON)" not in html


# --- dry_run in the actuator contract ----------------------------------------------------------------


def test_the_payload_of_a_drill_correction_says_dry_run_and_a_real_one_does_not(start, make_incident, people,
                                                                              actor_for):  # fmt: skip
    drill_correction = services.correction_request(
        actor=actor_for(people["responder"]), incident=start().incident, type="block_accounts",
        deployment="atlas-api", params={"accounts": ["acct-mallory"]}, rationale="x",
    )  # fmt: skip
    real_correction = services.correction_request(
        actor=actor_for(people["responder"]), incident=make_incident(), type="block_accounts",
        deployment="atlas-api", params={"accounts": ["acct-mallory"]}, rationale="x",
    )  # fmt: skip
    assert dispatch.payload_for(drill_correction)["dry_run"] is True
    assert dispatch.payload_for(real_correction)["dry_run"] is False


def test_a_drill_correction_is_dispatched_as_a_dry_run_verified_and_never_enforced(
    start, gateway, people, actor_for, accounts, run, client_for, api_for
):
    drill = start()
    correction = services.correction_request(
        actor=actor_for(people["responder"]), incident=drill.incident, type="block_accounts", deployment="atlas-api",
        params={"accounts": ["acct-mallory"]}, rationale="Drill: block the scripted attacker.",
    )  # fmt: skip
    assert run(correction).result == "done"
    correction.refresh_from_db()
    assert correction.state == State.ACTIVE and correction.verified_at is not None
    # What went over the wire said dry_run, and the gateway's status said it recorded a dry run.
    apply = DispatchAttempt.objects.get(correction=correction, action="apply")
    assert apply.request_body["dry_run"] is True
    status = DispatchAttempt.objects.get(correction=correction, action="status")
    assert status.response_body["dry_run"] is True and status.response_body["enforced"] is False
    # Recorded in the gateway's log, and /v1/generate is not affected.
    (logged,) = gateway.idempotency_log()
    assert logged["dry_run"] is True and logged["correction_id"] == str(correction.pk)
    assert gateway.generate("mallory").status_code == 200
    # Failsafe shows it as active (dry run): the page, and the API field.
    html = client_for(people["responder"]).get(f"/corrections/{correction.pk}/").content.decode()
    assert 'data-dry-run="true"' in html and "active (dry run)" in html
    assert api_for(people["responder"]).get(f"/api/v1/corrections/{correction.pk}/").json()["dry_run"] is True
    verified = LedgerEvent.objects.get(verb="correction.verified", object_id=str(correction.pk))
    assert verified.after["dry_run"] is True


def test_the_same_correction_on_a_real_incident_is_enforced(make_incident, gateway, people, actor_for, accounts,
                                                            run):  # fmt: skip
    correction = services.correction_request(
        actor=actor_for(people["responder"]), incident=make_incident(), type="block_accounts",
        deployment="atlas-api", params={"accounts": ["acct-mallory"]}, rationale="x",
    )  # fmt: skip
    assert run(correction).result == "done"
    assert gateway.generate("mallory").status_code == 403


def test_an_actuator_that_enforces_a_dry_run_is_not_verified_and_the_commander_is_alerted():
    from corrections.connectors import CallResult

    enforced = CallResult(ok=True, method="GET", url="u", body={"state": "active", "enforced": True})
    recorded = CallResult(ok=True, method="GET", url="u", body={"state": "active", "dry_run": True, "enforced": False})
    assert not dispatch._in_force(enforced, dry_run=True)
    assert dispatch._in_force(recorded, dry_run=True)
    assert dispatch._in_force(enforced, dry_run=False)
    assert not dispatch._in_force(recorded, dry_run=False)


def test_the_gateway_records_a_dry_run_and_reports_it_without_enforcing_it(sandbox_gateway):
    answer = sandbox_gateway.apply("77", "block_accounts", {"accounts": ["acct-mallory"]}, dry_run=True)
    assert answer.status_code == 200, answer.text
    assert answer.json()["dry_run"] is True and answer.json()["enforced"] is False
    status = sandbox_gateway.status("77").json()
    assert status["state"] == "active" and status["dry_run"] is True and status["enforced"] is False
    assert sandbox_gateway.generate("mallory").status_code == 200
    assert [e["dry_run"] for e in sandbox_gateway.idempotency_log()] == [True]


def test_the_gateway_validates_a_dry_run_like_any_apply(sandbox_gateway):
    bad = sandbox_gateway.apply("78", "block_accounts", {"accounts": []}, dry_run=True)
    assert bad.status_code == 400
    not_bool = sandbox_gateway.apply("79", "block_accounts", {"accounts": ["acct-bob"]}, dry_run="yes")
    assert not_bool.status_code == 400 and "dry_run" in not_bool.json()["detail"]
    assert sandbox_gateway.idempotency_log() == []


def test_a_dry_run_cannot_switch_off_a_real_correction_at_the_edge(sandbox_gateway):
    assert sandbox_gateway.apply("80", "block_accounts", {"accounts": ["acct-mallory"]}).status_code == 200
    again = sandbox_gateway.apply("80", "block_accounts", {"accounts": ["acct-mallory"]}, generation=2, dry_run=True)
    assert again.status_code == 409 and again.json()["error"] == "dry_run_mismatch"
    assert sandbox_gateway.generate("mallory").status_code == 403


def test_stripping_dry_run_from_a_signed_body_breaks_the_signature(sandbox_gateway):
    """An attacker (or a proxy) between Failsafe and the edge drops dry_run to make the drill real."""
    from corrections.connectors import signing

    payload = {
        "correction_id": "81", "type": "block_accounts", "deployment": "atlas-api", "model": "atlas",
        "params": {"accounts": ["acct-mallory"]}, "expires_at": None, "generation": 1, "dry_run": True,
    }  # fmt: skip
    signed_body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    headers = signing.sign(sandbox_gateway.secret, method="PUT", path="/corrections/81", body=signed_body,
                           idempotency_key="drill-81")  # fmt: skip
    stripped = json.dumps({k: v for k, v in payload.items() if k != "dry_run"}).encode()
    answer = sandbox_gateway._session.put(
        sandbox_gateway.base_url + "/corrections/81", data=stripped,
        headers={**headers, "Content-Type": "application/json"}, timeout=30,
    )  # fmt: skip
    assert answer.status_code == 401 and answer.json()["error"] == "bad_signature"
    assert sandbox_gateway.generate("mallory").status_code == 200
    assert sandbox_gateway.status("81").status_code == 404  # nothing recorded either


# --- the report -----------------------------------------------------------------------------------


def test_the_phases_are_timed_from_the_lead_correction_and_name_who_was_slowest():
    t0 = timezone.now()

    def at(minutes: float):
        return t0 + timedelta(minutes=minutes)

    facts = DrillFacts(
        detected_at=at(0), reported_at=at(5), reporter="rita",
        corrections=(
            CorrectionFacts(id=2, type="rate_limit", requested_at=at(30), requested_by="sam"),  # never approved
            CorrectionFacts(
                id=1, type="block_accounts", requested_at=at(12), requested_by="sam", approved_at=at(40),
                approvals=(Decision("cora", at(20)), Decision("lee", at(40))), enforced_at=at(41),
                lift_asked=Decision("sam", at(60)), lift_approvals=(Decision("lee", at(75)),), lifted_at=at(76),
            ),
        ),
    )  # fmt: skip
    timing = drill_timing(facts)
    phases = {p.key: p for p in timing.phases}
    assert [p.key for p in timing.phases] == list(PHASE_KEYS)
    assert {k: p.seconds for k, p in phases.items()} == {
        "detect_report": 300, "report_request": 420, "request_approval": 1680, "approval_enforcement": 60,
        "lift": 960,
    }  # fmt: skip
    assert phases["request_approval"].who == "lee" and phases["request_approval"].who_seconds == 1680
    assert phases["lift"].who == "lee"
    assert timing.slowest is not None and timing.slowest.who == "lee" and timing.slowest.key == "request_approval"


def test_phases_not_reached_have_no_duration():
    now = timezone.now()
    timing = drill_timing(DrillFacts(detected_at=now, reported_at=now, reporter="rita"))
    assert [p.seconds for p in timing.phases] == [0, None, None, None, None]


def test_a_report_made_on_demand_keeps_every_phase_of_a_dispatched_drill(
    start, gateway, people, actor_for, accounts, run, api_for
):
    drill = start()
    correction = services.correction_request(
        actor=actor_for(people["responder"]), incident=drill.incident, type="disable_capability",
        deployment="atlas-api", params={"capability": "browsing"}, rationale="Drill: browsing off.",
    )  # fmt: skip
    services.correction_approve(
        actor=actor_for(people["commander2"]), correction=correction, content_hash=correction.content_hash
    )
    assert run(correction).result == "done"
    assert gateway.generate("mallory", tools=["browsing"]).status_code == 200  # a dry run: not enforced
    services.correction_lift(actor=actor_for(people["responder"]), correction=correction, reason="drill over")
    assert run(correction, "lift").result == "done"
    answer = api_for(people["commander"]).post(f"/api/v1/incidents/{drill.incident.ref}/drill-report/")
    assert answer.status_code == 201, answer.content
    phases = {p["key"]: p for p in answer.json()["phases"]}
    assert set(phases) == set(PHASE_KEYS)
    assert all(phases[key]["seconds"] is not None for key in PHASE_KEYS), phases
    assert phases["detect_report"]["who"] == people["commander"].username
    assert phases["report_request"]["who"] == people["responder"].username
    assert phases["request_approval"]["who"] == people["commander2"].username
    assert phases["lift"]["who"] == people["responder"].username
    report_id = answer.json()["id"]
    again = api_for(people["auditor"]).get(f"/api/v1/drills/reports/{report_id}/")
    assert again.status_code == 200 and again.json()["phases"] == answer.json()["phases"]
    assert LedgerEvent.objects.filter(verb="drill.reported", object_id=str(report_id)).exists()


def test_closing_a_drill_keeps_its_report_once(start, people, actor_for):
    drill = start()
    Incident.objects.filter(pk=drill.incident_id).update(status="closed", closed_at=timezone.now())
    system = actor_for(people["admin"])
    assert drills.drill_reports_for_closed(actor=system) == 1
    assert drills.drill_reports_for_closed(actor=system) == 0
    (report,) = DrillReport.objects.filter(drill=drill)
    assert report.trigger == DrillReport.Trigger.CLOSED
    with pytest.raises(DomainError) as again:
        drills.drill_report_make(actor=system, drill=drill, trigger=DrillReport.Trigger.CLOSED)
    assert again.value.code == "conflict"


def test_an_open_drill_gets_no_closing_report(start, people, actor_for):
    drill = start()
    assert drills.drill_reports_for_closed(actor=actor_for(people["admin"])) == 0
    with pytest.raises(DomainError):
        drills.drill_report_make(actor=actor_for(people["admin"]), drill=drill, trigger=DrillReport.Trigger.CLOSED)


@pytest.mark.postgres
def test_the_database_refuses_to_change_or_delete_a_kept_report(start, people, actor_for):
    report = drills.drill_report_make(actor=actor_for(people["commander"]), drill=start())
    for statement in (
        f"UPDATE corrections_drillreport SET phases = '[]' WHERE id = {report.pk}",
        f"DELETE FROM corrections_drillreport WHERE id = {report.pk}",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert DrillReport.objects.get(pk=report.pk).phases == report.phases


def test_a_restricted_drills_reports_are_hidden_from_those_not_granted_it(start, people, actor_for, api_for,
                                                                          client_for):  # fmt: skip
    drill = start(restricted=True)
    report = drills.drill_report_make(actor=actor_for(people["commander"]), drill=drill)
    outsider = people["commander2"]
    assert api_for(outsider).get(f"/api/v1/drills/reports/{report.pk}/").status_code == 404
    assert api_for(outsider).get("/api/v1/drills/").json()["results"] == []
    assert client_for(outsider).get(f"/drills/reports/{report.pk}/").status_code == 404
    assert api_for(outsider).post(f"/api/v1/incidents/{drill.incident.ref}/drill-report/").status_code == 404
    assert api_for(people["leader1"]).get(f"/api/v1/drills/reports/{report.pk}/").status_code == 200


def test_an_auditor_reads_reports_but_cannot_make_one(start, people, actor_for, api_for):
    drill = start()
    drills.drill_report_make(actor=actor_for(people["commander"]), drill=drill)
    assert len(api_for(people["auditor"]).get("/api/v1/drills/").json()["results"]) == 1
    assert api_for(people["auditor"]).post(f"/api/v1/incidents/{drill.incident.ref}/drill-report/").status_code == 403


# --- the API and the page -------------------------------------------------------------------------------


def test_starting_a_drill_through_the_api(people, api_for, registry):
    schedule = DrillSchedule.objects.create(team="Safety on-call", every_days=90)
    body = {"title": "Jailbreak spreads", "category": "misuse", "risk_domain": "cyber", "severity": "SEV2",
            "deployments": ["atlas-api"], "team": "Safety on-call"}  # fmt: skip
    answer = api_for(people["commander"]).post("/api/v1/drills/", body, format="json")
    assert answer.status_code == 201, answer.content
    data = answer.json()
    assert data["incident"]["is_drill"] is True and data["team"] == "Safety on-call"
    assert Incident.objects.get(ref=data["incident"]["ref"]).drill.schedule == schedule
    unknown = api_for(people["commander"]).post("/api/v1/drills/", {**body, "team": "Nobody"}, format="json")
    assert unknown.status_code == 400 and "team" in unknown.json()["errors"]
    bad = api_for(people["commander"]).post("/api/v1/drills/", {**body, "severity": "SEV9"}, format="json")
    assert bad.status_code == 400 and "severity" in bad.json()["errors"]


def test_starting_a_drill_from_the_page(people, client_for, registry):
    page = client_for(people["commander"])
    form = page.get("/drills/")
    assert form.status_code == 200 and "Start the drill" in form.content.decode()
    answer = page.post("/drills/", {"title": "Weights exfiltration suspected", "category": "security",
                                    "risk_domain": "other", "severity": "SEV1",
                                    "deployments": [registry["atlas-api"].pk]})  # fmt: skip
    assert answer.status_code == 302
    incident = Incident.objects.get(title="Weights exfiltration suspected")
    assert incident.is_drill and answer["Location"] == f"/incidents/{incident.ref}/"
    assert "Start the drill" not in client_for(people["responder"]).get("/drills/").content.decode()
    # A responder may not start one (the scenario's blanks may now come from a playbook, so it gets that far).
    assert client_for(people["responder"]).post("/drills/", {"title": "x"}).status_code == 403


def _grow_reports(start, actor, n: int) -> None:
    for _ in range(n):
        drills.drill_report_make(actor=actor, drill=start())


def test_the_drills_page_and_api_cost_the_same_queries_for_3_and_30_reports(
    start, people, actor_for, client_for, api_for, django_assert_num_queries, django_assert_max_num_queries
):
    viewer = people["commander"]
    page, api = client_for(viewer), api_for(viewer)
    _grow_reports(start, actor_for(viewer), 3)
    page.get("/drills/")
    with django_assert_max_num_queries(14) as small_page:
        assert page.get("/drills/").status_code == 200
    with django_assert_max_num_queries(5) as small_api:
        assert len(api.get("/api/v1/drills/").json()["results"]) == 3
    _grow_reports(start, actor_for(viewer), 27)
    with django_assert_num_queries(len(small_page)):
        response = page.get("/drills/")
    assert len(response.context["rows"]) == 20  # a page
    with django_assert_num_queries(len(small_api)):
        assert len(api.get("/api/v1/drills/").json()["results"]) > 3


def test_the_drills_page_compares_reports_side_by_side_with_a_trend(start, people, actor_for, client_for):
    _grow_reports(start, actor_for(people["commander"]), 2)
    html = client_for(people["auditor"]).get("/drills/").content.decode()
    assert html.count("data-report-id=") == 2
    assert 'id="drill-trend"' in html
    for key in PHASE_KEYS:
        assert f'data-phase="{key}"' in html


def test_the_drills_page_has_an_empty_state(people, client_for):
    html = client_for(people["auditor"]).get("/drills/").content.decode()
    assert "No drill reports yet." in html and "No drill schedule." in html


# --- schedules and reminders ------------------------------------------------------------------------


def test_commanders_are_reminded_once_a_day_when_a_drill_is_due(
    people, actor_for, django_capture_on_commit_callbacks, task_sends, deliver_notifications
):
    schedule = drills.drill_schedule_save(actor=actor_for(people["admin"]), team="Safety on-call", every_days=90)
    DrillSchedule.objects.filter(pk=schedule.pk).update(created_at=timezone.now() - timedelta(days=100))
    system = actor_for(people["admin"])
    with django_capture_on_commit_callbacks(execute=True):
        assert drills.drills_remind_due(actor=system) == 1
        assert drills.drills_remind_due(actor=system) == 0  # once a day
    deliver_notifications()
    commanders = {people["commander"].email, people["commander2"].email}
    assert {m.to[0] for m in mail.outbox} == commanders
    assert all("overdue" in m.subject and "Safety on-call" in m.subject for m in mail.outbox)
    later = timezone.now() + timedelta(days=1, minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert drills.drills_remind_due(actor=system, now=later) == 1


def test_a_recent_drill_puts_the_next_reminder_off(start, people, actor_for):
    schedule = drills.drill_schedule_save(actor=actor_for(people["admin"]), team="Safety on-call", every_days=90)
    DrillSchedule.objects.filter(pk=schedule.pk).update(created_at=timezone.now() - timedelta(days=100))
    start(schedule=schedule)
    assert drills.drills_remind_due(actor=actor_for(people["admin"])) == 0
    (status,) = drill_selectors.schedule_statuses()
    assert status.next_due > timezone.now() + timedelta(days=89)


def test_a_schedule_is_refused_with_field_level_messages(people, actor_for):
    with pytest.raises(DomainError) as refused:
        drills.drill_schedule_save(actor=actor_for(people["admin"]), team="T", every_days=0)
    assert "every_days" in refused.value.fields
    with pytest.raises(DomainError) as refused:
        drills.drill_schedule_save(actor=actor_for(people["admin"]), team="T", every_days=10, remind_days_before=10)
    assert "remind_days_before" in refused.value.fields
    with pytest.raises(DomainError) as refused:
        drills.drill_schedule_save(actor=actor_for(people["responder"]), team="T", every_days=10)
    assert refused.value.code == "forbidden"


def test_the_drill_sweep_is_routed_and_on_beat(settings):
    assert settings.CELERY_TASK_ROUTES["corrections.sweep_drills"] == {"queue": "sweeps"}
    assert any(entry["task"] == "corrections.sweep_drills" for entry in settings.CELERY_BEAT_SCHEDULE.values())


def test_the_actuator_contract_documents_dry_run():
    import yaml
    from jsonschema import Draft202012Validator

    from tests.corrections.test_sandbox_gateway import OPENAPI

    doc = yaml.safe_load(OPENAPI.read_text())
    validator = Draft202012Validator({"$ref": "#/components/schemas/ApplyRequest", "components": doc["components"]})
    body = {"correction_id": "7", "type": "block_accounts", "deployment": "atlas-api", "model": "atlas",
            "params": {"accounts": ["acct-mallory"]}, "expires_at": None, "generation": 1}  # fmt: skip
    assert validator.is_valid({**body, "dry_run": True})
    assert not validator.is_valid({**body, "dry_run": "yes"})
    assert "dry_run" in doc["components"]["schemas"]["CorrectionStatus"]["properties"]
    assert "## Dry runs: drills" in doc["info"]["description"]


def test_an_admin_sets_a_schedule_in_the_admin_and_it_is_ledgered(people, client):
    admin_user = people["admin"]
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save(update_fields=["is_staff", "is_superuser"])
    client.force_login(admin_user)
    answer = client.post(
        "/admin/corrections/drillschedule/add/",
        {"team": "Safety on-call", "every_days": "90", "remind_days_before": "7", "active": "on"},
    )
    assert answer.status_code == 302, answer.content[:500]
    schedule = DrillSchedule.objects.get(team="Safety on-call")
    event = LedgerEvent.objects.get(verb="drill.schedule_set", object_id=str(schedule.pk))
    assert event.after["every_days"] == 90 and event.actor_name == admin_user.username


def test_what_is_in_force_leaves_a_drills_dry_runs_out(start, make_incident, people, actor_for, api_for):
    from corrections.in_force import dashboard_counts, in_force_by_deployment

    real = make_incident()
    for incident in (start().incident, real):
        correction = services.correction_request(
            actor=actor_for(people["responder"]), incident=incident, type="block_accounts", deployment="atlas-api",
            params={"accounts": ["acct-mallory"]}, rationale="x",
        )  # fmt: skip
        Correction.objects.filter(pk=correction.pk).update(state=State.ACTIVE)
        correction.targets.update(state="active")
    shown = api_for(people["leader1"]).get("/api/v1/in-force/").json()
    assert len(shown) == 1 and shown[0]["incident"] == real.ref
    assert dashboard_counts()["total"] == 1
    assert in_force_by_deployment() == {"atlas-api": 1}
