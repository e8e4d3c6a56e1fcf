"""Structured logs (accounts.logs): JSON lines carrying the ledger's request id, the user, the
incident and the Celery task id, and never a secret."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.test import Client

from accounts import logs
from accounts.models import ApiToken, LedgerEvent
from accounts.roles import Role


@pytest.fixture
def json_lines():
    """Every record, ours and the libraries', through the production formatter into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter(json=True))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    finally:
        root.removeHandler(handler)


@pytest.mark.django_db
def test_the_request_line_carries_the_ledger_request_id_the_user_and_the_incident(json_lines, make_user, client_for):
    user = make_user(Role.RESPONDER)
    client = client_for(user)
    response = client.post("/incidents/new/", {
        "title": "Logged", "summary": "s", "category": "misuse", "risk_domain": "cyber", "severity": "SEV3",
        "source": "internal_monitoring",
    })  # fmt: skip
    created = LedgerEvent.objects.filter(verb="incident.created").latest("seq")
    assert response["X-Request-ID"] == created.request_id
    ref = created.incident_ref
    detail = client.get(f"/incidents/{ref}/", HTTP_X_REQUEST_ID="trace-abc.123")
    assert detail.status_code == 200
    lines = [line for line in json_lines() if line.get("event") == "request"]
    posted = next(line for line in lines if line["path"] == "/incidents/new/")
    assert posted["request_id"] == created.request_id
    assert posted["user_id"] == user.pk
    viewed = next(line for line in lines if line["path"] == f"/incidents/{ref}/")
    assert viewed["request_id"] == "trace-abc.123"
    assert viewed["incident"] == ref
    assert viewed["route"] == "incident-detail" and viewed["status"] == 200


@pytest.mark.django_db
def test_an_api_token_request_binds_the_token_owner(json_lines, make_user):
    user = make_user(Role.RESPONDER)
    raw = ApiToken.new_key()
    ApiToken.objects.create(user=user, name="t", prefix=raw[: ApiToken.PREFIX_LENGTH], key_hash=ApiToken.hash_key(raw))
    assert Client().get("/api/v1/incidents/", HTTP_AUTHORIZATION=f"Token {raw}").status_code == 200
    line = next(line for line in json_lines() if line.get("event") == "request")
    assert line["user_id"] == user.pk
    assert raw not in json.dumps(json_lines())


@pytest.mark.django_db
def test_secrets_never_reach_a_log_line(json_lines, make_user):
    password = "Correct-Horse-Battery-9917"
    make_user(Role.RESPONDER, username="logged-in-person", password=password)
    client = Client()
    client.post("/accounts/login/", {"username": "logged-in-person", "password": password})
    client.post("/accounts/login/", {"username": "logged-in-person", "password": password + "x"})
    bearer = "ops-bearer-" + "q" * 30
    Client().get("/healthz?token=query-secret-777", HTTP_AUTHORIZATION=f"Bearer {bearer}")
    Client().get("/api/v1/incidents/", HTTP_AUTHORIZATION="Token api-secret-888")
    # A careless caller passing secrets as fields, and Django's own records with the request attached.
    logging.getLogger("failsafe.test").warning(
        "webhook", extra={"webhook_secret": "whsec_leak", "otp_code": "123456", "headers": {"Authorization": "x1"}}
    )
    logs.request_log.info("sign-in", password="pw-leak", totp="654321", code="112233")
    text = "\n".join(json.dumps(line) for line in json_lines())
    for secret in (password, bearer, "query-secret-777", "api-secret-888", "whsec_leak", "123456", "x1",
                   "pw-leak", "654321", "112233"):  # fmt: skip
        assert secret not in text, secret
    assert text.count(logs.REDACTED) >= 6


def test_a_celery_task_binds_its_id_on_every_line_and_unbinds_after(json_lines):
    from celery.signals import task_postrun, task_prerun

    class FakeTask:
        name = "incidents.deliver_notification"

    task_prerun.send(sender=FakeTask, task_id="task-42", task=FakeTask(), args=(), kwargs={})
    logging.getLogger("incidents.delivery").info("sending")
    task_postrun.send(sender=FakeTask, task_id="task-42", task=FakeTask(), args=(), kwargs={}, retval=None)
    logging.getLogger("incidents.delivery").info("after")
    during, after = json_lines()
    assert during["task_id"] == "task-42" and during["task_name"] == "incidents.deliver_notification"
    assert "task_id" not in after


@pytest.mark.parametrize(("secret_key", "expected"), [("k" * 50, "True"), ("", "False")])
def test_json_is_the_production_default_and_console_the_development_one(secret_key, expected):
    import os
    import subprocess
    import sys

    env = {**os.environ, "DJANGO_SECRET_KEY": secret_key}
    env.pop("FAILSAFE_LOG_JSON", None)
    env.pop("DJANGO_DEBUG", None)
    code = "import django; django.setup(); from django.conf import settings; print(settings.FAILSAFE_LOG_JSON)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip().splitlines()[-1] == expected
