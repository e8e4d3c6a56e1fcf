"""The OpenAPI schema generates cleanly and is served to signed-in users."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.roles import Role


def test_schema_endpoint_serves_the_api_description(client, make_user):
    client.force_login(make_user(Role.AUDITOR))

    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert {"/api/v1/incidents/", "/api/v1/incidents/{ref}/", "/api/v1/signals/", "/api/v1/auth/token/"} <= set(
        schema["paths"]
    )


def test_docs_page_renders(client, make_user):
    client.force_login(make_user(Role.RESPONDER))

    assert client.get("/api/docs/").status_code == 200


@pytest.mark.django_db
def test_schema_validates_without_warnings(tmp_path):
    # --fail-on-warn turns any warning (an unguessable type, an enum clash) into an error.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    assert "/api/v1/incidents/{ref}/timeline/" in (tmp_path / "schema.yaml").read_text()


def test_the_operators_endpoints_are_not_in_the_api_schema(client, make_user):
    client.force_login(make_user(Role.ADMIN))

    paths = set(client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"])

    assert {"/healthz", "/readyz", "/-/metrics"} & paths == set()
    assert all(path.startswith("/api/v1/") for path in paths)
