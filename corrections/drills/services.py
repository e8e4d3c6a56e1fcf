"""Writes of drills: start one, keep a report, set a team's schedule, remind when a drill is due.

Each function runs in one transaction and records its ledger event there, like every service.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import ledger
from accounts.actor import Actor
from accounts.roles import Role
from config.errors import DomainError
from corrections import locks
from corrections.drills import selectors
from corrections.drills.phases import drill_timing
from corrections.events import CorrectionEvent
from corrections.models import Drill, DrillReport, DrillSchedule, Playbook, PlaybookVersion
from corrections.playbooks import services as playbooks
from incidents import services as incidents
from incidents.models import Deployment, Source, Status
from incidents.notifications import Event, Need, members_of, notify
from incidents.selectors import can_view_incident

# Who may start a drill or set a schedule: those who run the response (a drill pages people).
DRILL_ROLES = (Role.INCIDENT_COMMANDER, Role.LEADERSHIP, Role.ADMIN)
DRILL_TRIGGER = "drill"  # IncidentPlaybook.trigger of the playbook a drill was started from
SCHEDULE_FIELDS = ("every_days", "remind_days_before", "active")
MAX_EVERY_DAYS = 3650


def _require(actor: Actor, what: str) -> None:
    if actor.user is not None and not actor.user.has_role(*DRILL_ROLES):
        raise DomainError(f"Only an incident commander, leadership or an admin may {what}.", code="forbidden")


def _scenario_from(
    version: PlaybookVersion | None, *, title: str, category: str, risk_domain: str, severity: str
) -> tuple[str, str, str, str]:
    """The scenario as given, its blanks filled from the playbook: its title, first category and risk
    domain (empty in a playbook means any: then the scenario must say), and its minimum severity."""
    if version is not None:
        title = title.strip() or f"Drill: {version.playbook.title}"
        category = category or (version.categories[0] if version.categories else "")
        risk_domain = risk_domain or (version.risk_domains[0] if version.risk_domains else "")
        severity = severity or version.min_severity
    missing = {
        "title": "Give the drill a title.", "category": "Choose the scenario's category.",
        "risk_domain": "Choose the scenario's risk domain.", "severity": "Choose the scenario's severity.",
    }  # fmt: skip
    given = {"title": title.strip(), "category": category, "risk_domain": risk_domain, "severity": severity}
    blank = {name: [message] for name, message in missing.items() if not given[name]}
    if blank:
        hint = " (the playbook matches any, so the scenario must say)" if version is not None else ""
        raise DomainError(f"The scenario is incomplete{hint}.", code="invalid", fields=blank)
    return title, category, risk_domain, severity


@transaction.atomic
def drill_start(
    *,
    actor: Actor,
    title: str = "",
    category: str = "",
    risk_domain: str = "",
    severity: str = "",
    deployments: Sequence[Deployment] = (),
    summary: str = "",
    detected_at: datetime | None = None,
    restricted: bool = False,
    schedule: DrillSchedule | None = None,
    playbook: Playbook | None = None,
) -> Drill:
    """Open an incident as a drill, from a scenario, or from a playbook that fills in what the scenario
    leaves blank; the playbook's current version is attached to the drill's incident (its checklist
    and recommended corrections, as a real match would bring) and recorded on the drill.

    The incident is a real one in every way but its mark: real sign-off, real dispatch with dry_run,
    real pages (subjects start with [DRILL]); it stays out of metrics and of everything for outsiders.
    """
    _require(actor, "start a drill")
    if actor.user is None:
        raise DomainError("A drill is started by a person, who is its reporter.", code="forbidden")
    if schedule is not None and not schedule.active:
        raise DomainError.invalid_field("schedule", f"The schedule of {schedule.team} is not active.")
    version = None
    if playbook is not None:
        version = PlaybookVersion.objects.select_related("playbook").filter(playbook=playbook, is_current=True).first()
        if version is None:
            raise DomainError.invalid_field("playbook", f"Playbook {playbook.slug} has no version yet.")
    title, category, risk_domain, severity = _scenario_from(
        version, title=title, category=category, risk_domain=risk_domain, severity=severity
    )
    incident = incidents.incident_create(
        actor=actor, title=title, category=category, risk_domain=risk_domain, severity=severity,
        summary=summary, source=Source.OTHER, deployments=deployments, detected_at=detected_at,
        restricted=restricted, is_drill=True,
    )  # fmt: skip
    scenario = {
        "title": incident.title,
        "category": category,
        "risk_domain": risk_domain,
        "severity": severity,
        "deployments": sorted(d.slug for d in deployments),
        "restricted": restricted,
        "detected_at": detected_at.isoformat() if detected_at else None,
        "playbook": version.label if version is not None else None,
    }
    if version is not None:  # after the creation hook: whatever matched, the drill rehearses this one
        playbooks.playbook_attach(actor=actor, incident=incident, version=version, trigger=DRILL_TRIGGER)
    drill = Drill.objects.create(
        incident=incident, schedule=schedule, scenario=scenario, started_by=actor.user, playbook_version=version
    )
    ledger.record(
        actor=actor, verb=CorrectionEvent.DRILL_STARTED, obj=drill, incident_ref=incident.ref,
        after={**scenario, "team": schedule.team if schedule else None},
    )  # fmt: skip
    return drill


@transaction.atomic
def drill_report_make(*, actor: Actor, drill: Drill, trigger: str = DrillReport.Trigger.ON_DEMAND) -> DrillReport:
    """Keep a snapshot of the drill's timing as it stands. A closed drill's own report is made once."""
    if actor.user is not None:
        if not actor.user.can_write:
            raise DomainError("Your role may read drill reports but not make them.", code="forbidden")
        if not can_view_incident(actor.user, drill.incident):
            raise DomainError("No such drill.", code="not_found")
    drill = locks.drill(drill.pk)
    if trigger == DrillReport.Trigger.CLOSED and drill.incident.status != Status.CLOSED:
        raise DomainError("The drill is not closed yet.", code="conflict")
    incident = drill.incident
    timing = drill_timing(selectors.drill_facts(drill))
    now = timezone.now()
    try:
        with transaction.atomic():
            report = DrillReport.objects.create(
                drill=drill, trigger=trigger, made_at=now, made_by=actor.user,
                phases=[selectors.phase_json(p) for p in timing.phases],
                summary={"ref": incident.ref, "title": incident.title, "severity": incident.severity,
                         "status": incident.status, "team": drill.schedule.team if drill.schedule_id else None,
                         "playbook": drill.playbook_version.playbook.slug if drill.playbook_version_id else None,
                         "playbook_version": drill.playbook_version.label if drill.playbook_version_id else None},
            )  # fmt: skip
    except IntegrityError:
        raise DomainError("This drill already has the report made when it closed.", code="conflict") from None
    slowest = timing.slowest
    ledger.record(
        actor=actor, verb=CorrectionEvent.DRILL_REPORTED, obj=report, incident_ref=incident.ref,
        after={"trigger": trigger, "phases": {p.key: p.seconds for p in timing.phases},
               "slowest": {"who": slowest.who, "phase": slowest.key, "seconds": slowest.who_seconds}
               if slowest else None},
    )  # fmt: skip
    return report


def drill_reports_for_closed(*, actor: Actor, limit: int = 100) -> int:
    """Beat: keep the report of every drill that closed and has none yet. Returns how many were made."""
    made = 0
    for drill in selectors.closed_drills_without_report()[:limit]:
        try:
            drill_report_make(actor=actor, drill=drill, trigger=DrillReport.Trigger.CLOSED)
        except DomainError:
            continue  # reopened meanwhile, or made by another sweep
        made += 1
    return made


@transaction.atomic
def drill_schedule_save(
    *, actor: Actor, team: str, every_days: int, remind_days_before: int = 7, active: bool = True
) -> DrillSchedule:
    """Create or change a team's schedule (ledgered)."""
    _require(actor, "set a drill schedule")
    team = (team or "").strip()
    if not team:
        raise DomainError.invalid_field("team", "Name the team this schedule is for.")
    if not 1 <= every_days <= MAX_EVERY_DAYS:
        raise DomainError.invalid_field("every_days", f"Between 1 and {MAX_EVERY_DAYS} days.")
    if not 0 <= remind_days_before < every_days:
        raise DomainError.invalid_field("remind_days_before", "At least 0, and fewer than the days between drills.")
    existing = DrillSchedule.objects.filter(team=team).values_list("pk", flat=True).first()
    schedule = locks.drill_schedule(existing) if existing else DrillSchedule(team=team)
    before = {f: getattr(schedule, f) for f in SCHEDULE_FIELDS} if existing else None
    schedule.every_days, schedule.remind_days_before, schedule.active = every_days, remind_days_before, active
    schedule.save()
    ledger.record(
        actor=actor, verb=CorrectionEvent.DRILL_SCHEDULE_SET, obj=schedule, before=before,
        after={"team": team, **{f: getattr(schedule, f) for f in SCHEDULE_FIELDS}},
    )  # fmt: skip
    return schedule


REMIND_EVERY = timedelta(days=1)


def drills_remind_due(*, actor: Actor, now: datetime | None = None) -> int:
    """Beat: tell the incident commanders of each schedule whose next drill is due (once a day at most)."""
    now = now or timezone.now()
    reminded = 0
    for status in selectors.schedule_statuses():
        if not status.remind_now(now):
            continue
        with transaction.atomic():
            schedule = locks.drill_schedule(status.schedule.pk)
            if schedule.last_reminded_at and now - schedule.last_reminded_at < REMIND_EVERY:
                continue  # another sweep got here first
            schedule.last_reminded_at = now
            schedule.save(update_fields=["last_reminded_at"])
            when = "overdue since" if status.overdue(now) else "due on"
            notified = notify(
                incident=None,
                users=members_of(Role.INCIDENT_COMMANDER),
                needs=Need.INCIDENT_COMMANDER,
                event=Event.REMINDER,
                subject=f"Drill {when} {status.next_due:%d %b %Y}: {schedule.team}",
                body=f"{schedule.team} rehearses every {schedule.every_days} days; the last drill was "
                f"{f'{status.last_drill:%d %b %Y}' if status.last_drill else 'never'}. Start one from the drills "
                f"page: {selectors.drills_url()}",
            )
            ledger.record(
                actor=actor, verb=CorrectionEvent.DRILL_REMINDED, obj=schedule,
                after={"team": schedule.team, "next_due": status.next_due, "notified": notified},
            )  # fmt: skip
        reminded += 1
    return reminded
