"""API tokens: POST /api/v1/auth/token/ and `Authorization: Token <key>` end to end."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, LedgerEvent
from accounts.roles import Role

TOKEN_URL = "/api/v1/auth/token/"
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()


@pytest.fixture
def api():
    api = APIClient()
    api.default_format = "json"
    return api


@pytest.fixture
def responder(make_user):
    return make_user(Role.RESPONDER, username="ops-bot", password=PASSWORD)


def obtain(api, username="ops-bot", password=PASSWORD, **extra):
    return api.post(TOKEN_URL, {"username": username, "password": password}, **extra)


def test_token_is_returned_once_and_only_its_hash_is_stored(api, responder):
    response = obtain(api)

    assert response.status_code == 200, response.json()
    key = response.json()["token"]
    assert set(response.json()) == {"token"}
    token = ApiToken.objects.get(user=responder)
    assert token.key_hash == ApiToken.hash_key(key)
    assert token.prefix == key[:8]
    assert key not in {token.key_hash, token.prefix, token.name}


def test_token_authenticates_api_requests_end_to_end(api, responder, registry):
    key = obtain(api).json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    listed = api.get("/api/v1/incidents/")
    created = api.post(
        "/api/v1/incidents/",
        {"title": "Via token", "category": "misuse", "risk_domain": "cyber", "severity": "SEV3"},
    )

    assert listed.status_code == 200
    assert created.status_code == 201, created.json()
    assert created.json()["reporter"] == responder.username
    event = LedgerEvent.objects.get(verb="incident.created")
    token = ApiToken.objects.get(user=responder)
    assert (event.source, event.actor_type, event.actor_id) == ("api", "token", str(token.pk))
    assert token.last_used_at is not None


def test_each_request_for_a_token_issues_a_new_one(api, responder):
    first = obtain(api).json()["token"]
    second = obtain(api).json()["token"]

    assert first != second
    assert ApiToken.objects.filter(user=responder).count() == 2


def test_wrong_token_is_401(api, responder):
    api.credentials(HTTP_AUTHORIZATION="Token fs_not-a-real-token")

    response = api.get("/api/v1/incidents/")

    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid or revoked token."


def test_revoked_token_is_401(api, responder):
    key = obtain(api).json()["token"]
    ApiToken.objects.filter(user=responder).update(revoked_at=timezone.now())
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    assert api.get("/api/v1/incidents/").status_code == 401


@pytest.mark.parametrize(
    "username, password", [("ops-bot", "wrong password"), ("nobody-by-this-name", PASSWORD), ("OPS-BOT ", PASSWORD)]
)
def test_bad_credentials_are_400_with_a_clear_message(api, responder, username, password):
    response = obtain(api, username, password)

    assert response.status_code == 400
    assert response.json()["errors"]["non_field_errors"] == ["Unable to sign in with that username and password."]
    assert ApiToken.objects.count() == 0


def test_inactive_user_cannot_obtain_a_token(api, responder):
    responder.is_active = False
    responder.save()

    assert obtain(api).status_code == 400
    assert ApiToken.objects.count() == 0


def test_missing_fields_are_named(api):
    response = api.post(TOKEN_URL, {})

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"username", "password"}


def test_a_stale_authorization_header_does_not_block_getting_a_token(api, responder):
    api.credentials(HTTP_AUTHORIZATION="Token fs_revoked-long-ago")

    assert obtain(api).status_code == 200


def test_token_endpoint_is_throttled_per_client(api, responder):
    # Right passwords: wrong ones would meet the sign-in lockout (tests/accounts/test_lockout.py) first.
    statuses = [obtain(api).status_code for _ in range(10)]
    throttled = obtain(api)

    assert statuses == [200] * 10
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "throttled"
    assert "Retry-After" in throttled
    assert obtain(api, REMOTE_ADDR="10.0.0.2").status_code == 200


def test_forged_forwarded_for_header_does_not_escape_the_throttle(api, responder):
    for n in range(10):
        assert obtain(api, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code == 200

    assert obtain(api, HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 429


def test_issuing_a_token_is_a_ledger_event_without_the_key(client, make_user):
    from accounts.models import LedgerEvent

    make_user("responder", username="tok", password="pw-123456!")
    key = client.post("/api/v1/auth/token/", {"username": "tok", "password": "pw-123456!"},
                      content_type="application/json").json()["token"]  # fmt: skip
    event = LedgerEvent.objects.get(verb="accounts.api_token_issued")
    assert event.actor_name == "tok" and event.source == "api"
    assert event.after == {"prefix": key[:8]}
    assert key not in str(event.after)
