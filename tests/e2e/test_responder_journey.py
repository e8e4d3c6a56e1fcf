"""Issue 2's journey in a real browser: a responder logs an incident, records a decision and
escalates it to SEV1; leadership then finds it at the top of the dashboard."""

import pytest

from accounts.roles import Role

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "journey-pw-2026!"


def test_responder_logs_decides_escalates_and_leader_sees_it_first(
    transactional_db, app_url, sign_in, make_user, make_incident, registry, task_sends
):
    from playwright.sync_api import expect

    make_user(Role.RESPONDER, username="riley", password=PASSWORD)
    make_user(Role.LEADERSHIP, username="lee", password=PASSWORD)
    make_incident(title="Older SEV2 about prompt leaks", severity="SEV2")

    page = sign_in("riley", PASSWORD)
    page.get_by_role("link", name="New incident").first.click()
    page.get_by_label("Title").fill("Model gives working exploit chains for hospital systems")
    page.get_by_label("Summary").fill("Seen by the abuse classifier on atlas-api.")
    page.get_by_label("Category").select_option("misuse")
    page.get_by_label("Risk domain").select_option("cyber")
    page.get_by_label("Source").select_option("internal_monitoring")
    page.get_by_label("SEV3").check()
    page.get_by_label("atlas-api").check()
    page.get_by_role("button", name="Create incident").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Model gives working exploit chains")
    ref = page.url.rstrip("/").rsplit("/", 1)[-1]

    page.locator("#act-entry summary").click()
    page.locator("#act-entry").get_by_label("Decision", exact=True).check()
    page.locator("#act-entry").get_by_label("Note, or what was decided").fill("Block the three abusing accounts now.")
    page.locator("#act-entry").get_by_label("Options considered").fill("Block; rate-limit; watch.")
    page.locator("#act-entry").get_by_label("Rationale").fill("Active harm; blocking is reversible.")
    page.locator("#act-entry").get_by_role("button", name="Add to timeline").click()
    expect(page.locator("#timeline")).to_contain_text("Active harm; blocking is reversible.")

    page.locator("#act-escalate summary").click()
    page.locator("#act-escalate").get_by_label("Raise severity to").select_option("SEV1")
    page.locator("#act-escalate").get_by_label("Reason").fill("Hospitals are named targets.")
    page.locator("#act-escalate").get_by_role("button", name="Escalate").click()
    expect(page.locator(".page-head, header").first).to_be_visible()
    expect(page.locator("body")).to_contain_text("SEV1")

    leader = sign_in("lee", PASSWORD)
    first_open = leader.locator("[data-incident-ref]").first
    expect(first_open).to_have_attribute("data-incident-ref", ref)
    expect(first_open).to_contain_text("SEV1")
