"""Every regime's deadlines from the seeded rule versions, with a frozen `now` (issue 13 acceptance)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from accounts.models import LedgerEvent
from config.errors import DomainError
from incidents.models import Incident
from incidents.models.reporting import Clock, RuleVersion
from incidents.reporting import rules, services
from tests.incidents.reporting.conftest import utc

ART73, GPAI, SB53, RAISE = "eu_ai_act_art73", "eu_gpai_code", "ca_sb53", "ny_raise"
AWARE = utc(2026, 9, 1, 9, 0)


def running(incident, regime):
    return list(Clock.objects.filter(incident=incident, regime=regime, state="running").order_by("due_at"))


# --- EU AI Act Art. 73 ----------------------------------------------------------------------------


def test_art73_default_path_is_15_days_from_awareness(now, make_incident, assess):
    incident = make_incident()
    assess(incident, ART73, facts={"serious_harm_to_health": True}, aware=AWARE)
    [clock] = running(incident, ART73)
    assert (clock.path, clock.duration, clock.due_at) == ("default", "P15D", AWARE + timedelta(days=15))
    assert (clock.start_milestone, clock.started_from, clock.rule.version) == ("aware", AWARE, 1)


@pytest.mark.parametrize("fact", ["widespread_infringement", "critical_infrastructure_disruption"])
def test_art73_widespread_infringement_or_critical_infrastructure_is_2_days(now, make_incident, assess, fact):
    incident = make_incident()
    assess(incident, ART73, facts={fact: True}, aware=AWARE)
    [clock] = running(incident, ART73)
    assert (clock.path, clock.due_at) == (fact, AWARE + timedelta(days=2))


def test_art73_death_is_10_days(now, make_incident, assess):
    incident = make_incident()
    assess(incident, ART73, facts={"death": True}, aware=AWARE)
    assert running(incident, ART73)[0].due_at == AWARE + timedelta(days=10)


def test_art73_death_and_widespread_infringement_take_the_shortest_path(now, make_incident, assess):
    incident = make_incident()
    assess(incident, ART73, facts={"death": True, "widespread_infringement": True}, aware=AWARE)
    [clock] = running(incident, ART73)
    assert (clock.path, clock.due_at) == ("widespread_infringement", AWARE + timedelta(days=2))


def test_art73_revision_finding_a_death_replaces_the_15_day_clock(now, make_incident, assess):
    incident = make_incident()
    assess(incident, ART73, aware=AWARE)
    assess(incident, ART73, reason="A patient died.", facts={"death": True})
    [clock] = running(incident, ART73)
    assert clock.due_at == AWARE + timedelta(days=10)
    old = Clock.objects.get(incident=incident, state="stopped")
    assert old.due_at == AWARE + timedelta(days=15) and "A patient died." in old.stop_reason


def test_art73_clock_waits_for_the_awareness_time(now, make_incident, assess):
    incident = make_incident()
    assessment = assess(incident, ART73)
    assert running(incident, ART73) == []
    assert "became aware" in services.plan_for(assessment).waiting
    assess(incident, ART73, reason="We now know when.", aware=AWARE)
    assert len(running(incident, ART73)) == 1


def test_an_unchanged_revision_keeps_the_running_clock(now, make_incident, assess):
    incident = make_incident()
    assess(incident, ART73, aware=AWARE)
    first = running(incident, ART73)[0]
    assess(incident, ART73, reason="Re-checked: nothing new.")
    assert running(incident, ART73) == [first]


# --- EU GPAI code of practice -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fact", "days"),
    [("critical_infrastructure_disruption", 2), ("serious_cybersecurity_breach", 5), ("death", 10),
     ("property_or_environment_harm", 15)],
)  # fmt: skip
def test_gpai_initial_report_paths(now, make_incident, assess, fact, days):
    incident = make_incident()
    assess(incident, GPAI, facts={fact: True}, model_involvement=AWARE)
    [clock] = running(incident, GPAI)
    assert (clock.start_milestone, clock.due_at) == ("model_involvement", AWARE + timedelta(days=days))


def test_gpai_counts_from_model_involvement_not_awareness(now, make_incident, assess):
    incident = make_incident()
    assess(incident, GPAI, facts={"serious_cybersecurity_breach": True}, aware=AWARE - timedelta(days=3))
    assert running(incident, GPAI) == []


def test_gpai_intermediate_reports_every_4_weeks_after_each_report(now, make_incident, assess, people, actor_for):
    incident = make_incident()
    assess(incident, GPAI, facts={"serious_cybersecurity_breach": True}, model_involvement=AWARE)
    [initial] = running(incident, GPAI)
    now.set(AWARE + timedelta(days=4))
    services.clock_meet(actor=actor_for(people["commander"]), clock=initial, report="initial v1")
    [first] = running(incident, GPAI)
    assert (first.kind, first.sequence, first.due_at) == ("intermediate", 1, AWARE + timedelta(days=4 + 28))
    now.set(AWARE + timedelta(days=30))
    services.clock_meet(actor=actor_for(people["commander"]), clock=first, report="intermediate 1")
    [second] = running(incident, GPAI)
    assert (second.sequence, second.due_at) == (2, AWARE + timedelta(days=30 + 28))
    assert second.rule_id == initial.rule_id


def test_gpai_final_report_60_days_after_resolution_replaces_intermediates(
    now, make_incident, assess, people, actor_for
):
    incident = make_incident()
    assess(incident, GPAI, facts={"death": True}, model_involvement=AWARE)
    services.clock_meet(actor=actor_for(people["commander"]), clock=running(incident, GPAI)[0])
    resolved = AWARE + timedelta(days=20)
    Incident.objects.filter(pk=incident.pk).update(status="resolved", resolved_at=resolved)
    assert services.clocks_sync(actor=actor_for(people["commander"])) == 1
    [final] = running(incident, GPAI)
    assert (final.kind, final.start_milestone, final.due_at) == ("final", "resolution", resolved + timedelta(days=60))
    assert Clock.objects.get(incident=incident, kind="intermediate").state == "stopped"
    assert services.clocks_sync(actor=actor_for(people["commander"])) == 0  # once


def test_no_final_report_for_a_regime_without_one(now, make_incident, assess, people, actor_for):
    incident = make_incident()
    assess(incident, ART73, aware=AWARE)
    Incident.objects.filter(pk=incident.pk).update(status="resolved", resolved_at=AWARE + timedelta(days=1))
    assert services.clocks_sync(actor=actor_for(people["commander"])) == 0


# --- California SB 53 ---------------------------------------------------------------------------


def test_sb53_is_15_days_from_discovery(now, make_incident, assess):
    incident = make_incident()
    assess(incident, SB53, facts={"critical_safety_incident": True}, discovered=AWARE)
    assert running(incident, SB53)[0].due_at == AWARE + timedelta(days=15)


def test_sb53_imminent_risk_is_24_hours(now, make_incident, assess):
    incident = make_incident()
    assess(incident, SB53, facts={"critical_safety_incident": True, "imminent_risk_of_death_or_serious_injury": True},
           discovered=AWARE)  # fmt: skip
    [clock] = running(incident, SB53)
    assert (clock.path, clock.duration, clock.due_at) == (
        "imminent_risk_of_death_or_serious_injury", "PT24H", AWARE + timedelta(hours=24))  # fmt: skip


# --- New York RAISE -------------------------------------------------------------------------------


def test_raise_never_starts_for_an_incident_determined_before_2027(now, make_incident, assess):
    incident = make_incident()
    now.set(utc(2026, 12, 31, 23, 0))
    assessment = assess(incident, RAISE, determined=utc(2026, 12, 31, 12, 0))
    assert running(incident, RAISE) == []
    assert "apply from 2027-01-01" in services.plan_for(assessment).waiting


def test_raise_is_72_hours_from_determination_after_2027(now, make_incident, assess):
    incident = make_incident()
    now.set(utc(2027, 1, 3, 0, 0))
    determined = utc(2027, 1, 2, 10, 0)
    assess(incident, RAISE, facts={"safety_incident": True}, determined=determined)
    [clock] = running(incident, RAISE)
    assert (clock.duration, clock.due_at) == ("PT72H", determined + timedelta(hours=72))


# --- rule versions --------------------------------------------------------------------------------


def test_a_new_rule_version_mid_incident_keeps_the_old_clock_and_applies_to_new_incidents(
    now, make_incident, assess, people, actor_for
):
    old_incident = make_incident()
    assess(old_incident, ART73, aware=AWARE)
    [old_clock] = running(old_incident, ART73)
    now.set(utc(2026, 9, 5, 12, 0))
    v2 = services.rule_version_create(
        actor=actor_for(people["admin"]), regime=ART73, effective_from=utc(2026, 9, 5), starts_from="aware",
        deadlines={"death": "P7D", "default": "P10D"},
    )  # fmt: skip
    assert v2.version == 2
    assess(old_incident, ART73, reason="Reviewed after the rule change.")
    assert running(old_incident, ART73) == [old_clock]
    old_clock.refresh_from_db()
    assert (old_clock.rule.version, old_clock.due_at) == (1, AWARE + timedelta(days=15))

    new_incident = make_incident()
    aware = utc(2026, 9, 5, 10, 0)
    assess(new_incident, ART73, aware=aware)
    [new_clock] = running(new_incident, ART73)
    assert (new_clock.rule_id, new_clock.due_at) == (v2.pk, aware + timedelta(days=10))


def test_rule_version_must_take_effect_after_the_last(now, people, actor_for):
    with pytest.raises(DomainError) as refused:
        services.rule_version_create(
            actor=actor_for(people["admin"]), regime=SB53, effective_from=utc(2025, 6, 1), starts_from="discovered",
            deadlines={"default": "P15D"},
        )  # fmt: skip
    assert "effective_from" in refused.value.fields


@pytest.mark.parametrize("bad", ["15 days", "P", "PT", "P0D", "P1M2", "", 15, "P1Y"])
def test_malformed_durations_are_refused_naming_the_field(bad):
    with pytest.raises(rules.RuleError) as refused:
        rules.validate_rule(rules.RuleData(regime=ART73, starts_from="aware", deadlines={"default": bad}))
    assert refused.value.field == "deadlines"


def test_durations_parse_weeks_days_and_hours():
    assert rules.parse_duration("P4W") == timedelta(days=28)
    assert rules.parse_duration("P1DT12H") == timedelta(hours=36)
    assert rules.parse_duration("PT72H") == timedelta(days=3)


def test_a_rule_path_must_be_a_fact_of_its_regime():
    with pytest.raises(rules.RuleError) as refused:
        table = {"death": "P1D", "default": "P15D"}
        rules.validate_rule(rules.RuleData(regime=SB53, starts_from="discovered", deadlines=table))
    assert refused.value.field == "deadlines"


def test_seeded_rules_all_validate(db):
    for rule in RuleVersion.objects.all():
        rules.validate_rule(services._rule_data(rule))
    assert set(RuleVersion.objects.values_list("regime", flat=True)) == {ART73, GPAI, SB53, RAISE}


# --- not reportable, and bad input ----------------------------------------------------------------


def test_not_reportable_revision_stops_the_clock_with_its_reason_and_is_ledgered(now, make_incident, assess):
    incident = make_incident()
    assess(incident, SB53, discovered=AWARE)
    assessment = assess(incident, SB53, "does_not_apply", reason="No model weights were involved.")
    [clock] = Clock.objects.filter(incident=incident, regime=SB53)
    assert clock.state == "stopped" and "No model weights were involved." in clock.stop_reason
    verbs = list(LedgerEvent.objects.filter(incident_ref=incident.ref).values_list("verb", "reason"))
    assert ("reporting.assessed", "No model weights were involved.") in verbs
    assert any(v == "reporting.clock_stopped" for v, _ in verbs)
    assert assessment.number == 2


def test_does_not_apply_needs_a_reason(now, make_incident, assess):
    with pytest.raises(DomainError) as refused:
        assess(make_incident(), ART73, "does_not_apply")
    assert "reason" in refused.value.fields


def test_every_revision_needs_a_reason(now, make_incident, assess):
    incident = make_incident()
    assess(incident, ART73, "unknown")
    with pytest.raises(DomainError) as refused:
        assess(incident, ART73, "applies", aware=AWARE)
    assert "reason" in refused.value.fields


def test_revisions_are_new_rows_and_the_first_is_never_changed(now, make_incident, assess):
    incident = make_incident()
    first = assess(incident, ART73, "unknown")
    assess(incident, ART73, "applies", reason="Confirmed.", aware=AWARE)
    first.refresh_from_db()
    assert first.decision == "unknown" and first.number == 1


def test_unknown_regime_and_fact_are_refused_by_field(now, make_incident, assess):
    incident = make_incident()
    with pytest.raises(DomainError) as refused:
        assess(incident, "uk_osa")
    assert "regime" in refused.value.fields
    with pytest.raises(DomainError) as refused:
        assess(incident, SB53, facts={"death": True})
    assert "facts" in refused.value.fields


def test_a_milestone_in_the_future_is_refused(now, make_incident, assess):
    with pytest.raises(DomainError) as refused:
        assess(make_incident(), ART73, aware=utc(2026, 9, 3))
    assert "aware_at" in refused.value.fields


def test_responders_and_auditors_cannot_assess(now, make_incident, assess, people):
    incident = make_incident()
    for who in ("responder", "auditor", "admin"):
        with pytest.raises(DomainError) as refused:
            assess(incident, ART73, by=people[who])
        assert refused.value.code == "forbidden"


def test_leadership_may_assess(now, make_incident, assess, people):
    assert assess(make_incident(), ART73, by=people["leader"], aware=AWARE).number == 1


def test_a_commander_who_cannot_see_a_restricted_incident_gets_not_found(now, make_incident, assess):
    with pytest.raises(DomainError) as refused:
        assess(make_incident(restricted=True), ART73)
    assert refused.value.code == "not_found"


def test_a_met_clock_cannot_be_met_again(now, make_incident, assess, people, actor_for):
    incident = make_incident()
    assess(incident, SB53, discovered=AWARE)
    clock = running(incident, SB53)[0]
    services.clock_meet(actor=actor_for(people["commander"]), clock=clock)
    with pytest.raises(DomainError) as refused:
        services.clock_meet(actor=actor_for(people["commander"]), clock=clock)
    assert refused.value.code == "conflict"


def test_overdue_is_a_running_clock_past_its_due_time(now, make_incident, assess):
    incident = make_incident()
    assess(incident, SB53, facts={"imminent_risk_of_death_or_serious_injury": True}, discovered=AWARE)
    [clock] = running(incident, SB53)
    assert not clock.is_overdue()
    now.set(AWARE + timedelta(hours=25))
    assert clock.is_overdue() and clock.display_state == "overdue"


def test_drills_leave_the_clocks_through_the_one_filter(now, make_incident, assess, people, actor_for):
    """A drill starts no clock, is not listed and is not reminded of (counted_q, the one filter)."""
    from incidents.reporting import selectors

    drill, real = make_incident(title="Drill exfiltration", is_drill=True), make_incident(title="Exfiltration")
    for incident in (drill, real):
        assess(incident, SB53, discovered=AWARE)
    assert running(drill, SB53) == [] and len(running(real, SB53)) == 1
    assert [c.incident_id for c in selectors.deadlines_for(user=people["leader"])] == [real.pk]
