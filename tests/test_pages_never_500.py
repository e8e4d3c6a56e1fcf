"""Every page, found by walking the URL configuration, answers nonsense with a 4xx or a form
error, never a 500. (Some nonsense is valid input for a lenient form — an empty POST promotes a
signal — so this test asserts only the absence of server errors.)"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.roles import Role
from corrections import services as corrections
from incidents.models import Signal

NONSENSE = [
    {},
    {"status": "exploded", "severity": "SEV0", "reason": "", "kind": "poem", "type": "teleport"},
    {"title": "x" * 100000, "body": "\x00", "occurred_at": "yesterday", "deployments": ["nowhere"]},
    {"otp": "abc", "confirm_target": "", "comment": "", "param_accounts": "", "duration_minutes": "-5"},
]
QUERIES = ["?page=-1", "?page=zz", "?severity=SEV9&status=nope", "?type=teleport", "?since=never", "?before=x"]


def page_routes(patterns=None, prefix=""):
    for p in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(p, URLResolver):
            if p.namespace != "admin":
                yield from page_routes(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            route = prefix + str(p.pattern)
            if not route.startswith("api/") and route not in ("accounts/logout/",):
                yield route


ROUTES = sorted(set(page_routes()))


@pytest.fixture
def world(client, make_user, make_incident, actor_for):
    leader = make_user(Role.LEADERSHIP)
    incident = make_incident(severity="SEV1")
    correction = corrections.correction_request(
        actor=actor_for(make_user(Role.RESPONDER)), incident=incident, type="pause_deployment",
        deployment="atlas-chat", params={}, rationale="x",
    )  # fmt: skip
    signal = Signal.objects.create(source="other", title="s")
    client.force_login(leader)
    values = {"<str:ref>": incident.ref, "<int:pk>": str(correction.pk), "<int:signal_id>": str(signal.pk),
              "<int:seq>": "1"}  # fmt: skip
    return client, values


def concrete(route: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        route = route.replace(placeholder, value)
    assert "<" not in route, f"no test value for a parameter in {route}"
    return "/" + route


@pytest.mark.parametrize("route", ROUTES)
def test_nonsense_never_answers_500(route, world):
    client, values = world
    url = concrete(route, values)
    for query in QUERIES:
        assert client.get(url + query).status_code < 500, (url, query)
    for data in NONSENSE:
        response = client.post(url, data)
        assert response.status_code < 500, (url, data, response.status_code)
