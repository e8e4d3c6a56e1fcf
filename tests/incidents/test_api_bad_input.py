"""Bad input on every API endpoint: always a 4xx naming the field, never a 500, nothing written.

Each endpoint is described once (its valid body and the kinds of its fields); the cases are
generated from that description: malformed JSON, a list or a scalar instead of an object, wrong
types, unknown enum values, oversized and unstorable strings, nulls, missing fields, unknown
fields, bad references, and bad lookups in the URL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache
from django.db.models import Sum
from rest_framework.test import APIClient

from accounts.models import ApiToken, LedgerEvent
from accounts.roles import Role
from incidents import services
from incidents.models import Incident, Signal, TimelineEntry

API = "/api/v1"
PASSWORD = "correct horse battery staple"
OVERSIZED = "x" * 100_000


@dataclass(frozen=True)
class Endpoint:
    method: str
    url: str  # {ref} and {signal} are filled from the world fixture
    valid: dict[str, Any]
    text: tuple[str, ...] = ()
    enums: tuple[str, ...] = ()
    datetimes: tuple[str, ...] = ()
    booleans: tuple[str, ...] = ()
    deployment_lists: tuple[str, ...] = ()
    deployment_slugs: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    not_blank: tuple[str, ...] = ()
    nullable: tuple[str, ...] = ()


ENDPOINTS = {
    "token": Endpoint(
        "post",
        "/auth/token/",
        {"username": "bot", "password": PASSWORD},
        text=("username", "password"),
        required=("username", "password"),
        not_blank=("username", "password"),
    ),
    "incident_create": Endpoint(
        "post",
        "/incidents/",
        {
            "title": "t",
            "summary": "s",
            "category": "misuse",
            "risk_domain": "cyber",
            "severity": "SEV3",
            "source": "other",
            "deployments": ["atlas-api"],
            "occurred_at": "2024-01-01T00:00:00Z",
            "detected_at": "2024-01-01T00:00:00Z",
            "restricted": False,
        },
        text=("title", "summary"),
        enums=("category", "risk_domain", "severity", "source"),
        datetimes=("occurred_at", "detected_at"),
        booleans=("restricted",),
        deployment_lists=("deployments",),
        required=("title", "category", "risk_domain", "severity"),
        not_blank=("title",),
        nullable=("occurred_at", "detected_at"),
    ),
    "incident_edit": Endpoint(
        "patch",
        "/incidents/{ref}/",
        {
            "title": "t",
            "summary": "s",
            "category": "security",
            "risk_domain": "cbrn",
            "source": "press",
            "deployments": ["atlas-chat"],
            "occurred_at": "2024-01-01T00:00:00Z",
            "detected_at": "2024-01-01T00:00:00Z",
            "severity": "SEV2",
            "status": "triaged",
            "reason": "r",
        },
        text=("title", "summary", "reason"),
        enums=("category", "risk_domain", "source", "severity", "status"),
        datetimes=("occurred_at", "detected_at"),
        deployment_lists=("deployments",),
        not_blank=("title",),
        nullable=("occurred_at", "detected_at"),
    ),
    "incident_escalate": Endpoint(
        "post",
        "/incidents/{ref}/escalate/",
        {"severity": "SEV1", "reason": "r"},
        text=("reason",),
        enums=("severity",),
        required=("reason",),
        not_blank=("reason",),
    ),
    "timeline_add": Endpoint(
        "post",
        "/incidents/{ref}/timeline/",
        {"kind": "decision", "body": "b", "options_considered": "o", "rationale": "r", "occurred_at": None},
        text=("body", "options_considered", "rationale"),
        enums=("kind",),
        datetimes=("occurred_at",),
        required=("kind", "body"),
        not_blank=("body",),
        nullable=("occurred_at",),
    ),
    "signal_ingest": Endpoint(
        "post",
        "/signals/",
        {
            "source": "bug_bounty",
            "title": "t",
            "detail": "d",
            "severity_hint": "SEV2",
            "deployment": "atlas-api",
            "dedup_key": "k",
        },
        text=("title", "detail", "dedup_key"),
        enums=("source", "severity_hint"),
        deployment_slugs=("deployment",),
        required=("source", "title"),
        not_blank=("title",),
        nullable=("deployment",),
    ),
    "signal_promote": Endpoint(
        "post",
        "/signals/{signal}/promote/",
        {"category": "misuse", "risk_domain": "cyber", "severity": "SEV3"},
        enums=("category", "risk_domain", "severity"),
        nullable=("severity",),
    ),
    "signal_dismiss": Endpoint(
        "post",
        "/signals/{signal}/dismiss/",
        {"reason": "r"},
        text=("reason",),
        required=("reason",),
        not_blank=("reason",),
    ),
}

WRONG_TYPES_FOR_TEXT = [12345, 1.5, True, {"a": "b"}, ["x"]]
BAD_TEXT = [OVERSIZED, "\ud800", "nul\x00byte"]
BAD_ENUM = ["BOGUS", "sev1", "", 1, ["SEV1"], {"x": 1}]
BAD_DATETIME = [
    "yesterday",
    12345,
    "2025-02-30T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    {"a": 1},
    "2999-01-01T00:00:00Z",
]
BAD_BOOLEAN = ["yes", "true", 1, {"a": 1}]
BAD_DEPLOYMENT_LIST = [
    "atlas-api",
    {"atlas-api": 1},
    ["no-such-deployment"],
    [1],
    [["atlas-api"]],
    [None],
    ["atlas-api"] * 51,
    ["atlas\x00api"],
    [OVERSIZED],
]
BAD_DEPLOYMENT_SLUG = ["no-such-deployment", 1, ["atlas-api"], {"slug": "atlas-api"}, "atlas\x00api", "not a slug!"]


@dataclass(frozen=True)
class Case:
    endpoint: str
    body: bytes
    field: str | None  # the field the error must name, if any
    status: int = 400
    content_type: str = "application/json"


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()  # ensure_ascii keeps lone surrogates as \\ud800 escapes


def _cases() -> list[Any]:
    params = []

    def add(name: str, label: str, case: Case) -> None:
        params.append(pytest.param(case, id=f"{name}-{label}"))

    for name, ep in ENDPOINTS.items():
        valid = ep.valid

        def changed(field: str, value: Any, valid=valid) -> bytes:
            return _json(valid | {field: value})

        add(name, "malformed-json", Case(name, b"{not json", None))
        add(name, "truncated-json", Case(name, _json(valid)[:-1], None))
        add(name, "json-list", Case(name, _json([valid]), "non_field_errors"))
        add(name, "json-string", Case(name, _json("x"), "non_field_errors"))
        add(name, "json-number", Case(name, b"42", "non_field_errors"))
        add(name, "json-null", Case(name, b"null", "non_field_errors"))
        add(name, "nan", Case(name, b'{"x": NaN}', None))
        add(name, "deeply-nested", Case(name, b"[" * 100_000 + b"]" * 100_000, None))
        add(name, "huge-integer", Case(name, b'{"x": ' + b"9" * 5000 + b"}", None))
        add(name, "not-utf8", Case(name, b'{"title": "\xff\xfe"}', None))
        add(name, "body-too-large", Case(name, _json(valid | {"padding": "x" * 2_000_000}), None, status=413))
        add(
            name,
            "form-encoded",
            Case(name, b"title=x", None, status=415, content_type="application/x-www-form-urlencoded"),
        )
        add(name, "unknown-field", Case(name, changed("no_such_field", "x"), "no_such_field"))
        if ep.required:
            add(name, "empty-body", Case(name, b"", ep.required[0]))
            add(name, "empty-object", Case(name, b"{}", ep.required[0]))
        for field in ep.required:
            add(name, f"{field}-missing", Case(name, _json({k: v for k, v in valid.items() if k != field}), field))
        for field in valid:
            if field not in ep.nullable:
                add(name, f"{field}-null", Case(name, changed(field, None), field))
        for field in ep.not_blank:
            add(name, f"{field}-blank", Case(name, changed(field, ""), field))
        for field in ep.text:
            for i, value in enumerate(WRONG_TYPES_FOR_TEXT + BAD_TEXT):
                add(name, f"{field}-bad-text-{i}", Case(name, changed(field, value), field))
        for field in ep.enums:
            for i, value in enumerate(BAD_ENUM):
                if value == "" and field == "severity_hint":
                    continue  # blank means "no hint"
                add(name, f"{field}-bad-enum-{i}", Case(name, changed(field, value), field))
        for field in ep.datetimes:
            for i, value in enumerate(BAD_DATETIME):
                add(name, f"{field}-bad-datetime-{i}", Case(name, changed(field, value), field))
        for field in ep.booleans:
            for i, value in enumerate(BAD_BOOLEAN):
                add(name, f"{field}-bad-boolean-{i}", Case(name, changed(field, value), field))
        for field in ep.deployment_lists:
            for i, value in enumerate(BAD_DEPLOYMENT_LIST):
                add(name, f"{field}-bad-list-{i}", Case(name, changed(field, value), field))
        for field in ep.deployment_slugs:
            for i, value in enumerate(BAD_DEPLOYMENT_SLUG):
                add(name, f"{field}-bad-slug-{i}", Case(name, changed(field, value), field))
    return params


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()


@pytest.fixture
def world(registry, make_user, make_incident, actor_for):
    responder = make_user(Role.RESPONDER, username="bot", password=PASSWORD)
    incident = make_incident(by=responder)
    signal, _ = services.signal_ingest(actor=actor_for(responder), source="other", title="s", dedup_key="seen")
    client = APIClient()
    client.force_authenticate(user=responder)
    return {"client": client, "ref": incident.ref, "signal": signal.pk, "incident": incident}


def _state(world) -> tuple:
    """Everything a bad request must leave exactly as it was."""
    incident = Incident.objects.get(ref=world["ref"])
    signal = Signal.objects.get(pk=world["signal"])
    return (
        Incident.objects.count(),
        TimelineEntry.objects.count(),
        Signal.objects.count(),
        Signal.objects.aggregate(n=Sum("occurrences"))["n"],
        ApiToken.objects.count(),
        LedgerEvent.objects.count(),
        (incident.title, incident.severity, incident.status, incident.updated_at, incident.occurred_at),
        sorted(incident.deployments.values_list("slug", flat=True)),
        (signal.state, signal.incident_id),
    )


def _send(world, method: str, url: str, body: bytes, content_type: str = "application/json"):
    url = API + url.format(ref=world["ref"], signal=world["signal"])
    return world["client"].generic(method.upper(), url, data=body, content_type=content_type)


def test_each_endpoint_accepts_its_valid_body(world, actor_for):
    """The baseline the bad cases are derived from really is valid (so each case tests one thing)."""
    for name, ep in ENDPOINTS.items():
        if name == "signal_dismiss":  # the promote before it used up the open signal
            actor = actor_for(world["incident"].reporter)
            world["signal"] = services.signal_ingest(actor=actor, source="other", title="t")[0].pk
        response = _send(world, ep.method, ep.url, _json(ep.valid))
        assert response.status_code in {200, 201}, (name, response.json())


@pytest.mark.parametrize("case", _cases())
def test_bad_input_is_refused_with_field_errors_and_writes_nothing(world, case):
    ep = ENDPOINTS[case.endpoint]
    before = _state(world)

    response = _send(world, ep.method, ep.url, case.body, case.content_type)

    assert response.status_code == case.status, response.content[:500]
    body = response.json()
    assert body["code"] and body["detail"]
    if case.field is not None:
        assert case.field in body["errors"], body
    assert _state(world) == before


@pytest.mark.parametrize(
    "method, url, status",
    [
        ("get", "/incidents/INC-1999-9999/", 404),
        ("get", "/incidents/%00/", 404),
        ("get", "/incidents/INC-2026-0001%00/", 404),
        ("get", "/incidents/" + "X" * 300 + "/", 404),
        ("get", "/incidents/%F0%9F%92%A5/", 404),
        ("patch", "/incidents/INC-1999-9999/", 404),
        ("post", "/incidents/INC-1999-9999/escalate/", 404),
        ("get", "/incidents/INC-1999-9999/timeline/", 404),
        ("post", "/incidents/%00/timeline/", 404),
        ("post", "/signals/999999/promote/", 404),
        ("post", "/signals/99999999999999999999999999/promote/", 404),
        ("post", "/signals/9223372036854775808/dismiss/", 404),
        ("post", "/signals/abc/dismiss/", 404),
        ("get", "/incidents/?severity=SEV9", 400),
        ("get", "/incidents/?status=bogus", 400),
        ("get", "/incidents/?category=bogus", 400),
        ("get", "/incidents/?deployment=no-such-deployment", 400),
        ("get", "/incidents/?deployment=atlas%00api", 400),
        ("get", "/incidents/?q=" + "x" * 201, 400),
        ("get", "/incidents/?q=a%00b", 400),
        ("get", "/incidents/?page=abc", 400),
        ("get", "/incidents/?page=0", 400),
        ("get", "/incidents/?page=99999999999999999999", 400),
        ("get", "/signals/?state=bogus", 400),
        ("get", "/signals/?page=abc", 400),
        ("get", "/deployments/?page=-1", 400),
    ],
)
def test_bad_lookups_and_query_parameters_are_4xx(world, method, url, status):
    before = _state(world)
    body = b"{}" if method != "get" else b""

    response = world["client"].generic(method.upper(), API + url, data=body, content_type="application/json")

    assert response.status_code == status, response.content[:300]
    assert _state(world) == before


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_options_and_unsupported_methods_are_never_500(world, name):
    ep = ENDPOINTS[name]
    url = API + ep.url.format(ref=world["ref"], signal=world["signal"])
    before = _state(world)

    assert world["client"].options(url).status_code in {200, 401}
    assert world["client"].delete(url).status_code == 405
    assert world["client"].put(url, {}, format="json").status_code == 405
    assert _state(world) == before
