"""Every page, found by walking the URL configuration, answers nonsense with a 4xx or a form
error, never a 500. (Some nonsense is valid input for a lenient form — an empty POST promotes a
signal — so this test asserts only the absence of server errors.) Hostile path and query values
(NUL, overlong, not UTF-8, traversal) too: PostgreSQL turns some into server errors that SQLite
does not, so the PostgreSQL CI job runs this file as well."""

import pytest

from accounts.roles import Role
from tests.urlwalk import STRICT_CONVERTERS, concrete, converters_of, hostile_queries, hostile_urls, routes

NONSENSE = [
    {},
    {"status": "exploded", "severity": "SEV0", "reason": "", "kind": "poem", "type": "teleport"},
    {"title": "x" * 100000, "body": "\x00", "occurred_at": "yesterday", "deployments": ["nowhere"]},
    {"otp": "abc", "confirm_target": "", "comment": "", "param_accounts": "", "duration_minutes": "-5"},
]
QUERIES = ["?page=-1", "?page=zz", "?severity=SEV9&status=nope", "?type=teleport", "?since=never", "?before=x"]


# Logout would end the session the rest of the test needs; it has its own tests.
ROUTES = sorted({r for r, _ in routes() if not r.startswith("api/") and r != "accounts/logout/"})


@pytest.mark.parametrize("route", ROUTES)
def test_nonsense_never_answers_500(route, client, make_user, route_values):
    client.force_login(make_user(Role.LEADERSHIP))
    url = concrete(route, route_values)
    for query in QUERIES:
        assert client.get(url + query).status_code < 500, (url, query)
    for data in NONSENSE:
        response = client.post(url, data)
        assert response.status_code < 500, (url, data, response.status_code)


@pytest.mark.parametrize("route", ROUTES)
def test_hostile_path_and_query_values_never_answer_500(route, client, make_user, route_values):
    client.force_login(make_user(Role.LEADERSHIP))
    for url in hostile_urls(route, route_values):
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code < 500, (method, url[:80], response.status_code)
    url = concrete(route, route_values)
    for query in hostile_queries():
        response = client.get(url + query)
        assert response.status_code < 500, (url, query[:80], response.status_code)


def test_every_route_parameter_has_a_strict_converter():
    """A `<str:…>` parameter lets a NUL byte through to the database; use `<ref:…>` or `<int:…>`."""
    loose = {route for route, _ in routes() if set(converters_of(route)) - STRICT_CONVERTERS}
    assert not loose, f"use a strict path converter (config/converters.py) in {sorted(loose)}"


@pytest.mark.postgres
def test_nul_in_a_ref_or_a_search_is_not_a_database_error_on_postgresql(client, make_user, route_values):
    client.force_login(make_user(Role.AUDITOR))
    assert client.get("/incidents/%00/").status_code == 404
    assert client.get("/api/v1/incidents/%00/").status_code == 404
    response = client.get("/audit/incidents/?q=%00")
    assert response.status_code == 400
    assert "Null characters are not allowed." in response.content.decode()
