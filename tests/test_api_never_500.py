"""Every API endpoint, found by walking the URL configuration, answers bad bodies and bad
queries with a 4xx, never a 500, and writes nothing. New endpoints are covered automatically."""

import pytest
from rest_framework.test import APIClient

from accounts.models import LedgerEvent
from accounts.roles import Role
from tests.urlwalk import concrete, hostile_queries, hostile_urls, routes

BAD_BODIES = [
    b"{not json",
    b"[]",
    b'"a string"',
    b"null",
    b'{"type": ["x"], "reason": {"a": 1}, "comment": 5, "params": "x", "severity": true, "body": null}',
    b"[" * 5000 + b"]" * 5000,
    b'{"reason": "' + b"x" * 50000 + b'"}',
    b'{"reason": "\\ud800"}',
]
BAD_QUERIES = ["?page=-1", "?page=abc", "?severity=SEV9", "?since=yesterday", "?cursor=%00", "?q=" + "x" * 5000]


ROUTES = sorted({route for route, _ in routes() if route.startswith("api/v1/")})


@pytest.mark.parametrize("route", ROUTES)
def test_bad_bodies_and_queries_never_answer_500_nor_write(route, make_user, route_values):
    client = APIClient()
    client.force_authenticate(make_user(Role.LEADERSHIP))
    url = concrete(route, route_values)
    events = LedgerEvent.objects.count()
    for query in BAD_QUERIES:
        assert client.get(url + query).status_code < 500, (url, query)
    for method in ("post", "patch", "put"):
        for body in BAD_BODIES:
            response = getattr(client, method)(url, body, content_type="application/json")
            assert response.status_code < 500, (method, url, body[:40], response.status_code)
            assert response.status_code >= 400, (method, url, body[:40], response.status_code)
    assert LedgerEvent.objects.count() == events


@pytest.mark.parametrize("route", ROUTES)
def test_hostile_path_and_query_values_never_answer_500_nor_write(route, make_user, route_values):
    client = APIClient()
    client.force_authenticate(make_user(Role.LEADERSHIP))
    events = LedgerEvent.objects.count()
    for url in hostile_urls(route, route_values):
        for method in ("get", "post"):
            response = getattr(client, method)(url, {}, format="json")
            assert response.status_code < 500, (method, url[:80], response.status_code)
    url = concrete(route, route_values)
    for query in hostile_queries():
        response = client.get(url + query)
        assert response.status_code < 500, (url, query[:80], response.status_code)
    assert LedgerEvent.objects.count() == events
