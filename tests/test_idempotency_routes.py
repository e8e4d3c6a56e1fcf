"""Every POST of the API honours an Idempotency-Key header, and the schema says so.

Found by walking the URL configuration, so a new endpoint is covered (or this test fails)."""

import pytest
from django.core.management import call_command

from accounts.api.base import IDEMPOTENCY_HEADER, IdempotentPost
from tests.urlwalk import routes

# POST routes that may not take a key, each with its reason (the view's `idempotent = False`).
NOT_IDEMPOTENT = {
    # No user yet to scope a key to, and a replay would mean storing the token in clear.
    "api/v1/auth/token/",
    # The answer carries an integration's new token: a replay would mean storing it in clear.
    "api/v1/integrations/",
    "api/v1/integrations/<int:integration_id>/rotate/",
    # Monitoring systems post with an integration token: no user to scope a key to, and they send
    # none; a repeated delivery changes nothing instead (same alert episode, same signal).
    "api/v1/integrations/alertmanager/",
    "api/v1/integrations/grafana/",
    "api/v1/integrations/generic/",
}

POST_ROUTES = sorted(
    (route, callback.cls)
    for route, callback in routes()
    if route.startswith("api/") and hasattr(getattr(callback, "cls", None), "post")
)


def test_the_walk_finds_the_post_routes():
    assert {"api/v1/incidents/", "api/v1/incidents/<ref:ref>/corrections/", "api/v1/auth/token/"} <= {
        route for route, _ in POST_ROUTES
    }


@pytest.mark.parametrize(("route", "view"), POST_ROUTES, ids=[r for r, _ in POST_ROUTES])
def test_every_api_post_runs_through_the_idempotent_base(route, view):
    assert issubclass(view, IdempotentPost), f"{route}: {view.__name__} must derive from config.api.ApiView"
    if route in NOT_IDEMPOTENT:
        assert view.idempotent is False and not getattr(view.post, "runs_once", False)
    else:
        assert getattr(view.post, "runs_once", False), f"{route}: {view.__name__}.post does not take a key"


@pytest.mark.django_db
def test_the_schema_documents_the_header_and_its_422_on_every_idempotent_post(tmp_path):
    import yaml

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    schema = yaml.safe_load((tmp_path / "schema.yaml").read_text())
    posts = {path: item["post"] for path, item in schema["paths"].items() if "post" in item}
    assert len(posts) == len(POST_ROUTES)
    for path, operation in posts.items():
        headers = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
        if path.replace("{integration_id}", "<int:integration_id>")[1:] in NOT_IDEMPOTENT:
            assert IDEMPOTENCY_HEADER not in headers and "422" not in operation["responses"]
        else:
            assert IDEMPOTENCY_HEADER in headers, path
            assert "422" in operation["responses"], path
    gets = [item["get"] for item in schema["paths"].values() if "get" in item]
    assert all(IDEMPOTENCY_HEADER not in [p["name"] for p in op.get("parameters", [])] for op in gets)
