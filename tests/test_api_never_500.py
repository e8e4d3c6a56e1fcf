"""Every API endpoint, found by walking the URL configuration, answers bad bodies and bad
queries with a 4xx, never a 500, and writes nothing. New endpoints are covered automatically."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from accounts.roles import Role
from corrections import services as corrections
from incidents.models import LedgerEvent, Signal

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


def api_routes(patterns=None, prefix=""):
    for p in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(p, URLResolver):
            yield from api_routes(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern) and (prefix + str(p.pattern)).startswith("api/v1/"):
            yield prefix + str(p.pattern)


ROUTES = sorted(set(api_routes()))


@pytest.fixture
def world(make_user, make_incident, actor_for):
    leader = make_user(Role.LEADERSHIP)
    incident = make_incident(severity="SEV1")
    correction = corrections.correction_request(
        actor=actor_for(make_user(Role.RESPONDER)), incident=incident, type="pause_deployment",
        deployment="atlas-chat", params={}, rationale="x",
    )  # fmt: skip
    signal = Signal.objects.create(source="other", title="s")
    client = APIClient()
    client.force_authenticate(leader)
    return client, {"<str:ref>": incident.ref, "<int:pk>": str(correction.pk), "<int:signal_id>": str(signal.pk)}


def concrete(route: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        route = route.replace(placeholder, value)
    assert "<" not in route, f"no test value for a parameter in {route}"
    return "/" + route


@pytest.mark.parametrize("route", ROUTES)
def test_bad_bodies_and_queries_never_answer_500_nor_write(route, world):
    client, values = world
    url = concrete(route, values)
    events = LedgerEvent.objects.count()
    for query in BAD_QUERIES:
        assert client.get(url + query).status_code < 500, (url, query)
    for method in ("post", "patch", "put"):
        for body in BAD_BODIES:
            response = getattr(client, method)(url, body, content_type="application/json")
            assert response.status_code < 500, (method, url, body[:40], response.status_code)
            assert response.status_code >= 400, (method, url, body[:40], response.status_code)
    assert LedgerEvent.objects.count() == events
