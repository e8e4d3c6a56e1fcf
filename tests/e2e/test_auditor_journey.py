"""The auditor's journey in a real browser (issue 5, acceptance): sign in, find the SEV1
incident, read its history including the approvals, verify the ledger, download the export."""

from __future__ import annotations

import json

import pytest

from accounts.actor import Actor
from accounts.models import LedgerHead
from accounts.roles import Role
from corrections import services as corrections
from incidents import services

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "auditor-pw-2026!"


@pytest.fixture
def sev1_with_approvals(transactional_db, make_user, make_incident, task_sends, assert_dispatched_once):
    """A SEV1 with a decision and a pause that a leader and a commander approved (for real)."""
    responder = make_user(Role.RESPONDER)
    commander, leader = make_user(Role.INCIDENT_COMMANDER), make_user(Role.LEADERSHIP)
    incident = make_incident(title="Model weights copied to an unknown host", severity="SEV1", category="security",
                             by=responder)  # fmt: skip
    services.timeline_entry_add(
        actor=Actor(user=commander, source="web"), incident=incident, kind="decision", body="Pause atlas-api now",
        options_considered="pause; rate limit; wait", rationale="Exfiltration is under way; pausing stops it.",
    )  # fmt: skip
    correction = corrections.correction_request(
        actor=Actor(user=responder, source="web"), incident=incident, type="pause_deployment",
        deployment="atlas-api", params={}, rationale="Stop the exfiltration path.",
    )  # fmt: skip
    for approver in (leader, commander):
        corrections.correction_approve(
            actor=Actor(user=approver, source="web"), correction=correction, content_hash=correction.content_hash
        )
    assert_dispatched_once(correction)  # after commit (the rest: notifications); through the layout, run
    return incident, correction, commander, leader


def test_auditor_finds_the_sev1_reads_its_history_verifies_and_exports(
    app_url, make_user, sev1_with_approvals, sign_in, tmp_path
):
    from playwright.sync_api import expect

    incident, correction, commander, leader = sev1_with_approvals
    make_user(Role.AUDITOR, username="avery", password=PASSWORD)
    head = LedgerHead.objects.get()

    page = sign_in("avery", PASSWORD)
    page.get_by_role("link", name="Audit").click()
    page.get_by_role("link", name="Incidents").last.click()
    page.get_by_label("Ref or title").fill("weights")
    page.get_by_role("button", name="Find").click()
    page.get_by_role("link", name=incident.title).click()

    expect(page.get_by_role("heading", level=1)).to_contain_text(incident.ref)
    story = page.locator(".audit-narrative")
    expect(story).to_contain_text(f"opened {incident.ref}")
    expect(story).to_contain_text("Exfiltration is under way; pausing stops it.")
    expect(story).to_contain_text("requested pause_deployment on atlas-api")
    expect(story).to_contain_text(f"approved correction {correction.pk} as leadership")
    expect(story).to_contain_text(f"approved correction {correction.pk} as incident_commander")
    expect(story.locator(".audit-event", has_text=leader.username)).not_to_have_count(0)
    expect(page.locator(f"#correction-{correction.pk}")).to_contain_text("approved")

    page.get_by_role("link", name="Verify").click()
    page.get_by_role("button", name="Verify now").click()
    result = page.get_by_role("status")
    expect(result).to_contain_text("Intact")
    expect(result).to_contain_text(head.hash)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download JSONL").click()
    exported = tmp_path / "ledger.jsonl"
    download_info.value.save_as(exported)

    records = [json.loads(line) for line in exported.read_text().splitlines()]
    assert records[0]["record"] == "head" and records[0]["head_hash"] == head.hash
    assert records[-1]["record"] == "verification" and records[-1]["ok"] is True
    assert {r["verb"] for r in records[1:-1]} >= {"incident.created", "correction.approval_given",
                                                  "correction.approved"}  # fmt: skip
