"""Every list page and list endpoint costs the same number of queries for 3 rows and for 30, with
and without its filters, under a ceiling (STYLE: "a page costs a fixed number of queries whatever
the data size"). The API lists are found in the OpenAPI schema, so a new one without a count here
fails `test_every_api_list_has_its_query_count_asserted`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.roles import Role
from corrections import services as corrections
from corrections.models import Playbook, PlaybookVersion
from incidents import services as incident_services
from incidents.models import AIModel, Deployment, Incident, Signal

API = "/api/v1"


@pytest.fixture
def world(registry, make_user, make_incident, actor_for):
    """A commander (not leadership: the restricted-incident filter is in play) who can decide tier 3
    requests, an incident their corrections are on, and `grow(n)`, which adds n of every listed thing."""
    viewer = make_user(Role.INCIDENT_COMMANDER, username="viewer")
    requester = make_user(Role.RESPONDER)
    leader = make_user(Role.LEADERSHIP)
    target = make_incident(by=requester, severity="SEV1", title="Bulk target")
    # The dashboard's on-call panel reads rotations, members, shifts and overrides: one query each.
    from datetime import date, time

    from incidents.oncall import services as oncall

    oncall.rotation_create(
        actor=actor_for(leader), role=Role.INCIDENT_COMMANDER, name="Commanders", members=[viewer],
        handoff_weekday=0, handoff_time=time(9), start_date=date(2026, 1, 5),
    )  # fmt: skip
    made = [0]

    def grow(n: int) -> None:
        now = timezone.now()
        serials = list(range(made[0] + 1, made[0] + n + 1))
        made[0] += n
        incidents = Incident.objects.bulk_create(
            Incident(
                ref=f"INC-1997-{s:04d}", title=f"Bulk {s}", summary="Bulk summary.", category="misuse",
                risk_domain="cyber", severity=f"SEV{s % 4 + 1}", status="reported", restricted=s % 5 == 0,
                reporter=requester, commander=viewer if s % 2 else None, reported_at=now - timedelta(minutes=s),
            )
            for s in serials
        )  # fmt: skip
        through = Incident.deployments.through
        through.objects.bulk_create(
            through(incident_id=i.pk, deployment_id=registry[slug].pk)
            for i in incidents
            for slug in ("atlas-api", "atlas-chat")
        )
        Signal.objects.bulk_create(
            Signal(
                source="internal_monitoring", title=f"Spike {s}", deployment=registry["atlas-api"],
                incident=incidents[k] if k % 2 else None, last_seen_at=now - timedelta(minutes=s),
            )
            for k, s in enumerate(serials)
        )  # fmt: skip
        Deployment.objects.bulk_create(
            Deployment(slug=f"bulk-{s}", name=f"Bulk {s}", model=AIModel.objects.first()) for s in serials
        )
        playbooks = Playbook.objects.bulk_create(Playbook(slug=f"bulk-{s}", title=f"Bulk {s}") for s in serials)
        PlaybookVersion.objects.bulk_create(
            PlaybookVersion(playbook=p, number=1, priority=s, steps=["a"], created_by=requester, risk_domains=["cbrn"])
            for p, s in zip(playbooks, serials, strict=True)
        )
        steps = [f"Step {s}" for s in serials]
        incident_services.checklist_add(actor=actor_for(requester), incident=target, steps=steps, source="bulk")
        for k in range(n):
            correction = corrections.correction_request(
                actor=actor_for(requester), incident=target, type="rollback_model",
                deployment="atlas-chat" if k % 2 else "atlas-api", params={"version": "atlas-1.9"}, rationale="x",
            )  # fmt: skip
            if k % 3 == 0:  # approved by leadership already: the approvers' roles are read too
                corrections.correction_approve(
                    actor=actor_for(leader), correction=correction, content_hash=correction.content_hash, comment=""
                )

    return {"viewer": viewer, "target": target, "grow": grow}


def _page(user):
    client = Client()
    client.force_login(user)
    return client


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


INCIDENT_FILTERS = {"q": "bulk", "severity": "SEV2", "category": "misuse", "deployment": "atlas-api"}
CORRECTION_FILTERS = {"type": "rollback_model", "tier": "3", "incident": "{ref}"}

# (client, url, query, ceiling): {ref} is the incident the corrections are on. Every page's header
# counts the inbox: its requests (with their targets) and, since lifts need sign-off, the early lifts
# awaiting a decision; the incident rows carry each deployment's in-force badge.
LISTS = {
    "incident page": (_page, "/incidents/", {}, 14),
    "incident page, filtered": (_page, "/incidents/", {**INCIDENT_FILTERS, "status": "open", "page": "1"}, 15),
    "signal page": (_page, "/signals/", {}, 11),
    "signal page, every state": (_page, "/signals/", {"state": "all"}, 11),
    "approval inbox": (_page, "/approvals/", {}, 10),
    "approval inbox, filtered": (_page, "/approvals/", CORRECTION_FILTERS, 16),
    "dashboard": (_page, "/", {}, 24),  # + the next regulators' deadlines
    "readiness page": (_page, "/readiness/", {}, 11),
    "playbook page": (_page, "/playbooks/", {}, 12),
    "playbook page 2": (_page, "/playbooks/", {"page": "2"}, 12),
    "readiness page, filtered": (_page, "/readiness/", {"model": "atlas", "page": "1"}, 11),
    "API incidents": (_api, f"{API}/incidents/", {}, 5),
    "API incidents, filtered": (_api, f"{API}/incidents/", {**INCIDENT_FILTERS, "status": "reported"}, 6),
    "API signals": (_api, f"{API}/signals/", {}, 4),
    "API signals, filtered": (_api, f"{API}/signals/", {"state": "open"}, 4),
    "API deployments": (_api, f"{API}/deployments/", {}, 4),
    "API correction types": (_api, f"{API}/correction-types/", {}, 1),
    "API readiness": (_api, f"{API}/readiness/", {}, 2),
    "API readiness, filtered": (_api, f"{API}/readiness/", {"model": "atlas"}, 2),
    "API approvals": (_api, f"{API}/approvals/pending/", {}, 6),
    "API approvals, filtered": (_api, f"{API}/approvals/pending/", CORRECTION_FILTERS, 6),
    "API incident corrections": (_api, f"{API}/incidents/{{ref}}/corrections/", {}, 10),
    "API incident corrections, filtered": (
        _api,
        f"{API}/incidents/{{ref}}/corrections/",
        {"state": "pending_approval", "type": "rollback_model"},
        10,
    ),  # fmt: skip
    "API incident timeline": (_api, f"{API}/incidents/{{ref}}/timeline/", {}, 5),
    "API incident checklist": (_api, f"{API}/incidents/{{ref}}/checklist/", {}, 5),
    "API playbooks": (_api, f"{API}/playbooks/", {}, 5),
}

# API lists whose counts are asserted by the tests of the engineer who owns them.
COUNTED_ELSEWHERE = {
    "/api/v1/audit/events/": "tests/incidents/test_scale.py and the audit tests",
    "/api/v1/follow-ups/": "tests/incidents/reviews/test_api.py",
    "/api/v1/incidents/{ref}/review/follow-ups/": "tests/incidents/reviews/test_api.py",
    "/api/v1/reviews/": "tests/incidents/reviews/test_api.py",
    "/api/v1/in-force/": "tests/corrections/test_in_force.py",
    "/api/v1/webhooks/": "tests/incidents/channels/test_webhooks.py (admins only)",
    "/api/v1/oncall/": "tests/incidents/oncall/test_queries.py",
    "/api/v1/oncall/rotations/": "tests/incidents/oncall/test_queries.py",
    "/api/v1/oncall/rotations/{rotation_id}/overrides/": "tests/incidents/oncall/test_queries.py",
    "/api/v1/integrations/": "tests/incidents/test_integrations.py (admins only)",
    "/api/v1/customers/": "tests/corrections/test_customer_notices.py (with the notices page, 3 and 30 customers)",
    "/api/v1/corrections/{id}/notices/": "tests/corrections/test_customer_notices.py (3 and 30 customers)",
    "/api/v1/drills/": "tests/corrections/test_drills.py (with the /drills/ page, for 3 and 30 reports)",
    "/api/v1/deadlines/": "tests/incidents/reporting/test_pages_and_api.py",
    "/api/v1/rule-versions/": "tests/incidents/reporting/test_pages_and_api.py",
    "/api/v1/incidents/{ref}/reports/": "tests/incidents/reports/test_api.py (for 1 and 4 versions)",
    "/api/v1/incidents/{ref}/reports/{regime}/versions/": "tests/incidents/reports/test_api.py (for 1 and 4 versions)",
    "/api/v1/incidents/{ref}/evidence/": "tests/incidents/test_evidence.py (with its page, for 3 and 30 files)",
    "/api/v1/incidents/{ref}/shares/": "tests/incidents/test_sharing.py (with its page, for 3 and 30 shares)",
    "/api/v1/sharing/recipients/": "tests/incidents/test_sharing.py (for 3 and 30 recipients)",
}


@pytest.mark.parametrize("name", list(LISTS))
def test_list_costs_the_same_queries_for_3_and_30_rows(
    world, name, django_assert_num_queries, django_assert_max_num_queries
):
    make_client, url, query, ceiling = LISTS[name]
    ref = world["target"].ref
    url = url.format(ref=ref)
    query = {key: value.format(ref=ref) for key, value in query.items()}
    client = make_client(world["viewer"])
    world["grow"](3)
    client.get(url, query)  # warm the session
    with django_assert_max_num_queries(ceiling) as small:
        response = client.get(url, query)
    assert response.status_code == 200, response.content[:300]
    rows_before = _rows(response)
    assert rows_before, "the list is empty: this would count nothing"

    world["grow"](27)
    with django_assert_num_queries(len(small)):
        response = client.get(url, query)

    assert response.status_code == 200
    if name != "API correction types":  # the catalogue is code, not rows
        assert _rows(response) > rows_before  # more rows shown for the same queries


def _rows(response) -> int:
    """How many rows the response shows (enough to see that the list grew)."""
    if response.get("Content-Type", "").startswith("application/json"):
        body = response.json()
        if isinstance(body, dict):
            body = body.get("results", body.get("items", []))
        return len(body) if isinstance(body, list) else 0
    context = response.context
    if "page" in context:
        return len(context["page"].object_list)
    if "rows" in context:
        return len(context["rows"])
    return len(context["open_incidents"]) + len(context["recent_events"])


def _api_lists() -> set[str]:
    """Every GET operation of the schema whose answer is a list or a page of one."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    lists = set()
    for path, operations in schema["paths"].items():
        answer = operations.get("get", {}).get("responses", {}).get("200", {}).get("content", {})
        shape = next(iter(answer.values()), {}).get("schema", {})
        if shape.get("type") == "array" or shape.get("$ref", "").startswith("#/components/schemas/Paginated"):
            lists.add(path)
    return lists


def test_every_api_list_has_its_query_count_asserted(db):
    counted = {url for _, url, _, _ in LISTS.values() if url.startswith(API)}
    missing = _api_lists() - counted - set(COUNTED_ELSEWHERE)
    assert not missing, f"add these API lists to LISTS in {__name__}: {sorted(missing)}"
