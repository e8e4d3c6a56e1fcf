"""Schemathesis fuzzes every operation of the schema the app serves at /api/schema/, as each of the
five roles: no answer is a 500, every answer is what the schema documents (status, content type and
body), and every 4xx says what went wrong in a sentence a person can read.

Bounded and repeatable: a fixed number of examples per operation and role, derandomized, no shrinking,
no example database. Each operation gets valid input on real objects (the route walk's, plus a report
draft and a reviewed incident with a follow-up), invalid input on the same objects, and valid input on
made-up path parameters. Each request runs in a savepoint rolled back after it, so every example starts
from the same data whatever the one before it changed. What the fuzzer found is pinned by plain tests in
tests/test_api_fuzz_findings.py, which run on SQLite too.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.roles import Role
from accounts.services import api_token_issue
from incidents import services as incident_services
from incidents.models import Incident
from incidents.reports import services as reports
from incidents.reviews import services as reviews

pytestmark = [pytest.mark.fuzz, pytest.mark.postgres]

# Examples per operation and role, drawn from the three kinds of input above.
EXAMPLES = 10


def error_body_is_readable(ctx, response, case):
    """Every 4xx is in the API's error format: JSON with a `detail` sentence (config.api.exception_handler)."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"{response.status_code} answer is not JSON: {response.text[:200]!r}") from None
    detail = body.get("detail") if isinstance(body, dict) else None
    if not (isinstance(detail, str) and detail.strip()):
        raise AssertionError(f"{response.status_code} answer has no readable `detail`: {response.text[:200]!r}")
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    error_body_is_readable,
]


@pytest.fixture(autouse=True, scope="module")
def _hypothesis_home_outside_the_tree(tmp_path_factory):
    """Hypothesis caches what it learns under ./.hypothesis even without an example database."""
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    set_hypothesis_home_dir(None)


@pytest.fixture
def wsgi_app(db):
    """The app as a server runs it, inside the test's transaction: like Django's test client, it must
    not close the test's connection when each request starts and ends."""
    cache.clear()  # the throttles count per process: each role starts with its own allowance
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def path_values(route_values, make_user, make_incident, actor_for):
    """A real object for each path parameter by name: the route walk's objects, a report draft on its
    incident, and a resolved incident with a review and a follow-up for the review's paths."""
    by_name = {placeholder[1:-1].split(":")[-1]: value for placeholder, value in route_values.items()}
    leader, commander = actor_for(make_user(Role.LEADERSHIP)), make_user(Role.INCIDENT_COMMANDER)
    reports.report_start(actor=leader, incident=Incident.objects.get(ref=by_name["ref"]), regime=by_name["regime"])
    reviewed = make_incident(by=commander)
    incident_services.incident_assign(actor=actor_for(commander), incident=reviewed, commander=commander)
    for status in ("responding", "resolved"):
        incident_services.incident_edit(
            actor=actor_for(commander), incident=reviewed, changes={"status": status}, reason="fuzz"
        )
    reviews.review_start(actor=actor_for(commander), incident=reviewed)
    follow_up = reviews.follow_up_add(
        actor=actor_for(commander), incident=reviewed, title="Add a classifier", owner=commander,
        due_date=timezone.localdate() + timedelta(days=14),
    )  # fmt: skip

    def values(path: str) -> dict[str, str]:
        named = by_name | {"id": by_name["pk"]}
        if "/review/" in path:
            named["ref"] = reviewed.ref
        if path.startswith("/api/v1/follow-ups/"):
            named["id"] = str(follow_up.pk)
        return {name: named[name] for name in re.findall(r"\{([^}]+)\}", path)}

    return values


def fuzz(operation, real: dict[str, str], headers: dict[str, str]) -> tuple[int, str | None]:
    """Up to EXAMPLES requests to one operation, stopping at its first failure: (requests sent, failure)."""
    sent, failures = 0, []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=real),
            operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=real),
            operation.as_strategy(GenerationMode.POSITIVE),
        )
    )
    def example(case):
        nonlocal sent
        if failures:
            return
        # Rolled back after each request: a server error must not abort the test's transaction, and
        # each example starts from the same data.
        savepoint = transaction.savepoint()
        try:
            sent += 1
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            failures.append(str(group))
        except Exception as error:  # e.g. raised while streaming a body, after the status was sent
            failures.append(f"{case.as_curl_command(headers=headers)}\n{error!r}")
        finally:
            transaction.savepoint_rollback(savepoint)

    example()
    return sent, failures[0] if failures else None


@pytest.mark.parametrize("role", list(Role))
def test_every_operation_answers_as_documented(role, wsgi_app, make_user, actor_for, path_values):
    key = api_token_issue(actor=actor_for(make_user(role), "api"))
    headers = {"Authorization": f"Token {key}"}
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/", wsgi_app, headers=headers | {"Accept": "application/vnd.oai.openapi+json"}
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    # The people endpoints (incidents.api.people): assign a commander, grant and revoke access.
    people = {
        "/api/v1/incidents/{ref}/assign/",
        "/api/v1/incidents/{ref}/access/",
        "/api/v1/incidents/{ref}/access/revoke/",
    }
    assert people <= {operation.path for operation in operations}
    failures: dict[str, str] = {}
    calls = 0
    for operation in operations:
        sent, failure = fuzz(operation, path_values(operation.path), headers)
        calls += sent
        if failure:
            failures[operation.label] = failure

    print(f"\n{role}: {len(operations)} operations, {calls} requests, {len(failures)} failing")
    assert not failures, "\n\n".join(f"== {label}\n{text}" for label, text in failures.items())
