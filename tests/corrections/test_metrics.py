"""Correction phases on the metrics page (corrections/metrics.py): request → approved →
enforced → lifted, exact on hand-built corrections, grouped by their incident's severity and
the month they were requested, with the incident's visibility and dismissal rules."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from accounts.roles import Role
from corrections import services
from corrections.models import Correction
from incidents.metrics.selectors import ALL, Cell, MetricFilters, metrics_for
from incidents.models import Incident

JAN, FEB = dt.date(2026, 1, 1), dt.date(2026, 2, 1)
FILTERS = MetricFilters(since=dt.date(2026, 1, 1), until=dt.date(2026, 2, 28))
MIN, HOUR, DAY = 60, 3600, 86400


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture
def requester(make_user):
    return make_user(Role.RESPONDER)


@pytest.fixture
def correction_on(requester, actor_for):
    def make(incident: Incident, *, requested: dt.datetime, **offsets: float | None) -> Correction:
        correction = services.correction_request(
            actor=actor_for(requester), incident=incident, type="pause_deployment", deployment="atlas-chat",
            params={}, rationale="metrics",
        )  # fmt: skip
        times = {
            f"{name}_at": None if offsets.get(name) is None else requested + dt.timedelta(seconds=offsets[name])
            for name in ("approved", "activated", "lifted")
        }
        Correction.objects.filter(pk=correction.pk).update(requested_at=requested, **times)
        return correction

    return make


def phases(user, filters=FILTERS):
    return next(g for g in metrics_for(user=user, filters=filters).groups if g.group.key == "corrections")


@pytest.fixture
def built(make_incident, requester, correction_on):
    reporter = requester  # reports every incident, so is granted the restricted one
    sev1 = make_incident(by=reporter, severity="SEV1")
    sev3 = make_incident(by=reporter, severity="SEV3")
    dismissed = make_incident(by=reporter, severity="SEV1")
    restricted = make_incident(by=reporter, severity="SEV1", restricted=True)
    correction_on(sev1, requested=at(2026, 1, 3), approved=10 * MIN, activated=12 * MIN, lifted=2 * DAY)
    correction_on(sev1, requested=at(2026, 1, 31, 23, 59), approved=30 * MIN, activated=40 * MIN)  # not lifted
    correction_on(sev1, requested=at(2026, 1, 8), approved=20 * MIN)  # approved, never enforced
    correction_on(sev1, requested=at(2026, 1, 9))  # still pending: in no phase
    correction_on(sev3, requested=at(2026, 2, 1, 0, 1), approved=5 * MIN, activated=6 * MIN, lifted=1 * HOUR)
    correction_on(dismissed, requested=at(2026, 1, 4), approved=1 * DAY, activated=2 * DAY)
    correction_on(restricted, requested=at(2026, 1, 5), approved=3 * HOUR, activated=4 * HOUR)
    Incident.objects.filter(pk=dismissed.pk).update(status="dismissed")
    return reporter


def test_correction_phases_are_exact_by_incident_severity_and_request_month(built, make_user):
    m = phases(make_user(Role.LEADERSHIP))

    # SEV1 in January: approvals after 10, 30, 20 min and 3 h (restricted: leadership sees it).
    assert m.cell("approve", "SEV1", JAN).n == 4
    assert m.cell("approve", "SEV1", JAN).p50 == pytest.approx(25 * MIN)
    assert m.cell("approve", "SEV1", JAN).p90 == pytest.approx(30 * MIN + 0.7 * 150 * MIN)
    # Enforced 2, 10 and 60 minutes after approval; the approved-but-never-enforced one is left out.
    assert m.cell("enforce", "SEV1", JAN).n == 3
    assert m.cell("enforce", "SEV1", JAN).p50 == pytest.approx(10 * MIN)
    assert m.cell("request_to_enforce", "SEV1", JAN).p50 == pytest.approx(40 * MIN)
    # Only one SEV1 correction was lifted: after 2 days less 12 minutes in force.
    assert m.cell("in_force", "SEV1", JAN) == Cell(1, 2 * DAY - 12 * MIN, 2 * DAY - 12 * MIN)
    # February (from 00:01 UTC on the 1st): the SEV3 one.
    assert m.cell("request_to_enforce", "SEV3", FEB) == Cell(1, 6 * MIN, 6 * MIN)
    assert m.cell("in_force", ALL, FEB) == Cell(1, 54 * MIN, 54 * MIN)


def test_corrections_of_dismissed_incidents_are_not_counted(built, make_user):
    m = phases(make_user(Role.LEADERSHIP))

    # The dismissed incident's correction took a day to approve; no cell holds it.
    assert m.cell("approve", ALL).n == 5
    assert max(cell.p90 or 0 for (metric, *_), cell in m.cells.items() if metric == "approve") < DAY


def test_corrections_of_a_restricted_incident_count_only_for_those_who_may_see_it(built, make_user):
    outsider = make_user(Role.RESPONDER)

    assert phases(built).cell("approve", "SEV1", JAN).n == 4  # the reporter is granted it
    assert phases(outsider).cell("approve", "SEV1", JAN).n == 3
    client = APIClient()
    client.force_authenticate(outsider)
    cells = client.get("/api/v1/metrics/", {"since": "2026-01-01", "until": "2026-02-28"}).json()["cells"]
    enforce = next(
        c
        for c in cells
        if (c["group"], c["metric"], c["severity"], c["month"]) == ("corrections", "enforce", "SEV1", "all")
    )
    assert enforce["n"] == 2  # 2 and 10 minutes: the restricted incident's 60 minutes is not there
    assert enforce["p90_seconds"] == pytest.approx(2 * MIN + 0.9 * 8 * MIN)


def test_counted_corrections_are_exactly_the_visible_ones_for_every_kind_of_user(built, make_user):
    """The metrics filter visibility through the join (faster); it must be the same rule."""
    from corrections.metrics import corrections_counted_for
    from corrections.selectors import corrections_visible_to

    for user in (
        built,
        make_user(Role.RESPONDER),
        make_user(Role.AUDITOR),
        make_user(Role.LEADERSHIP),
        make_user(None),
    ):
        counted = set(corrections_counted_for(user).values_list("pk", flat=True))
        assert counted == set(corrections_visible_to(user).values_list("pk", flat=True)), user
    assert len(set(corrections_counted_for(make_user(Role.RESPONDER)).values_list("pk", flat=True))) == 6
