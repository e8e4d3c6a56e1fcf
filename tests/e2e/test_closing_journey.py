"""Issue 10's journey in a real browser: the commander tries to resolve with a correction in force
and a request pending and is stopped with a clear message; lifts a tier-3 pause early, which a
leader approves; closes with a recorded exception for the review (none can be published yet); and
reopens the incident with a reason."""

import pytest

from accounts.actor import Actor
from accounts.roles import Role
from corrections import services
from corrections.models import Correction, LiftRequest, State
from incidents import services as incident_services
from incidents.models import ClosingException, Incident, Status

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "closing-pw-2026!"


def test_commander_is_stopped_lifts_with_leadership_closes_by_exception_and_reopens(
    transactional_db, live_server, sign_in, make_user, make_incident, task_sends
):
    from playwright.sync_api import expect

    riley = make_user(Role.RESPONDER, username="riley", password=PASSWORD)
    casey = make_user(Role.INCIDENT_COMMANDER, username="casey", password=PASSWORD)
    lee = make_user(Role.LEADERSHIP, username="lee", password=PASSWORD)
    incident = make_incident(by=riley, severity="SEV1", title="Chat product gives exploit code")
    incident_services.incident_edit(actor=Actor(user=casey, source="web"), incident=incident,
                                    changes={"status": "responding"}, reason="On it.")  # fmt: skip
    pause = services.correction_request(
        actor=Actor(user=riley, source="web"), incident=incident, type="pause_deployment", deployment="atlas-chat",
        params={}, rationale="Pause while the classifier is fixed.",
    )  # fmt: skip
    for who in (casey, lee):
        services.correction_approve(actor=Actor(user=who, source="web"), correction=pause,
                                    content_hash=pause.content_hash)  # fmt: skip
    Correction.objects.filter(pk=pause.pk).update(state=State.ACTIVE)  # as if the worker applied it
    pending = services.correction_request(
        actor=Actor(user=riley, source="web"), incident=incident, type="disable_capability", deployment="atlas-api",
        params={"capability": "code_execution"}, rationale="Also turn off code execution.",
    )  # fmt: skip

    # Resolving is refused: the page says what stands in the way, with links.
    page = sign_in("casey", PASSWORD)
    page.goto(f"{live_server.url}/incidents/{incident.ref}/")
    page.locator("#act-status summary").click()
    page.locator("#act-status").get_by_label("New status").select_option("resolved")
    page.locator("#act-status").get_by_label("Reason", exact=True).fill("Looks fixed.")
    page.locator("#act-status").get_by_role("button", name="Change status").click()
    expect(page.locator("#act-status")).to_contain_text("cannot become resolved yet")
    expect(page.locator("#closing")).to_contain_text(f"#{pending.pk} disable_capability on atlas-api")
    assert Incident.objects.get(pk=incident.pk).status == Status.RESPONDING

    # The pending request is cancelled from its page, reached through the link.
    page.locator("#closing").get_by_role("link", name=f"#{pending.pk} disable_capability on atlas-api").first.click()
    page.locator("#act-cancel summary").click()
    page.locator("#act-cancel").get_by_label("Reason").fill("Pause is enough.")
    page.locator("#act-cancel").get_by_role("button", name="Cancel the request").click()
    expect(page.locator("[data-state]").first).to_have_attribute("data-state", "cancelled")

    # Lifting the tier-3 pause early only asks; a leader approves it from the inbox.
    page.goto(f"{live_server.url}/corrections/{pause.pk}/")
    page.locator("#act-lift").get_by_label("Reason").fill("Classifier fixed and verified.")
    page.locator("#act-lift").get_by_role("button", name="Lift…").click()
    page.get_by_role("button", name="Yes, lift it").click()
    expect(page.locator("#lift-pending")).to_contain_text("Lift awaiting approval")
    expect(page.get_by_role("button", name="Approve lift")).to_have_count(0)
    leader = sign_in("lee", PASSWORD)
    leader.goto(f"{live_server.url}/approvals/")
    expect(leader.locator(".inbox-rows")).to_contain_text("lift awaiting approval")
    leader.get_by_role("link", name="Review").first.click()
    leader.locator("#act-approve_lift").get_by_label("Comment").fill("Verified the fix.")
    leader.get_by_role("button", name="Approve lift").click()
    expect(leader.locator("[data-state]").first).to_have_attribute("data-state", "lifting")
    assert LiftRequest.objects.get(correction=pause).decided_by == lee
    Correction.objects.filter(pk=pause.pk).update(state=State.LIFTED)  # as if the worker lifted it

    # Resolve, then close with an exception for the review.
    page.goto(f"{live_server.url}/incidents/{incident.ref}/")
    page.locator("#act-status summary").click()
    page.locator("#act-status").get_by_label("New status").select_option("resolved")
    page.locator("#act-status").get_by_label("Reason", exact=True).fill("Fixed.")
    page.locator("#act-status").get_by_role("button", name="Change status").click()
    expect(page.locator(".badges")).to_contain_text("Resolved")
    expect(page.locator("#closing")).to_contain_text("Post-incident review unpublished")
    page.locator("#act-status summary").click()
    page.locator("#act-status").get_by_label("New status").select_option("closed")
    page.locator("#act-status").get_by_label("Reason", exact=True).fill("Done.")
    page.locator("#act-status").get_by_label("Exception (commander)").fill("Review is held in the weekly forum.")
    page.locator("#act-status").get_by_role("button", name="Change status").click()
    expect(page.locator("#closing")).to_contain_text("Review is held in the weekly forum.")
    assert Incident.objects.get(pk=incident.pk).status == Status.CLOSED
    assert ClosingException.objects.get().recorded_by == casey

    # Reopen with a reason.
    page.locator("#act-status summary").click()
    page.locator("#act-status").get_by_label("New status").select_option("responding")
    page.locator("#act-status").get_by_label("Reason", exact=True).fill("It recurred on atlas-api.")
    page.locator("#act-status").get_by_role("button", name="Reopen").click()
    expect(page.locator(".badges")).to_contain_text("Responding")
    assert Incident.objects.get(pk=incident.pk).status == Status.RESPONDING
