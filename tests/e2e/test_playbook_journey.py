"""Issue 12's playbook journey in a real browser over real processes: a responder opens a CBRN
incident, the CBRN playbook's checklist appears, the recommended disable_capability is requested in
one click with its parameters filled, a commander approves it, the worker applies it and the sandbox
gateway enforces it at /v1/generate; the responder's checklist ticks are on the timeline.

Redis, gunicorn and a Celery worker run as separate processes on the pytest-django PostgreSQL test
database (tests/e2e/stack.py); the browser talks to that gunicorn, not to a live_server thread.
"""

from __future__ import annotations

import shutil

import pytest
from django.db import connection

from accounts.actor import Actor
from accounts.roles import Role
from corrections import services
from corrections.models import Correction, State
from corrections.playbooks import services as playbooks
from incidents.models import CustomerAccount
from tests.conftest import CBRN_PLAYBOOK, skip_or_fail
from tests.corrections.gateway_fixture import start_gateway
from tests.e2e.stack import Stack, database_url, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.real_broker, pytest.mark.slow]
PASSWORD = "playbook-pw-2026!"


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, tmp_path_factory):
    if connection.vendor != "postgresql":
        skip_or_fail("the playbook journey needs PostgreSQL (set DATABASE_URL=postgres://...)")
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed")
    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    running = Stack(workdir=tmp_path_factory.mktemp("playbook-stack"), database_url=url)
    try:
        running.start_redis()
        running.start_web()
        running.start_worker()
        yield running
    finally:
        running.stop_all()


@pytest.fixture
def gateway(transactional_db, tmp_path, registry):
    running = start_gateway(tmp_path / "sandbox")
    setup = Actor.system("e2e_setup", source="command")
    for slug in ("atlas-api", "atlas-chat"):
        services.actuator_configure(
            actor=setup, deployment=registry[slug], base_url=running.base_url, secret=running.secret,
            connect_timeout_seconds=1.0, read_timeout_seconds=10.0,
        )  # fmt: skip
    try:
        yield running
    finally:
        running.stop()


def _sign_in(browser, base_url: str, username: str):
    page = browser.new_context().new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/")
    return page


def test_cbrn_incident_gets_its_checklist_and_the_recommended_correction_is_enforced(
    stack, gateway, browser, make_user, actor_for, settings
):
    from playwright.sync_api import expect

    # The web process checks passwords with the production hashers, not the tests' fast one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    make_user(Role.RESPONDER, username="riley", password=PASSWORD)
    make_user(Role.INCIDENT_COMMANDER, username="casey", password=PASSWORD)
    author = make_user(Role.INCIDENT_COMMANDER, username="author", password=PASSWORD)
    for account_id, tier in (("acct-alice", "verified"), ("acct-bob", "standard"), ("acct-mallory", "free")):
        CustomerAccount.objects.create(account_id=account_id, tier=tier)
    playbooks.playbook_create(actor=actor_for(author), slug="cbrn-uplift", data=CBRN_PLAYBOOK)  # not pre-authorised
    assert gateway.generate("alice", tools=["tool_use"], deployment="atlas-api").status_code == 200

    # The responder opens a CBRN incident: the playbook's checklist appears on it.
    page = _sign_in(browser, stack.web_url, "riley")
    page.get_by_role("link", name="New incident").first.click()
    page.get_by_label("Title").fill("Agent mode walks users through a toxin synthesis via the lab tool")
    page.get_by_label("Summary").fill("Red team reproduced it three times on atlas-api with tools on.")
    page.get_by_label("Category").select_option("dangerous_capability")
    page.get_by_label("Risk domain").select_option("cbrn")
    page.get_by_label("Source").select_option("red_team")
    page.get_by_label("SEV2").check()
    page.get_by_label("atlas-api").check()
    page.get_by_role("button", name="Create incident").click()
    expect(page.locator("#playbook")).to_contain_text("CBRN uplift via a tool")
    checklist = page.locator("#checklist")
    expect(checklist).to_contain_text("Preserve the transcripts")
    expect(checklist.locator(".checklist-progress")).to_have_text("0/3")
    incident_url = page.url

    # Ticks, with who and when.
    checklist.locator(".checklist-item").nth(0).get_by_role("button", name="Tick").click()
    expect(page.locator("#checklist .checklist-progress")).to_have_text("1/3")
    expect(page.locator("#checklist .checklist-item").nth(0)).to_contain_text("ticked by")

    # One click from the recommendation to the request form, its parameters filled in.
    page.locator('#playbook [data-request-type="disable_capability"]').click()
    expect(page.get_by_label("Capability")).to_have_value("tool_use")
    expect(page.get_by_label("Deployment")).to_have_value("atlas-api")
    expect(page.get_by_label("Duration in minutes")).to_have_value("4320")
    expect(page.get_by_label("Rationale")).to_contain_text("Recommended by playbook cbrn-uplift v1")
    # The stack has no reportability assessment: the evidence gate asks for a snapshot or a reason.
    page.get_by_label("Or: why go ahead without one").fill("Tool use is the uplift path; no state to snapshot.")
    page.get_by_role("button", name="Request correction").click()
    page.get_by_role("button", name="Yes, request it").click()
    expect(page.locator("[data-state]").first).to_have_attribute("data-state", "pending_approval")
    correction = Correction.objects.get()
    assert (correction.type, correction.params, correction.tier) == (
        "disable_capability",
        {"capability": "tool_use"},
        2,
    )

    # The normal sign-off applies: a commander approves it from their inbox.
    approver = _sign_in(browser, stack.web_url, "casey")
    approver.goto(f"{stack.web_url}/approvals/")
    approver.get_by_role("link", name="Review").first.click()
    approver.locator("#act-approve").get_by_label("Comment").fill("Per the CBRN playbook.")
    approver.locator("#act-approve").get_by_role("button", name="Approve").click()

    # The worker applies it; the gateway now refuses tool use on atlas-api, naming the capability.
    def enforced():
        answer = gateway.generate("alice", tools=["tool_use"], deployment="atlas-api")
        return answer.status_code == 403 and answer.json()

    refused = wait_for(enforced, timeout=30, interval=0.2, what="the gateway to refuse tool use")
    assert refused == {"error": "capability_disabled", "capability": "tool_use"}
    assert gateway.generate("alice", tools=["browsing"], deployment="atlas-api").status_code == 200
    wait_for(lambda: Correction.objects.get().state == State.ACTIVE, timeout=30, what="the correction to be active")

    # The tick is on the incident's timeline, by name.
    page.goto(incident_url)
    expect(page.locator("#timeline")).to_contain_text("ticked “Preserve the transcripts” on the checklist (1/3)")
    expect(page.locator("#timeline")).to_contain_text("playbook cbrn-uplift v1")
