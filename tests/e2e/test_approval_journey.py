"""Issue 3's journey in a real browser: a responder requests a pause of atlas-chat on a SEV1;
the incident commander and a leader approve it from their own sessions; it becomes approved.
The requester sees no approve button, and a direct POST from them is refused."""

import re

import pytest

from accounts.models import LedgerEvent
from accounts.roles import Role
from corrections.models import Correction, State

# The evidence gate as production has it: the production layout's web process has no test hook.
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.evidence_gate]
PASSWORD = "approval-pw-2026!"
# Approved, or already taken on by a worker (through the production layout the workers run at once).
APPROVED_OR_TAKEN_ON = re.compile(r"^(approved|queued|applying|active|partly_active)$")


def test_pause_is_requested_then_approved_by_commander_and_leader(
    transactional_db, app_url, sign_in, make_user, make_incident, task_sends, assert_dispatched_once
):
    from playwright.sync_api import expect

    riley = make_user(Role.RESPONDER, username="riley", password=PASSWORD)
    make_user(Role.INCIDENT_COMMANDER, username="casey", password=PASSWORD)
    make_user(Role.LEADERSHIP, username="lee", password=PASSWORD)
    incident = make_incident(by=riley, severity="SEV1", title="Chat product walks users through a nerve agent route")

    # The responder asks for the pause.
    page = sign_in("riley", PASSWORD)
    page.goto(f"{app_url}/incidents/{incident.ref}/")
    page.locator("#request-correction summary").click()
    page.locator("#request-correction").get_by_label("Pause the deployment").check()
    page.locator("#request-correction").get_by_role("button", name="Next: target and parameters").click()
    page.get_by_label("Deployment").select_option("atlas-chat")
    page.get_by_label("Rationale").fill("Live uplift on atlas-chat; pause it while the classifier is fixed.")
    page.get_by_label("Or: why go ahead without one").fill("Nothing to snapshot: the pause itself changes no data.")
    page.get_by_role("button", name="Request correction").click()
    page.get_by_role("button", name="Yes, request it").click()
    expect(page.locator("[data-state]").first).to_have_attribute("data-state", "pending_approval")
    correction = Correction.objects.get()
    assert (
        page.url.rstrip("/").endswith(f"/corrections/{correction.pk}") or f"/corrections/{correction.pk}/" in page.url
    )

    # The requester is offered no approve button, and a forged POST is refused.
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    forged = page.request.post(
        f"{app_url}/corrections/{correction.pk}/approve/",
        form={"comment": "me, myself", "content_hash": correction.content_hash},
        headers={"X-CSRFToken": csrf, "Referer": page.url},
    )
    assert forged.status == 409
    correction.refresh_from_db()
    assert correction.state == State.PENDING_APPROVAL and not correction.approvals.exists()

    # Commander and leader approve, each in their own session, from their inbox.
    for username in ("casey", "lee"):
        approver = sign_in(username, PASSWORD)
        approver.goto(f"{app_url}/approvals/")
        approver.get_by_role("link", name="Review").first.click()
        approver.locator("#act-approve").get_by_label("Comment").fill(f"{username}: approved, pause it.")
        approver.locator("#act-approve").get_by_role("button", name="Approve").click()

    # Approved (the ledger says so once, by the second approver); through the layout a worker has taken it on.
    expect(approver.locator("[data-state]").first).to_have_attribute("data-state", APPROVED_OR_TAKEN_ON)
    correction.refresh_from_db()
    assert APPROVED_OR_TAKEN_ON.match(correction.state)
    approved = LedgerEvent.objects.filter(verb="correction.approved", object_id=str(correction.pk))
    assert approved.count() == 1 and approved.get().actor_name == "lee"
    assert sorted(a.approver.username for a in correction.approvals.all()) == ["casey", "lee"]
    assert_dispatched_once(correction)  # the rest: notification deliveries
