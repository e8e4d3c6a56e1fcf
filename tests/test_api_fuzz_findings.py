"""What the API fuzzer (tests/test_api_fuzz.py) found, one plain test per finding, on any database.

Each answer is checked against the schema the app serves, the way the fuzzer checks it: a documented
status, a documented content type, and a 4xx body in the error format with a `detail` a person reads.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from accounts.roles import Role

API = "/api/v1"


@pytest.fixture
def schema(client, make_user):
    client.force_login(make_user(Role.AUDITOR))
    return client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


@pytest.fixture
def leader(make_user):
    client = APIClient()
    client.force_authenticate(make_user(Role.LEADERSHIP))
    return client


def documented(schema, method: str, path: str) -> dict:
    return schema["paths"][path][method]["responses"]


def assert_error_format(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"].strip()
    assert isinstance(body["code"], str)
    for messages in body.get("errors", {}).values():
        assert isinstance(messages, list) and all(isinstance(m, str) for m in messages), body
    return body


# --- an address under /api/ that no route matches ------------------------------------------------


@pytest.mark.parametrize("path", ["/corrections/-6396/cancel/", "/signals/-1/promote/", "/no-such-endpoint/"])
def test_an_api_address_no_route_matches_answers_a_json_404(leader, path):
    assert_error_format(leader.post(API + path, {}, format="json"), 404)


def test_a_page_address_no_route_matches_still_answers_the_html_404(client, make_user):
    client.force_login(make_user(Role.RESPONDER))

    response = client.get("/no-such-page/")

    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


# --- a page or cursor that does not exist ----------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/deployments/?page=true", "/incidents/?page=0", "/follow-ups/?page=1000000", "/playbooks/?page=-1"]
)
def test_a_page_that_does_not_exist_is_a_400_naming_the_page(leader, url):
    body = assert_error_format(leader.get(API + url), 400)

    assert list(body["errors"]) == ["page"]


def test_every_paginated_list_documents_the_400_of_a_bad_page(schema):
    paginated = [
        (path, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method == "get" and any(p["name"] in ("page", "cursor") for p in operation.get("parameters", []))
    ]

    assert len(paginated) > 10
    assert [path for path, operation in paginated if "400" not in operation["responses"]] == []


def test_a_cursor_the_audit_list_did_not_give_out_is_a_400(client, make_user):
    api = APIClient()
    api.force_authenticate(make_user(Role.AUDITOR))

    body = assert_error_format(api.get(f"{API}/audit/events/?cursor=not-a-cursor"), 400)

    assert list(body["errors"]) == ["cursor"]


# --- validation errors inside lists and objects ----------------------------------------------------


def test_an_error_in_a_list_item_is_a_sentence_naming_the_item(leader, registry):
    body = {"title": "t", "summary": "s", "category": "misuse", "risk_domain": "cyber", "severity": "SEV3",
            "source": "internal_monitoring", "deployments": ["atlas-api", "no-such"]}  # fmt: skip

    errors = assert_error_format(leader.post(f"{API}/incidents/", body, format="json"), 400)["errors"]

    assert errors == {"deployments": ["[1]: Unknown deployment 'no-such'."]}


def test_an_error_in_a_nested_object_is_a_sentence_naming_where(leader, make_user):
    make_user(Role.LEADERSHIP, username="lead-a")
    shift = {"user": "lead-a", "starts_at": "2026-03-02T09:00:00Z", "ends_at": "2026-03-04T09:00:00Z"}
    body = {"role": "leadership", "name": "L", "handoff": "custom", "members": ["lead-a"],
            "shifts": [shift, {"user": "lead-a", "starts_at": "2026-03-04T09:00:00Z"}]}  # fmt: skip

    errors = assert_error_format(leader.post(f"{API}/oncall/rotations/", body, format="json"), 400)["errors"]

    assert errors == {"shifts": ["[1].ends_at: This field is required."]}


# --- an Idempotency-Key that is not one, on a POST without a body ----------------------------------


def test_a_bad_idempotency_key_is_a_documented_400_on_every_idempotent_post(schema):
    keyed = [
        path
        for path, operations in schema["paths"].items()
        if any(p["name"] == "Idempotency-Key" for p in operations.get("post", {}).get("parameters", []))
    ]

    assert "/api/v1/incidents/{ref}/drill-report/" in keyed
    assert [path for path in keyed if "400" not in documented(schema, "post", path)] == []


# --- answers the schema described wrongly ----------------------------------------------------------


def test_an_evidence_download_answers_a_content_type_the_schema_lists(schema, leader, make_incident):
    incident = make_incident()
    upload = SimpleUploadedFile("log.txt", b"a log line\n")
    evidence = leader.post(f"{API}/incidents/{incident.ref}/evidence/", {"file": upload}, format="multipart").json()

    response = leader.get(evidence["download"])

    path = "/api/v1/incidents/{ref}/evidence/{evidence_id}/download/"
    listed = documented(schema, "get", path)["200"]["content"]
    assert response.status_code == 200 and response["Content-Type"].split(";")[0] in listed
    assert {"text/plain", "text/csv", "application/pdf", "image/png"} <= set(listed)


def test_a_rotation_handoff_time_is_documented_as_the_wall_clock_time_it_answers(schema, leader, make_user):
    make_user(Role.LEADERSHIP, username="lead-b")
    body = {"role": "leadership", "name": "L", "members": ["lead-b"], "handoff_weekday": 0, "handoff_time": "09:00",
            "start_date": "2026-03-16"}  # fmt: skip

    answered = leader.post(f"{API}/oncall/rotations/", body, format="json").json()["handoff_time"]

    documented_as = schema["components"]["schemas"]["Rotation"]["properties"]["handoff_time"]
    assert "format" not in documented_as  # OpenAPI's `time` is RFC 3339's, which needs a UTC offset
    assert answered == "09:00:00" and re.match(documented_as["pattern"], answered)


# --- the audit exports' query ----------------------------------------------------------------------


@pytest.fixture
def auditor(make_user):
    client = APIClient()
    client.force_authenticate(make_user(Role.AUDITOR))
    return client


@pytest.mark.parametrize("export", ["export.csv", "export.jsonl"])
def test_a_format_the_export_does_not_have_is_a_400_naming_it(schema, auditor, export):
    response = auditor.get(f"{API}/audit/{export}?format=nonsense")

    assert list(assert_error_format(response, 400)["errors"]) == ["format"]
    assert "format" in {p["name"] for p in schema["paths"][f"/api/v1/audit/{export}"]["get"]["parameters"]}
    assert auditor.get(f"{API}/audit/{export}?format=json").status_code == 200


def test_a_time_with_an_offset_postgresql_cannot_store_filters_in_utc(auditor):
    # Python accepts offsets up to ±23:59; PostgreSQL refused this one with a server error.
    response = auditor.get(f"{API}/audit/events/", {"since": "0304-04-19T14:59:15-18:33"})

    assert response.status_code == 200


@pytest.mark.parametrize("export", ["events/", "export.csv", "export.jsonl"])
def test_a_time_outside_the_calendar_once_in_utc_is_a_400_naming_it(auditor, export):
    response = auditor.get(f"{API}/audit/{export}", {"since": "0001-01-01T00:00:00+10:00"})

    assert list(assert_error_format(response, 400)["errors"]) == ["since"]


def test_config_api_imports_first_in_a_fresh_process():
    # REST_FRAMEWORK names classes in config.api; importing it before rest_framework.views was circular.
    code = "import django; django.setup(); import config.api"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
