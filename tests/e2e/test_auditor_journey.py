"""The auditor's journey in a real browser (issue 5, acceptance): sign in, find the SEV1
incident, read its history including the approvals, verify the ledger, download the export."""

from __future__ import annotations

import json
import shutil

import pytest
from django.db import transaction

from accounts.actor import Actor
from accounts.roles import Role
from incidents import ledger, services
from incidents.models import LedgerHead
from tests.conftest import skip_or_fail

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "auditor-pw-2026!"


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        skip_or_fail("Chromium is not installed")
    return path


@pytest.fixture
def sev1_with_approvals(transactional_db, make_user, make_incident):
    """A SEV1 with a decision and a correction that two people approved.

    The correction's events are written as the corrections app writes them (incident_ref set),
    so the narrative shows whatever that app records without incidents importing it.
    """
    commander, leader = make_user(Role.INCIDENT_COMMANDER), make_user(Role.LEADERSHIP)
    incident = make_incident(title="Model weights copied to an unknown host", severity="SEV1", category="security")
    services.timeline_entry_add(
        actor=Actor(user=commander, source="web"), incident=incident, kind="decision", body="Pause atlas-api now",
        options_considered="pause; rate limit; wait", rationale="Exfiltration is under way; pausing stops it.",
    )  # fmt: skip
    with transaction.atomic():
        for user, verb, after in (
            (commander, "correction.requested", {"type": "pause_deployment", "target": "atlas-api"}),
            (commander, "correction.approval_given", {"approver": commander.username}),
            (leader, "correction.approval_given", {"approver": leader.username}),
            (leader, "correction.approved", {"state": "approved"}),
        ):
            ledger.record(actor=Actor(user=user, source="web"), verb=verb, object_type="corrections.correction",
                          object_id="1", incident_ref=incident.ref, after=after)  # fmt: skip
    return incident, commander, leader


def test_auditor_finds_the_sev1_reads_its_history_verifies_and_exports(
    live_server, make_user, sev1_with_approvals, tmp_path
):
    from playwright.sync_api import expect, sync_playwright

    incident, commander, leader = sev1_with_approvals
    make_user(Role.AUDITOR, username="avery", password=PASSWORD)
    head = LedgerHead.objects.get()  # read before the browser starts (no ORM inside its event loop)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        page = browser.new_context(accept_downloads=True).new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill("avery")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()

        page.goto(f"{live_server.url}/audit/incidents/")
        page.get_by_label("Ref or title").fill("weights")
        page.get_by_role("button", name="Find").click()
        page.get_by_role("link", name=incident.title).click()

        expect(page.get_by_role("heading", level=1)).to_contain_text(incident.ref)
        story = page.locator(".audit-narrative")
        expect(story).to_contain_text(f"opened {incident.ref}")
        expect(story).to_contain_text("Exfiltration is under way; pausing stops it.")
        # Each event shows its verb, whatever sentence the corrections app registers for it.
        expect(story.locator(".audit-event", has_text="correction.requested")).to_have_count(1)
        approvals = story.locator(".audit-event", has_text="correction.approval_given")
        expect(approvals).to_have_count(2)
        expect(approvals.nth(1)).to_contain_text(leader.username)
        expect(story.locator(".audit-event", has_text="correction.approved")).to_have_count(1)

        page.get_by_role("link", name="Verify").click()
        page.get_by_role("button", name="Verify now").click()
        result = page.get_by_role("status")
        expect(result).to_contain_text("Intact")
        expect(result).to_contain_text(head.hash)

        with page.expect_download() as download_info:
            page.get_by_role("link", name="Download JSONL").click()
        exported = tmp_path / "ledger.jsonl"
        download_info.value.save_as(exported)
        browser.close()

    records = [json.loads(line) for line in exported.read_text().splitlines()]
    assert records[0]["record"] == "head" and records[0]["head_hash"] == head.hash
    assert records[-1]["record"] == "verification" and records[-1]["ok"] is True
    assert {r["verb"] for r in records[1:-1]} >= {"incident.created", "correction.approved"}
