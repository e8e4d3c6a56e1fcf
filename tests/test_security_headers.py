"""A strict Content-Security-Policy on every answer, and nothing a signed-in person sees is
stored by a browser or proxy (issue 8, point 8)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.utils.cache import patch_cache_control
from rest_framework.test import APIClient

from accounts.middleware import NoStoreWhenSignedInMiddleware
from accounts.roles import Role
from accounts.services import api_token_issue

PASSWORD = "headers-pw-2026!"


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def assert_strict(policy: dict[str, list[str]]) -> None:
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert not any("unsafe" in value for values in policy.values() for value in values)


def cache_control(response) -> set[str]:
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part.strip()}


@pytest.fixture
def token_client(make_user, actor_for):
    """An API client that authenticates with a real token, not a session."""
    key = api_token_issue(actor=actor_for(make_user(Role.RESPONDER), source="api"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_page_sends_a_strict_csp(client, make_user):
    client.force_login(make_user(Role.RESPONDER))
    response = client.get("/")
    assert response.status_code == 200
    assert_strict(directives(response))


def test_the_login_page_sends_a_strict_csp(client):
    assert_strict(directives(client.get("/accounts/login/")))


def test_the_api_sends_a_strict_csp(token_client):
    response = token_client.get("/api/v1/incidents/")
    assert response.status_code == 200
    assert_strict(directives(response))


def test_the_api_docs_add_only_data_images_and_no_inline_code(client, make_user):
    client.force_login(make_user(Role.RESPONDER))
    response = client.get("/api/docs/")
    assert response.status_code == 200
    policy = directives(response)
    assert policy.pop("img-src") == ["'self'", "data:"]
    assert_strict(policy)
    html = response.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script on the docs page"
    assert "<style" not in html
    bootstrap = client.get("/api/docs/?script")
    assert bootstrap.status_code == 200
    assert bootstrap["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in bootstrap.content.decode()


def test_a_signed_in_page_is_not_stored(client, make_user):
    client.force_login(make_user(Role.RESPONDER))
    response = client.get("/incidents/")
    assert response.status_code == 200
    assert {"no-store", "private"} <= cache_control(response)


def test_an_api_answer_to_a_token_is_not_stored(token_client):
    response = token_client.get("/api/v1/incidents/")
    assert response.status_code == 200
    assert {"no-store", "private"} <= cache_control(response)


def test_an_api_error_to_a_token_is_not_stored(token_client):
    response = token_client.get("/api/v1/incidents/INC-0000-0000/")
    assert response.status_code == 404
    assert {"no-store", "private"} <= cache_control(response)


def test_the_pages_after_signing_in_are_not_stored(client, make_user):
    make_user(Role.RESPONDER, username="casey", password=PASSWORD)
    landed = client.post("/accounts/login/", {"username": "casey", "password": PASSWORD}, follow=True)
    assert landed.redirect_chain and landed.status_code == 200  # the dashboard
    assert {"no-store", "private"} <= cache_control(landed)
    # (Django's LoginView is never_cache itself; the login page a signed-in person gets stays so.)
    assert {"no-store", "private"} <= cache_control(client.get("/accounts/login/"))


def test_the_api_docs_need_a_signed_in_user(client):
    assert client.get("/api/docs/").status_code in (401, 403)
    assert client.get("/api/docs/?script").status_code in (401, 403)


def test_no_store_replaces_a_public_cache_directive(rf, make_user):
    """A view that marks itself public still answers a signed-in person privately."""

    def public_view(request):
        response = HttpResponse("x")
        patch_cache_control(response, public=True, max_age=600)
        return response

    request = rf.get("/")
    request.user = make_user(Role.RESPONDER)
    directives_sent = cache_control(NoStoreWhenSignedInMiddleware(public_view)(request))
    assert {"no-store", "private"} <= directives_sent
    assert "public" not in directives_sent


def test_static_files_are_cacheable_even_when_signed_in(client, make_user, settings):
    settings.WHITENOISE_USE_FINDERS = True  # serve from static/ without collectstatic
    settings.WHITENOISE_AUTOREFRESH = True
    client.force_login(make_user(Role.RESPONDER))
    response = client.get("/static/css/failsafe.css")
    assert response.status_code == 200
    assert "no-store" not in cache_control(response)


# --- no inline code in our templates, so the policy needs no 'unsafe-inline' -------------------

TEMPLATES_DIR = Path(settings.BASE_DIR) / "templates"
INLINE = {
    "inline <script>": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "<style> element": re.compile(r"<style\b", re.IGNORECASE),
    'style="" attribute': re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "on*= event handler": re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}


def test_the_grep_finds_what_it_looks_for():
    samples = [
        "<script>alert(1)</script>",
        "<style>p{}</style>",
        '<p style="color:red">',
        '<button onclick="go()">',
        '<a href="javascript:go()">',
    ]
    for sample, (what, pattern) in zip(samples, INLINE.items(), strict=True):
        assert pattern.search(sample), what
    assert not any(p.search('<script src="/static/js/progress.js" defer></script>') for p in INLINE.values())


@pytest.mark.parametrize(
    "template", sorted(TEMPLATES_DIR.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES_DIR))
)
def test_templates_have_no_inline_script_style_or_handlers(template):
    text = template.read_text()
    found = [what for what, pattern in INLINE.items() if pattern.search(text)]
    assert not found, f"{template.relative_to(TEMPLATES_DIR)}: {found}; move it to static/css or static/js"
