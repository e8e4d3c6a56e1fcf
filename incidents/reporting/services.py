"""Everything that writes reportability, clocks, reminders and rule versions.

Each function runs in one transaction: it locks the incident first (the order every incidents
service uses), then its clocks (incidents.locks), checks the rule, writes the change and its ledger
event (incidents.reporting.events) together. Assessments and rule versions are never updated: a
revision is a new row. A clock, once started, keeps the rule version, milestone and due time it was
computed from; only its state moves (running → met or stopped).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts import ledger
from accounts.actor import Actor
from accounts.models import User
from accounts.roles import Role
from config.errors import DomainError
from incidents import locks
from incidents.models import Incident
from incidents.models.reporting import (
    Assessment,
    Clock,
    ClockKind,
    ClockReminder,
    ClockState,
    Decision,
    Milestone,
    Regime,
    RuleVersion,
)
from incidents.models.reports import ReportVersion
from incidents.notifications import Event, Need, incident_url, members_of, notify
from incidents.reporting import rules
from incidents.reporting.events import ReportingEvent
from incidents.reporting.selectors import clock_counts, counted
from incidents.selectors import can_view_incident

# Who decides reportability (DESIGN §8: "commanders/leadership edit"); everyone who sees the incident reads.
ASSESSING_ROLES = (Role.INCIDENT_COMMANDER, Role.LEADERSHIP)
RULE_ROLES = (Role.ADMIN,)
REASON_MAX = 20000
SOURCE_MAX = 5000
REPORT_MAX = 200
# A milestone may be recorded a little ahead of the server's clock (another machine's time), not more.
FUTURE_SKEW = timedelta(minutes=5)
RESOLUTION = "resolution"
PREVIOUS_REPORT = "previous_report"


def _user(actor: Actor) -> User:
    if actor.user is None:
        raise DomainError("This action needs a person.", code="forbidden")
    return actor.user


def may_assess(user: User) -> bool:
    return user.is_authenticated and user.has_role(*ASSESSING_ROLES)


def _lock_incident(user: User, incident: Incident) -> Incident:
    locked = locks.lock_incident(incident.pk)
    if not can_view_incident(user, locked):
        raise DomainError("No such incident.", code="not_found")
    return locked


def _rule_data(rule: RuleVersion) -> rules.RuleData:
    return rules.RuleData(
        regime=rule.regime,
        starts_from=rule.starts_from,
        deadlines=rule.deadlines,
        intermediate_every=rule.intermediate_every,
        final_after_resolution=rule.final_after_resolution,
    )


def _iso(value: datetime | None) -> str | None:
    return ledger.format_time(value) if value else None


def _clock_data(clock: Clock) -> dict[str, Any]:
    return {
        "regime": clock.regime, "kind": clock.kind, "sequence": clock.sequence,
        "rule": f"{clock.rule.regime} v{clock.rule.version}", "start_milestone": clock.start_milestone,
        "started_from": _iso(clock.started_from), "path": clock.path, "duration": clock.duration,
        "due_at": _iso(clock.due_at), "state": clock.state,
    }  # fmt: skip


# --- what an assessment starts ------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The initial clock an assessment calls for, or why there is none (`waiting`)."""

    rule: RuleVersion | None = None
    milestone: str = ""
    started_from: datetime | None = None
    deadline: rules.Deadline | None = None
    waiting: str = ""


def plan_for(assessment: Assessment) -> Plan:
    """The rule version in force at the assessment's start milestone, and the deadline it gives.
    Versions are tried newest first; each names the milestone it counts from."""
    if assessment.decision != Decision.APPLIES:
        return Plan(waiting="No clock: the assessment does not say it applies.")
    versions = list(RuleVersion.objects.filter(regime=assessment.regime).order_by("-effective_from"))
    if not versions:
        return Plan(waiting="No rule for this regime is recorded.")
    missing = []
    for rule in versions:
        at = assessment.milestone(rule.starts_from)
        if at is None:
            missing.append(Milestone(rule.starts_from).label.lower())
            continue
        if rule.effective_from <= at:
            deadline = rules.initial_deadline(_rule_data(rule), assessment.facts or {}, at)
            return Plan(rule=rule, milestone=rule.starts_from, started_from=at, deadline=deadline)
    if missing and len(missing) == len(versions):
        return Plan(waiting=f"The clock starts once the time it counts from is known: {missing[0]}.")
    first = versions[-1]
    return Plan(
        waiting=f"No clock: this regime's rules apply from {first.effective_from:%Y-%m-%d} "
        f"and the {Milestone(first.starts_from).label.lower()} was before that."
    )


def _start(actor: Actor, incident: Incident, assessment: Assessment, *, kind: str, rule: RuleVersion,
           milestone: str, started_from: datetime, deadline: rules.Deadline, sequence: int = 1) -> Clock:  # fmt: skip
    clock = Clock.objects.create(
        incident=incident, regime=assessment.regime, kind=kind, sequence=sequence, assessment=assessment, rule=rule,
        start_milestone=milestone, started_from=started_from, path=deadline.path, duration=deadline.duration,
        due_at=deadline.due_at,
    )  # fmt: skip
    ledger.record(
        actor=actor, verb=ReportingEvent.CLOCK_STARTED, obj=clock, incident_ref=incident.ref, after=_clock_data(clock)
    )
    return clock


def _stop(actor: Actor, incident: Incident, clock: Clock, *, reason: str) -> None:
    before = _clock_data(clock)
    clock.state = ClockState.STOPPED
    clock.stopped_at = timezone.now()
    clock.stop_reason = reason
    clock.save(update_fields=["state", "stopped_at", "stop_reason"])
    ledger.record(
        actor=actor, verb=ReportingEvent.CLOCK_STOPPED, obj=clock, incident_ref=incident.ref,
        before={"state": before["state"]}, after=_clock_data(clock), reason=reason,
    )  # fmt: skip


def _apply(actor: Actor, incident: Incident, assessment: Assessment) -> None:
    """Bring the regime's clocks in line with its newest assessment."""
    running = locks.lock_running_clocks(incident, regime=assessment.regime)
    said = f"assessment {assessment.number} ({Decision(assessment.decision).label.lower()}): {assessment.reason}"
    if assessment.decision != Decision.APPLIES:
        for clock in running:  # clocks run only while the regime applies
            _stop(actor, incident, clock, reason=f"Stopped by {said}")
        return
    if not clock_counts(incident):
        return
    plan = plan_for(assessment)
    initial = [c for c in running if c.kind == ClockKind.INITIAL]
    if plan.deadline is None or plan.rule is None or plan.started_from is None:
        return
    met = Clock.objects.filter(
        incident=incident, regime=assessment.regime, kind=ClockKind.INITIAL, state=ClockState.MET
    ).exists()
    if met:  # the initial report is in: later facts go into amended reports, not a new clock
        return
    same = [c for c in initial if (c.rule_id, c.started_from, c.path, c.due_at)
            == (plan.rule.pk, plan.started_from, plan.deadline.path, plan.deadline.due_at)]  # fmt: skip
    if same:
        return
    for clock in initial:
        _stop(actor, incident, clock, reason=f"Superseded by {said}")
    _start(actor, incident, assessment, kind=ClockKind.INITIAL, rule=plan.rule, milestone=plan.milestone,
           started_from=plan.started_from, deadline=plan.deadline)  # fmt: skip
    _follow_resolution(actor, incident, assessment.regime)


# --- assessments ------------------------------------------------------------------------------


def _clean_milestones(milestones: Mapping[str, Any] | None) -> dict[str, datetime | None]:
    cleaned: dict[str, datetime | None] = {}
    latest = timezone.now() + FUTURE_SKEW
    for name, value in (milestones or {}).items():
        key = name.removesuffix("_at")
        field = f"{key}_at"
        if key not in Milestone.values:
            raise DomainError.invalid_field(str(name), "Not a milestone a regime counts from.")
        if value is not None and not isinstance(value, datetime):
            raise DomainError.invalid_field(field, "Give a date and time.")
        if value is not None and timezone.is_naive(value):
            raise DomainError.invalid_field(field, "Give the time with its time zone.")
        if value is not None and value > latest:
            raise DomainError.invalid_field(field, "This moment is in the future.")
        cleaned[key] = value
    return cleaned


@transaction.atomic
def assessment_record(
    *,
    actor: Actor,
    incident: Incident,
    regime: str,
    decision: str,
    reason: str = "",
    facts: Mapping[str, Any] | None = None,
    milestones: Mapping[str, Any] | None = None,
) -> Assessment:
    """Record (or revise) whether a regime applies to the incident, with its deciding facts and
    milestone times. A revision is a new assessment with a reason; facts and milestones not given
    carry over from the one it revises. Starts, keeps or stops the regime's clocks accordingly."""
    user = _user(actor)
    if not may_assess(user):
        raise DomainError("Only incident commanders and leadership decide reportability.", code="forbidden")
    if regime not in Regime.values:
        raise DomainError.invalid_field("regime", f"Unknown regime: choose one of {', '.join(Regime.values)}.")
    if decision not in Decision.values:
        raise DomainError.invalid_field("decision", f"Choose one of: {', '.join(Decision.values)}.")
    reason = reason.strip() if isinstance(reason, str) else ""
    if len(reason) > REASON_MAX:
        raise DomainError.invalid_field("reason", f"At most {REASON_MAX} characters.")
    given_milestones = _clean_milestones(milestones)
    incident = _lock_incident(user, incident)
    previous = Assessment.objects.filter(incident=incident, regime=regime).order_by("-number").first()
    if not reason and decision == Decision.DOES_NOT_APPLY:
        raise DomainError.invalid_field(
            "reason", "Say why this regime does not apply: it is a decision like any other."
        )
    if not reason and previous is not None:
        raise DomainError.invalid_field("reason", "Say why the assessment is revised.")
    try:
        cleaned = rules.clean_facts(regime, facts if facts is not None else (previous.facts if previous else {}))
    except rules.RuleError as error:
        raise DomainError.invalid_field(error.field, error.message) from error
    times = {m: (previous.milestone(m) if previous else None) for m in Milestone.values} | given_milestones
    assessment = Assessment.objects.create(
        incident=incident, regime=regime, number=(previous.number + 1) if previous else 1, decision=decision,
        reason=reason, facts=cleaned, recorded_by=user, **{f"{m}_at": at for m, at in times.items()},
    )  # fmt: skip
    ledger.record(
        actor=actor, verb=ReportingEvent.ASSESSED, obj=assessment, incident_ref=incident.ref, reason=reason,
        before=_assessment_data(previous) if previous else None, after=_assessment_data(assessment),
    )  # fmt: skip
    _apply(actor, incident, assessment)
    return assessment


def _assessment_data(assessment: Assessment) -> dict[str, Any]:
    return {
        "regime": assessment.regime, "number": assessment.number, "decision": assessment.decision,
        "facts": assessment.facts, **{f"{m}_at": _iso(assessment.milestone(m)) for m in Milestone.values},
    }  # fmt: skip


# --- meeting a clock, and what follows ----------------------------------------------------------


@transaction.atomic
def clock_meet(*, actor: Actor, clock: Clock, met_at: datetime | None = None, report: str = "") -> Clock:
    """A report was submitted for this clock (called by the reports part, with who submitted it).
    For a regime with an intermediate cadence (GPAI: every 4 weeks), meeting the initial or an
    intermediate report starts the next intermediate clock while the incident is unresolved."""
    if actor.user is not None and not may_assess(actor.user):
        raise DomainError("Only incident commanders and leadership file regulators' reports.", code="forbidden")
    incident = locks.lock_incident(clock.incident_id)
    if actor.user is not None and not can_view_incident(actor.user, incident):
        raise DomainError("No such incident.", code="not_found")
    clock = locks.lock_clock(clock.pk)
    if clock.state != ClockState.RUNNING:
        raise DomainError(f"This clock is {clock.state}: only a running clock can be met.", code="conflict")
    now = timezone.now()
    met_at = met_at or now
    if met_at > now + FUTURE_SKEW:
        raise DomainError.invalid_field("met_at", "This moment is in the future.")
    clock.state, clock.met_at, clock.met_by = ClockState.MET, met_at, str(report)[:REPORT_MAX]
    clock.save(update_fields=["state", "met_at", "met_by"])
    ledger.record(
        actor=actor, verb=ReportingEvent.CLOCK_MET, obj=clock, incident_ref=incident.ref,
        after=_clock_data(clock) | {"met_at": _iso(met_at), "report": clock.met_by,
                                    "late": met_at > clock.due_at},
    )  # fmt: skip
    every = clock.rule.intermediate_every
    if every and clock.kind in (ClockKind.INITIAL, ClockKind.INTERMEDIATE) and incident.resolved_at is None:
        last = (
            Clock.objects.filter(incident=incident, regime=clock.regime, kind=ClockKind.INTERMEDIATE)
            .order_by("-sequence")
            .values_list("sequence", flat=True)
            .first()
        )
        _start(
            actor, incident, clock.assessment, kind=ClockKind.INTERMEDIATE, rule=clock.rule,
            milestone=PREVIOUS_REPORT, started_from=met_at, sequence=(last or 0) + 1,
            deadline=rules.later_deadline(every, met_at, path="intermediate_every"),
        )  # fmt: skip
    return clock


def _follow_resolution(actor: Actor, incident: Incident, regime: str) -> list[Clock]:
    """Once the incident is resolved: intermediate clocks stop, and the final report's clock starts
    (GPAI: 60 days after resolution), under the rule version the initial clock used."""
    if incident.resolved_at is None:
        return []
    current = Assessment.objects.filter(incident=incident, regime=regime).order_by("-number").first()
    if current is None or current.decision != Decision.APPLIES:
        return []
    for clock in locks.lock_running_clocks(incident, regime=regime):
        if clock.kind == ClockKind.INTERMEDIATE:
            _stop(actor, incident, clock, reason="The incident is resolved: the final report replaces intermediates.")
    initial = (
        Clock.objects.filter(incident=incident, regime=regime, kind=ClockKind.INITIAL)
        .exclude(state=ClockState.STOPPED)
        .select_related("rule")
        .order_by("-id")
        .first()
    )
    if initial is None or not initial.rule.final_after_resolution:
        return []
    if Clock.objects.filter(incident=incident, regime=regime, kind=ClockKind.FINAL).exists():
        return []
    deadline = rules.later_deadline(
        initial.rule.final_after_resolution, incident.resolved_at, path="final_after_resolution"
    )
    return [_start(actor, incident, current, kind=ClockKind.FINAL, rule=initial.rule, milestone=RESOLUTION,
                   started_from=incident.resolved_at, deadline=deadline)]  # fmt: skip


def clocks_sync(*, actor: Actor) -> int:
    """Beat: for resolved incidents whose regime has a final report still unclocked, start it (and
    stop the intermediates). Each incident in its own transaction. Returns the clocks started."""
    final_clock = Clock.objects.filter(incident=OuterRef("incident"), regime=OuterRef("regime"), kind=ClockKind.FINAL)
    pending = (
        counted(Clock.objects.filter(kind=ClockKind.INITIAL, incident__resolved_at__isnull=False))
        .exclude(state=ClockState.STOPPED)
        .exclude(rule__final_after_resolution="")
        .filter(~Exists(final_clock))
        .values_list("incident_id", "regime")
        .distinct()
    )
    started = 0
    for incident_id, regime in list(pending):
        with transaction.atomic():
            incident = locks.lock_incident(incident_id)
            started += len(_follow_resolution(actor, incident, regime))
    return started


# --- reminders --------------------------------------------------------------------------------


def clock_reminders_send(*, actor: Actor, now: datetime | None = None) -> int:
    """Beat: remind the commander and leadership at 50 %, 80 % and 24 h before a running clock is
    due. Each mark once per clock, even with two beats at once: the clock is locked, the marks
    re-read under the lock, and a unique constraint backs it. Marks that fall due together are one
    message. Returns the messages sent."""
    now = now or timezone.now()
    candidates = list(
        counted(Clock.objects.filter(state=ClockState.RUNNING))
        .order_by("due_at", "id")
        .values_list("pk", "started_from", "due_at")
    )
    sent_marks: dict[int, set[str]] = {}
    for clock_id, mark in ClockReminder.objects.filter(clock_id__in=[c[0] for c in candidates]).values_list(
        "clock_id", "mark"
    ):
        sent_marks.setdefault(clock_id, set()).add(mark)
    sent = 0
    for pk, started_from, due_at in candidates:
        marks = rules.reminder_marks(started_from, due_at)
        if all(at > now or mark in sent_marks.get(pk, ()) for mark, at in marks.items()):
            continue
        sent += _remind(actor, pk, now)
    return sent


@transaction.atomic
def _remind(actor: Actor, clock_pk: int, now: datetime) -> int:
    incident_id = Clock.objects.filter(pk=clock_pk).values_list("incident_id", flat=True).first()
    if incident_id is None:
        return 0
    incident = locks.lock_incident(incident_id)
    locked = locks.lock_clock(clock_pk)
    if locked.state != ClockState.RUNNING:
        return 0
    done = set(ClockReminder.objects.filter(clock=locked).values_list("mark", flat=True))
    marks = rules.reminder_marks(locked.started_from, locked.due_at)
    due = [mark for mark, at in sorted(marks.items(), key=lambda item: item[1]) if at <= now and mark not in done]
    if not due:
        return 0
    people = members_of(Role.LEADERSHIP) + ([incident.commander] if incident.commander is not None else [])
    left = locked.due_at - now
    when = ledger.format_time(locked.due_at)
    text = (f"is overdue: it was due {when}" if left <= timedelta(0)
            else f"is due {when} (in {_span(left)})")  # fmt: skip
    regime = Regime(locked.regime).label
    notified = notify(
        incident=incident,
        event=Event.REMINDER,
        users=people,
        subject=f"{incident.ref}: {regime} {ClockKind(locked.kind).label.lower()} {text}",
        body=f"The {regime} {ClockKind(locked.kind).label.lower()} for {incident.ref} {text}.\n"
        f"Rule {locked.rule.regime} v{locked.rule.version}, counted from {locked.start_milestone} "
        f"({ledger.format_time(locked.started_from)}), path {locked.path} ({locked.duration}).\n\n"
        f"{incident_url(incident.ref)}reportability/",
        needs=Need.ATTENTION,
    )
    ClockReminder.objects.bulk_create(
        [ClockReminder(clock=locked, mark=mark, sent_at=now, notified=notified) for mark in due]
    )
    ledger.record(
        actor=actor, verb=ReportingEvent.REMINDER_SENT, obj=locked, incident_ref=incident.ref,
        after=_clock_data(locked) | {"mark": due[-1], "marks": due, "notified": notified},
    )  # fmt: skip
    return 1


def _span(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if days else f"{hours} h {int(delta.total_seconds() // 60 % 60)} min"


# --- rule versions ------------------------------------------------------------------------------


@transaction.atomic
def rule_version_create(
    *,
    actor: Actor,
    regime: str,
    effective_from: datetime,
    starts_from: str,
    deadlines: Mapping[str, Any],
    intermediate_every: str = "",
    final_after_resolution: str = "",
    source: str = "",
) -> RuleVersion:
    """Publish a new version of a regime's rule. It applies to clocks whose milestone falls on or
    after `effective_from`; clocks already started keep the version they used."""
    user = _user(actor)
    if not user.has_role(*RULE_ROLES):
        raise DomainError("Only admins publish regulators' rules.", code="forbidden")
    data = rules.RuleData(
        regime=regime,
        starts_from=starts_from,
        deadlines=deadlines,
        intermediate_every=intermediate_every or "",
        final_after_resolution=final_after_resolution or "",
    )
    try:
        rules.validate_rule(data)
    except rules.RuleError as error:
        raise DomainError.invalid_field(error.field, error.message) from error
    if not isinstance(effective_from, datetime) or timezone.is_naive(effective_from):
        raise DomainError.invalid_field("effective_from", "Give a date and time with its time zone.")
    if len(source or "") > SOURCE_MAX:
        raise DomainError.invalid_field("source", f"At most {SOURCE_MAX} characters.")
    latest = locks.lock_latest_rule_version(regime)
    if latest is not None and effective_from <= latest.effective_from:
        raise DomainError.invalid_field(
            "effective_from",
            f"Version {latest.version} is effective from {latest.effective_from:%Y-%m-%d %H:%M} UTC: "
            "a new version takes effect after it.",
        )
    try:
        with transaction.atomic():
            rule = RuleVersion.objects.create(
                regime=regime, version=(latest.version + 1) if latest else 1, effective_from=effective_from,
                starts_from=starts_from, deadlines=dict(deadlines), intermediate_every=data.intermediate_every,
                final_after_resolution=data.final_after_resolution, source=source or "", created_by=user,
            )  # fmt: skip
    except IntegrityError as error:  # another admin published one at the same moment
        raise DomainError("Another version was published meanwhile: read the rules again.", code="conflict") from error
    ledger.record(
        actor=actor, verb=ReportingEvent.RULE_VERSION_CREATED, obj=rule,
        after={"regime": regime, "version": rule.version, "effective_from": _iso(effective_from),
               "starts_from": starts_from, "deadlines": rule.deadlines, "intermediate_every": rule.intermediate_every,
               "final_after_resolution": rule.final_after_resolution},
    )  # fmt: skip
    return rule


# A submitted report meets its clock (incidents.reports.hooks.on_submitted, wired in IncidentsConfig).
REPORT_MEETS = {"initial": ClockKind.INITIAL, "intermediate": ClockKind.INTERMEDIATE, "final": ClockKind.FINAL}


def clock_meet_by_report(*, actor: Actor, version: ReportVersion) -> Clock | None:
    """The earliest running clock of the report's regime and kind is met by this submission (an
    amendment meets none: it corrects a report already filed)."""
    kind = REPORT_MEETS.get(version.kind)
    if kind is None:
        return None
    report = version.report
    clock = (
        counted(Clock.objects.filter(incident_id=report.incident_id, regime=report.regime, kind=kind))
        .filter(state=ClockState.RUNNING)
        .order_by("due_at", "id")
        .first()
    )
    if clock is None:
        return None
    return clock_meet(
        actor=actor, clock=clock, met_at=version.submitted_at, report=f"{report.regime} v{version.number}"
    )
