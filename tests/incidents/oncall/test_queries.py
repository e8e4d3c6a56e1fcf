"""The on-call lists cost a fixed number of queries, whatever the number of rotations, members,
shifts and overrides (listed in tests/test_list_queries.py COUNTED_ELSEWHERE)."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from django.utils import timezone

from accounts.roles import Role
from incidents.oncall import services as oncall
from incidents.oncall.services import ShiftPlan

API = "/api/v1"


@pytest.fixture
def grow(make_user, actor_for):
    admin = make_user(Role.ADMIN)
    people: dict[str, list] = {}

    def more(role: Role, n: int) -> None:
        """Add n members to the role's rotation (creating it), and n overrides."""
        people.setdefault(role, [])
        people[role] += [make_user(role) for _ in range(n)]
        members = people[role]
        now = timezone.now()
        from incidents.models import Rotation

        existing = Rotation.objects.filter(role=role).first()
        if role == Role.RESPONDER:  # a custom one: a shift each, back to back
            shifts = [ShiftPlan(u, now + timedelta(days=k), now + timedelta(days=k + 1)) for k, u in enumerate(members)]
            args = {"handoff": "custom", "shifts": shifts}
        else:
            args = {"handoff_weekday": 0, "handoff_time": time(9), "start_date": date(2026, 1, 5)}
        if existing is None:
            rotation = oncall.rotation_create(actor=actor_for(admin), role=role, name=role, members=members, **args)
        else:
            rotation = oncall.rotation_edit(
                actor=actor_for(admin), rotation=existing, name=role, time_zone="UTC",
                handoff=args.pop("handoff", "weekly"), members=members, **args,
            )  # fmt: skip
        base = rotation.overrides.count()
        for k in range(n):
            start = now + timedelta(days=100 + base + k)
            oncall.override_add(
                actor=actor_for(admin), rotation=rotation, user=members[k], starts_at=start,
                ends_at=start + timedelta(hours=1),
            )  # fmt: skip

    return more


@pytest.mark.parametrize("url", ["/oncall/", "/", f"{API}/oncall/", f"{API}/oncall/rotations/"])
def test_on_call_lists_cost_the_same_for_few_and_many(
    url, grow, make_user, client_for, api_for, django_assert_num_queries
):
    viewer = make_user(Role.RESPONDER)
    client = api_for(viewer) if url.startswith(API) else client_for(viewer)
    for role in (Role.RESPONDER, Role.INCIDENT_COMMANDER, Role.LEADERSHIP):
        grow(role, 2)
    client.get(url)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    for role in (Role.RESPONDER, Role.INCIDENT_COMMANDER, Role.LEADERSHIP):
        grow(role, 6)
    with django_assert_num_queries(len(small)):
        response = client.get(url)
    assert response.status_code == 200


def test_the_overrides_list_costs_the_same_for_few_and_many(grow, make_user, api_for, django_assert_num_queries):
    from incidents.models import Rotation

    api = api_for(make_user(Role.AUDITOR))
    grow(Role.LEADERSHIP, 2)
    rotation = Rotation.objects.get(role=Role.LEADERSHIP)
    url = f"{API}/oncall/rotations/{rotation.pk}/overrides/"
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api.get(url)
    with CaptureQueriesContext(connection) as small:
        assert len(api.get(url).json()["results"]) == 2
    grow(Role.LEADERSHIP, 10)
    with django_assert_num_queries(len(small)):
        assert len(api.get(url).json()["results"]) == 12
