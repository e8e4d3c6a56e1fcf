"""Every page, found by walking the URL configuration, answers nonsense with a 4xx or a form
error, never a 500. (Some nonsense is valid input for a lenient form — an empty POST promotes a
signal — so this test asserts only the absence of server errors.)"""

import pytest

from accounts.roles import Role
from tests.urlwalk import concrete, routes

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
