"""Browser fixtures: Debian's Chromium driven by Playwright (no downloaded browsers).

The browser talks to `app_url`: pytest-django's live_server normally, or, with
FAILSAFE_E2E_LAYOUT=1 (.ci/run), the production layout — the Procfile run by `python -m config.procfile`
with gunicorn (2 workers), 2 Celery workers, beat and the gateway, DEBUG off — on the test
database and REDIS_URL. Through the layout, tasks go to the real broker and the layout's workers
run them (the tests are marked real_broker), so the journeys check what those workers did.
"""

from __future__ import annotations

import os
import shutil

import pytest
from django.db import connection, connections

from tests.conftest import skip_or_fail
from tests.e2e.stack import Layout, database_url, wait_for

# Playwright's sync API runs an event loop in this thread; our ORM calls in the test body are
# still plain synchronous calls, so Django's async-safety guard does not apply to them.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

LAYOUT = os.environ.get("FAILSAFE_E2E_LAYOUT", "") not in ("", "0", "false")
DISPATCH_TASK = "corrections.dispatch_outbox_entry"

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


def pytest_collection_modifyitems(items):
    if not LAYOUT:
        return
    for item in items:
        if "app_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.real_broker)


@pytest.fixture(scope="session")
def production_layout(django_db_setup, django_db_blocker, tmp_path_factory):
    """The Procfile layout on the test database; stopped before pytest-django drops that database."""
    from django.conf import settings

    if connection.vendor != "postgresql":
        skip_or_fail("the production layout needs PostgreSQL (set DATABASE_URL=postgres://...)")
    if not settings.REDIS_URL.startswith("redis://"):
        skip_or_fail("the production layout needs Redis (set REDIS_URL=redis://...)")
    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    layout = Layout(workdir=tmp_path_factory.mktemp("layout"), database_url=url, redis_url=settings.REDIS_URL)
    layout.start()
    try:
        yield layout
    finally:
        layout.stop()
        print(f"\nThe production layout's output: {layout.log}")


@pytest.fixture(autouse=True)
def _layout_password_hashing(_fast_password_hashing, settings):
    """The layout's web process checks passwords with the production hashers, not the tests' fast one."""
    if LAYOUT:
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]


@pytest.fixture
def app_url(request) -> str:
    """Where the browser goes: the production layout's gunicorn (FAILSAFE_E2E_LAYOUT=1) or live_server."""
    if LAYOUT:
        return request.getfixturevalue("production_layout").web_url
    return request.getfixturevalue("live_server").url


@pytest.fixture
def assert_dispatched_once(task_sends):
    """assert_dispatched_once(correction): its approval sent one dispatch (notifications aside).

    In-process, the sends recorded in task_sends. Through the layout, the web process sent to the
    real broker and a layout worker ran it: exactly one outbox entry, finished (waited for).
    """
    from corrections.models import OutboxEntry

    def check(correction) -> None:
        if not LAYOUT:
            assert [name for name, *_ in task_sends if name.startswith("corrections.")] == [DISPATCH_TASK]
            return
        entries = OutboxEntry.objects.filter(correction=correction)
        wait_for(lambda: entries.exists() and not entries.filter(done_at=None).exists(), timeout=30, interval=0.2,
                 what=f"a layout worker to run the dispatch of correction {correction.pk}")  # fmt: skip
        assert entries.count() == 1
        assert entries.get().send_count >= 1

    return check


@pytest.fixture
def sign_in(browser, app_url):
    """sign_in(username, password) -> a page signed in as that person, in their own context."""

    def open_session(username: str, password: str):
        page = browser.new_context(accept_downloads=True).new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{app_url}/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{app_url}/")
        return page

    return open_session
