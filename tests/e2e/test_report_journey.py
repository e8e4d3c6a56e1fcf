"""Issue 13's report journey in a real browser: a SEV1 weight-exfiltration incident shows its GPAI
5-day and SB 53 clocks; the commander files the GPAI code's initial report (pre-filled from the
incident, the rest typed in, recorded as submitted through the AI Office's portal), which meets
the GPAI clock, then an amendment whose diff shows; the auditor downloads both versions as JSON
and the regulator bundle, and every hash verifies."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.actor import Actor
from accounts.roles import Role
from incidents import services as incident_services
from incidents.models.reporting import Clock
from incidents.models.reports import ReportVersion
from incidents.reporting import services as reporting
from incidents.reports import records

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "reports-pw-2026!"
GPAI = "eu_gpai_code"


def test_commander_files_an_initial_report_and_an_amendment_and_the_auditor_downloads_both(
    transactional_db, live_server, sign_in, make_user, make_incident, task_sends, tmp_path, csp_violations
):
    from playwright.sync_api import expect

    riley = make_user(Role.RESPONDER, username="riley", password=PASSWORD)
    casey = make_user(Role.INCIDENT_COMMANDER, username="casey", password=PASSWORD)
    make_user(Role.AUDITOR, username="avery", password=PASSWORD)
    now = timezone.now()
    incident = make_incident(
        by=riley, severity="SEV1", title="Model weights exfiltrated", risk_domain="cyber",
        summary="An attacker copied the weights out of the training cluster.",
        occurred_at=now - timedelta(hours=6), detected_at=now - timedelta(hours=5),
    )  # fmt: skip
    incident_services.incident_assign(actor=Actor(user=casey, source="web"), incident=incident, commander=casey)
    # Reportable under the GPAI code (a serious cybersecurity breach: 5 days) and SB 53 (15 days).
    involved = now - timedelta(hours=4)
    for regime, facts, milestones in (
        (GPAI, {"serious_cybersecurity_breach": True}, {"model_involvement": involved}),
        ("ca_sb53", {"critical_safety_incident": True}, {"discovered": involved}),
    ):
        reporting.assessment_record(
            actor=Actor(user=casey, source="web"), incident=incident, regime=regime, decision="applies",
            reason="", facts=facts, milestones=milestones,
        )  # fmt: skip
    gpai_clock = Clock.objects.get(incident=incident, regime=GPAI, kind="initial")
    assert gpai_clock.due_at == involved + timedelta(days=5)
    assert Clock.objects.get(incident=incident, regime="ca_sb53").due_at == involved + timedelta(days=15)

    # The commander starts the GPAI code's report from the incident page: it comes pre-filled.
    page = sign_in("casey", PASSWORD)
    page.goto(f"{live_server.url}/incidents/{incident.ref}/")
    expect(page.locator(".clock-rows")).to_contain_text("EU GPAI code of practice")
    expect(page.locator(".clock-rows")).to_contain_text("California SB 53")
    page.get_by_role("link", name="Reports to regulators").click()
    page.get_by_label("Regime").select_option(GPAI)
    page.get_by_role("button", name="Start the draft").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("version 1 (draft)")
    expect(page.get_by_label("Title", exact=True)).to_have_value("Model weights exfiltrated")
    expect(page.get_by_label("Description")).to_have_value(
        "An attacker copied the weights out of the training cluster."
    )

    # The rest is typed in and saved.
    page.get_by_label("Incident type").select_option("cybersecurity_breach")
    page.get_by_label("Resulting harm and the affected people or groups").fill("Weights held by an unknown party.")
    page.get_by_label("Chain of events").fill("A stolen credential, then a bulk copy.")
    page.get_by_label("Evidence of the model's involvement").fill("Weight-store access logs.")
    page.get_by_label("What we have done or intend to do").fill("Rotated every credential.")
    page.get_by_label("What we recommend the AI Office or authorities do").fill("Watch for the weights online.")
    page.get_by_label("Submitter and contact").fill("Safety team, safety@example.test")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".notice, .messages").first).to_contain_text("saved")

    # Recorded as submitted through the portal: frozen, hashed.
    page.get_by_label("Sent through").select_option("portal")
    page.get_by_label("Reference").fill("AIO-2026-0042")
    page.get_by_role("button", name="Record as submitted").click()
    expect(page.locator(".report-document")).to_contain_text("Submitted")
    first = ReportVersion.objects.get(number=1)
    assert first.is_submitted and first.channel_reference == "AIO-2026-0042"
    gpai_clock.refresh_from_db()
    assert gpai_clock.state == "met"  # the filed initial report met the GPAI code's 5-day clock
    expect(page.locator(".report-document")).to_contain_text(first.sha256)

    # The amendment: a new version, edited, submitted; its page shows what changed.
    page.get_by_label("Kind").select_option("amended")
    page.get_by_label("Reason").fill("The credential was phished, not stolen.")
    page.get_by_role("button", name="Start version 2").click()
    page.get_by_label("Chain of events").fill("A phished credential, then a bulk copy.")
    page.get_by_role("button", name="Save draft").click()
    page.get_by_label("Sent through").select_option("email")
    page.get_by_label("Reference").fill("ai-office@example.test")
    page.get_by_role("button", name="Record as submitted").click()
    changes = page.locator("#changes")
    expect(changes).to_contain_text("Changes from version 1")
    expect(changes.locator("ins")).to_contain_text(["Amended", "A phished credential"])
    expect(changes.locator("del")).to_contain_text(["Initial", "A stolen credential"])

    # The auditor downloads both versions and the bundle; every hash verifies.
    auditor = sign_in("avery", PASSWORD)
    auditor.goto(f"{live_server.url}/incidents/{incident.ref}/reports/{GPAI}/")
    expect(auditor.get_by_role("button", name="Record as submitted")).to_have_count(0)
    documents = []
    for number in (1, 2):
        with auditor.expect_download() as download_info:
            auditor.locator(".report-versions").get_by_role("link", name="JSON").nth(number - 1).click()
        saved = tmp_path / f"v{number}.json"
        download_info.value.save_as(saved)
        documents.append(json.loads(saved.read_text()))
    assert [d["record"]["kind"] for d in documents] == ["initial", "amended"]
    for document in documents:
        assert records.sha256_of(document["record"]) == document["sha256"] and document["hash_ok"]

    auditor.goto(f"{live_server.url}/audit/incidents/{incident.ref}/")
    with auditor.expect_download() as download_info:
        auditor.get_by_role("link", name="Regulator bundle (JSON)").click()
    saved = tmp_path / "bundle.json"
    download_info.value.save_as(saved)
    bundle = json.loads(saved.read_text())
    assert bundle["reports"]["all_verified"] and bundle["ledger"]["events_hash_ok"]
    assert [v["sha256"] for v in bundle["reports"]["versions"]] == [d["sha256"] for d in documents]

    # The printable page of version 2 (the PDF export is the browser's print of it).
    auditor.goto(f"{live_server.url}/incidents/{incident.ref}/reports/{GPAI}/versions/2/print/")
    expect(auditor.locator("body")).to_contain_text(documents[1]["sha256"])
    assert csp_violations == []
