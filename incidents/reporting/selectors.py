"""Reads of assessments, clocks and rules. Clocks follow their incident's visibility, in the query."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from accounts.models import User
from incidents.drills import real_incidents_q
from incidents.models import Incident
from incidents.models.reporting import Assessment, Clock, ClockState, Decision, Regime, RuleVersion
from incidents.selectors import visible_through_q


def counted_q(path: str = "") -> Q:
    """THE one place drills leave the regulators' clocks (DESIGN §8a): starting a clock, every read
    of clocks and the reminder sweep filter with it. `path` leads to the incident ("incident__")."""
    return real_incidents_q(path.removesuffix("__"))


def counted(clocks: QuerySet[Clock]) -> QuerySet[Clock]:
    return clocks.filter(counted_q("incident__"))


def clock_counts(incident: Incident) -> bool:
    """Whether clocks start for this incident at all (a drill's do not)."""
    return Incident.objects.filter(counted_q(), pk=incident.pk).exists()


def rule_versions() -> QuerySet[RuleVersion]:
    return RuleVersion.objects.select_related("created_by").order_by("regime", "-version")


def assessments_of(*, incident: Incident) -> list[Assessment]:
    return list(Assessment.objects.filter(incident=incident).select_related("recorded_by").order_by("regime", "number"))


def _earliest_first(clocks: QuerySet[Clock]) -> QuerySet[Clock]:
    """Running clocks first, earliest due first; then the met and stopped ones, latest first."""
    running_first = Case(When(state=ClockState.RUNNING, then=Value(0)), default=Value(1), output_field=IntegerField())
    return clocks.annotate(settled=running_first).order_by("settled", "due_at", "id")


def clocks_of(*, incident: Incident) -> list[Clock]:
    return list(_earliest_first(counted(Clock.objects.filter(incident=incident)).select_related("rule")))


@dataclass
class RegimeStatus:
    """One regime on one incident: its assessments (oldest first) and its clocks."""

    regime: str
    label: str
    history: list[Assessment] = field(default_factory=list)
    clocks: list[Clock] = field(default_factory=list)

    @property
    def current(self) -> Assessment | None:
        return self.history[-1] if self.history else None


def reportability_of(*, incident: Incident) -> list[RegimeStatus]:
    """Every regime, assessed or not, with its history and clocks: two queries (the caller checked
    the incident is visible)."""
    statuses = {value: RegimeStatus(value, label) for value, label in Regime.choices}
    for assessment in assessments_of(incident=incident):
        statuses[assessment.regime].history.append(assessment)
    for clock in clocks_of(incident=incident):
        statuses[clock.regime].clocks.append(clock)
    return list(statuses.values())


def deadlines_for(*, user: User, state: str = "", regime: str = "") -> QuerySet[Clock]:
    """Clocks of every incident the user may see, filtered in the query; running earliest first.
    `state` is running, overdue, met or stopped."""
    clocks = counted(Clock.objects.filter(visible_through_q(user, path="incident")))
    if state == "overdue":
        clocks = clocks.filter(state=ClockState.RUNNING, due_at__lte=_now())
    elif state:
        clocks = clocks.filter(state=state)
    if regime:
        clocks = clocks.filter(regime=regime)
    return _earliest_first(clocks.select_related("incident", "incident__commander", "rule"))


def next_deadlines_for(*, user: User, limit: int = 5) -> list[Clock]:
    """The dashboard's few: running clocks, earliest due first (overdue ones lead)."""
    return list(deadlines_for(user=user, state=ClockState.RUNNING)[:limit])


def _now() -> datetime:
    return timezone.now()


def reportability_is_no(incident: Incident) -> bool:
    """Reportable under no regime: every regime's current assessment says "does not apply" (the
    evidence gate's question, incidents.reportability; an unassessed regime keeps it possible)."""
    latest: dict[str, str] = {}
    for regime, decision in (
        Assessment.objects.filter(incident=incident).order_by("regime", "number").values_list("regime", "decision")
    ):
        latest[regime] = decision
    return set(latest) == set(Regime.values) and all(d == Decision.DOES_NOT_APPLY for d in latest.values())
