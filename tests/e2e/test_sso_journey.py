"""Single sign-on in a real browser (issue 14, acceptance): Chromium goes from Failsafe's sign-in
page to the local OpenID provider's own form and back, signed in with the roles its groups give;
a person whose groups give no role sees the "no role" page. The provider is tests/idp, a real
django-oauth-toolkit server in its own process."""

from __future__ import annotations

import pytest

from accounts.models import User
from tests.idp.harness import idp  # noqa: F401 - the session's provider

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def provider(idp, settings, live_server, transactional_db):  # noqa: F811
    for name, value in idp.settings_for_failsafe(FAILSAFE_LOCAL_PASSWORDS=False,
                                                 FAILSAFE_BREAK_GLASS_USERS=["root-admin"]).items():  # fmt: skip
        setattr(settings, name, value)
    idp.register_client(f"{live_server.url}/accounts/sso/callback/", "http://testserver/accounts/sso/callback/")
    return idp


def sign_in_through_the_provider(browser, live_server, username: str):
    page = browser.new_context().new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/incidents/")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    page.wait_for_url("http://127.0.0.1:*/login/**")  # the provider's own form, on its own origin
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("idp-pass-123")
    page.get_by_role("button", name="Continue at Test IdP").click()
    return page


def test_a_responder_signs_in_through_the_provider_and_lands_where_they_were_going(provider, browser, live_server):
    provider.put_user("sam.okafor", groups=["ai-safety-oncall"], first_name="Sam", last_name="Okafor",
                      email="sam@corp.example")  # fmt: skip
    page = sign_in_through_the_provider(browser, live_server, "sam.okafor")
    page.wait_for_url(f"{live_server.url}/incidents/")
    assert page.locator(".who-name").inner_text() == "Sam Okafor"
    assert "responder" in page.locator(".who-roles").inner_text()
    assert set(User.objects.get(username="sam.okafor").groups.values_list("name", flat=True)) == {"responder"}


def test_a_person_without_a_role_sees_the_no_role_page(provider, browser, live_server):
    provider.put_user("mo.marketing", groups=["marketing"])
    page = sign_in_through_the_provider(browser, live_server, "mo.marketing")
    page.wait_for_url(f"{live_server.url}/accounts/sso/callback/**")
    assert page.get_by_role("heading", name="You have no role in Failsafe yet").is_visible()
    assert "#ai-safety-ops" in page.get_by_role("alert").inner_text() + page.content()
    page.goto(f"{live_server.url}/")
    page.wait_for_url(f"{live_server.url}/accounts/login/**")  # no session was opened


def test_the_break_glass_admin_signs_in_with_a_password_when_others_cannot(provider, browser, live_server, make_user):
    make_user("admin", username="root-admin", password="glass-pw-2026!")
    make_user("responder", username="riley", password="riley-pw-2026!")
    page = browser.new_context().new_page()
    page.set_default_timeout(15_000)

    def password_sign_in(username: str, password: str) -> None:
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in", exact=True).click()

    password_sign_in("riley", "riley-pw-2026!")
    assert "Everyone else signs in with Test IdP" in page.get_by_role("alert").inner_text()
    assert page.url.startswith(f"{live_server.url}/accounts/login/")
    password_sign_in("root-admin", "glass-pw-2026!")
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator(".who-name").inner_text() == "root-admin"
