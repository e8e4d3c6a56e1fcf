"""Issue 10's journey in a real browser: the commander tries to resolve with a correction in force
and a request pending and is stopped with a clear message; lifts a tier-3 pause early, which a
leader approves; resolves; a participant drafts the post-incident review with two follow-up
actions, a leader approves that version (SEV1), the commander is refused closing before it is
published, publishes it and closes with no exception; and reopens the incident with a reason."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.actor import Actor
from accounts.roles import Role
from corrections import services
from corrections.models import Correction, LiftRequest, State
from incidents import services as incident_services
from incidents.models import ClosingException, Incident, Status
from incidents.models.reviews import FollowUpAction, ReviewApproval, ReviewVersion

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "closing-pw-2026!"


def change_status(page, status: str, reason: str) -> None:
    """The incident page's status form, with no closing exception."""
    form = page.locator("#act-status")
    form.locator("summary").click()
    form.get_by_label("New status").select_option(status)
    form.get_by_label("Reason", exact=True).fill(reason)
    form.get_by_role("button", name="Change status").click()


def test_commander_is_stopped_lifts_with_leadership_publishes_the_review_closes_and_reopens(
    transactional_db, live_server, sign_in, make_user, make_incident, task_sends
):
    from playwright.sync_api import expect

    riley = make_user(Role.RESPONDER, username="riley", password=PASSWORD)
    casey = make_user(Role.INCIDENT_COMMANDER, username="casey", password=PASSWORD)
    lee = make_user(Role.LEADERSHIP, username="lee", password=PASSWORD)
    incident = make_incident(by=riley, severity="SEV1", title="Chat product gives exploit code")
    incident_services.incident_assign(actor=Actor(user=casey, source="web"), incident=incident, commander=casey)
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
    change_status(page, "resolved", "Looks fixed.")
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

    # Resolve: now only the unpublished review stands in the way of closing.
    page.goto(f"{live_server.url}/incidents/{incident.ref}/")
    change_status(page, "resolved", "Fixed.")
    expect(page.locator(".badges")).to_contain_text("Resolved")
    expect(page.locator("#closing")).to_contain_text("Post-incident review unpublished")

    # A participant (the reporter) starts the review from the incident page and drafts it.
    writer = sign_in("riley", PASSWORD)
    writer.goto(f"{live_server.url}/incidents/{incident.ref}/")
    writer.locator("#review").get_by_role("link", name="Start the review").click()
    writer.get_by_role("button", name="Start the review").click()
    expect(writer.locator(".badges")).to_contain_text("version 1 · draft")
    writer.get_by_role("link", name="Edit the draft").click()
    writer.get_by_label("Summary").fill("The chat product answered requests for exploit code.")
    writer.get_by_label("Root cause").fill("A classifier threshold was loosened in the last release.")
    writer.get_by_label("Lessons").fill("Threshold changes need a red-team pass before release.")
    writer.get_by_role("button", name="Save draft").click()
    expect(writer.locator("#section-root_cause")).to_contain_text("classifier threshold was loosened")

    # Two follow-up actions, each with an owner and a due date.
    soon, later = (timezone.localdate() + timedelta(days=days) for days in (14, 28))
    for title, owner, due in (("Add a red-team gate to threshold changes", "casey", soon.isoformat()),
                              ("Alert on classifier threshold drift", "riley", later.isoformat())):  # fmt: skip
        add = writer.locator("#add-follow-up")
        add.locator("summary").click()
        add.get_by_label("Title").fill(title)
        add.get_by_label("Owner").select_option(label=owner)
        add.get_by_label("Due date").fill(due)
        add.get_by_role("button", name="Add").click()
        expect(writer.locator("#follow-ups")).to_contain_text(title)
    expect(writer.locator("#follow-ups-heading .count")).to_have_text("2")
    expect(writer.locator(".follow-up-overdue")).to_have_count(0)
    actions = FollowUpAction.objects.filter(review__incident=incident).order_by("due_date")
    assert [(a.owner.username, a.due_date) for a in actions] == [
        ("casey", soon), ("riley", later)
    ]  # fmt: skip

    # SEV1: a leader approves this exact version.
    leader.goto(f"{live_server.url}/incidents/{incident.ref}/review/")
    leader.locator("#approve").get_by_label("Comment").fill("Root cause and actions are right.")
    leader.get_by_role("button", name="Approve version 1").click()
    expect(leader.locator(".messages")).to_contain_text("Approved: the commander may now publish this version.")
    approval = ReviewApproval.objects.get()
    assert approval.approver == lee and approval.voided_at is None

    # Closing before publishing is refused, naming the unpublished review; nothing is recorded.
    page.goto(f"{live_server.url}/incidents/{incident.ref}/")
    change_status(page, "closed", "Done.")
    expect(page.locator("#act-status")).to_contain_text("cannot become closed yet")
    expect(page.locator("#act-status")).to_contain_text("Post-incident review unpublished")
    assert Incident.objects.get(pk=incident.pk).status == Status.RESOLVED
    assert not ClosingException.objects.exists()

    # The commander publishes the approved version.
    page.locator("#review").get_by_role("link", name="Open").click()
    page.get_by_role("button", name="Publish version 1").click()
    expect(page.locator(".badges")).to_contain_text("version 1 · published")
    expect(page.locator(".review-snapshot li")).to_have_count(2)
    assert ReviewVersion.objects.get(review__incident=incident).published_by == casey

    # Close, with no exception: nothing stands in the way any more.
    page.goto(f"{live_server.url}/incidents/{incident.ref}/")
    expect(page.locator("#closing")).to_have_count(0)
    change_status(page, "closed", "Review published; follow-ups tracked.")
    expect(page.locator(".badges")).to_contain_text("Closed")
    assert Incident.objects.get(pk=incident.pk).status == Status.CLOSED
    assert not ClosingException.objects.exists()

    # Reopen with a reason.
    page.locator("#act-status summary").click()
    page.locator("#act-status").get_by_label("New status").select_option("responding")
    page.locator("#act-status").get_by_label("Reason", exact=True).fill("It recurred on atlas-api.")
    page.locator("#act-status").get_by_role("button", name="Reopen").click()
    expect(page.locator(".badges")).to_contain_text("Responding")
    assert Incident.objects.get(pk=incident.pk).status == Status.RESPONDING
