"""The interactive API docs work in a real browser under the Content-Security-Policy."""

import pytest

from accounts.roles import Role

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "docs-pw-2026!"


def test_swagger_ui_renders_the_schema_without_csp_violations(transactional_db, live_server, sign_in, make_user):
    from playwright.sync_api import expect

    make_user(Role.RESPONDER, username="dana", password=PASSWORD)
    page = sign_in("dana", PASSWORD)
    page.goto(f"{live_server.url}/api/docs/")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Failsafe API")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    expect(page.get_by_text("/api/v1/incidents/{ref}/", exact=True).first).to_be_visible()

    page.locator(".opblock-summary").first.click()  # an open operation draws more of the UI
    expect(page.locator(".opblock-body").first).to_be_visible()
