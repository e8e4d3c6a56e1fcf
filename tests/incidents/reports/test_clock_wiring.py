"""A submitted report meets its regulator's clock: the reports package's hook, wired to reporting."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from incidents.models.reporting import Clock, ClockKind, ClockState
from incidents.reporting import services as reporting
from tests.incidents.reports.conftest import GPAI
from tests.incidents.reports.test_services import _fill_and_submit, _start


def _gpai_clock(incident, people, actor_for) -> Clock:
    reporting.assessment_record(
        actor=actor_for(people["commander"]), incident=incident, regime=GPAI, decision="applies", reason="",
        facts={"serious_cybersecurity_breach": True},
        milestones={"model_involvement": timezone.now() - timedelta(hours=3)},
    )  # fmt: skip
    return Clock.objects.get(incident=incident, regime=GPAI, kind=ClockKind.INITIAL)


def test_filing_the_initial_report_meets_the_initial_clock_and_starts_the_next(exfiltration, people, actor_for):
    incident = exfiltration()
    clock = _gpai_clock(incident, people, actor_for)
    assert clock.state == ClockState.RUNNING
    actor = actor_for(people["commander"])
    _start(actor, incident)
    version = _fill_and_submit(actor, incident)
    clock.refresh_from_db()
    assert clock.state == ClockState.MET and clock.met_at == version.submitted_at
    assert f"v{version.number}" in clock.met_by
    # GPAI: the next intermediate report is now due (every 4 weeks while unresolved).
    assert Clock.objects.filter(incident=incident, regime=GPAI, kind=ClockKind.INTERMEDIATE,
                                state=ClockState.RUNNING).exists()  # fmt: skip


def test_a_report_of_another_regime_meets_no_clock(exfiltration, people, actor_for):
    incident = exfiltration()
    clock = _gpai_clock(incident, people, actor_for)
    actor = actor_for(people["commander"])
    assert reporting.clock_meet_by_report(actor=actor, version=_start(actor, incident, regime="ca_sb53")) is None
    clock.refresh_from_db()
    assert clock.state == ClockState.RUNNING
