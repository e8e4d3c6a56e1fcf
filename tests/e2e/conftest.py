"""Browser fixtures: Debian's Chromium driven by Playwright (no downloaded browsers)."""

from __future__ import annotations

import os
import shutil

import pytest
from django.db import connections

from tests.conftest import skip_or_fail

# Playwright's sync API runs an event loop in this thread; our ORM calls in the test body are
# still plain synchronous calls, so Django's async-safety guard does not apply to them.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        skip_or_fail("Chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture
def csp_violations():
    """What Chromium's console said about the Content-Security-Policy during the test."""
    return []


@pytest.fixture
def browser(csp_violations):
    """One headless Chromium for the test; each person gets their own context (cookies).

    Every context listens to the console: a Content-Security-Policy violation (an inline script
    or style, an on* handler, a resource from elsewhere) fails the test when it ends.
    """
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        new_context = instance.new_context

        def new_context_watching_csp(*args, **kwargs):
            context = new_context(*args, **kwargs)
            context.on("console", lambda message: _note_csp_violation(message, csp_violations))
            return context

        instance.new_context = new_context_watching_csp
        try:
            yield instance
        finally:
            instance.close()
            # ORM calls made while Playwright's loop runs use connections of that context; close
            # them here, or the test database cannot be dropped at the end of the session.
            connections.close_all()
    if csp_violations:
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(csp_violations), pytrace=False)


def _note_csp_violation(message, violations: list[str]) -> None:
    if "Content Security Policy" in message.text:
        violations.append(f"{message.location.get('url', '')}: {message.text}")


@pytest.fixture
def sign_in(browser, live_server):
    """sign_in(username, password) -> a page signed in as that person, in their own context."""

    def open_session(username: str, password: str):
        page = browser.new_context(accept_downloads=True).new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server.url}/")
        return page

    return open_session
