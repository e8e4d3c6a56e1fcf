"""Reads of drills: the facts a report is computed from, reports and schedules as each user may see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Max, QuerySet
from django.urls import reverse

from accounts.models import LedgerEvent, User
from corrections.drills.phases import CorrectionFacts, Decision, DrillFacts, Phase
from corrections.events import CorrectionEvent
from corrections.models import (
    Approval,
    Correction,
    Drill,
    DrillReport,
    DrillSchedule,
    LiftRequest,
    Playbook,
    State,
)
from incidents.models import Status
from incidents.selectors import visible_through_q

LIFT_ASKED = (CorrectionEvent.LIFT_REQUESTED, CorrectionEvent.LIFT_SIGNOFF_REQUESTED, CorrectionEvent.EXPIRED)
NEVER_RAN = (State.DRAFT, State.CANCELLED, State.REJECTED)


def drill_facts(drill: Drill) -> DrillFacts:
    """Everything the phases are computed from, read from the milestone columns and the ledger (5 queries)."""
    incident = drill.incident
    corrections = list(
        Correction.objects.filter(incident=incident)
        .exclude(state__in=NEVER_RAN)
        .select_related("requested_by", "manual_confirmed_by")
        .order_by("requested_at", "id")
    )
    ids = [c.pk for c in corrections]
    approvals: dict[int, list[Decision]] = {}
    for a in Approval.objects.filter(
        correction_id__in=ids, decision=Approval.Decision.APPROVE, voided_at__isnull=True
    ).select_related("approver"):
        approvals.setdefault(a.correction_id, []).append(Decision(a.approver.username, a.created_at))
    lift_approvals: dict[int, list[Decision]] = {}
    lifts = LiftRequest.objects.filter(correction_id__in=ids, state=LiftRequest.State.APPROVED)
    for lift in lifts.select_related("decided_by"):
        if lift.decided_by is not None and lift.decided_at is not None:
            decision = Decision(lift.decided_by.username, lift.decided_at)
            lift_approvals.setdefault(lift.correction_id, []).append(decision)
    lift_asked: dict[int, Decision] = {}
    events = LedgerEvent.objects.filter(
        incident_ref=incident.ref, verb__in=[str(v) for v in LIFT_ASKED], object_type="corrections.correction"
    ).order_by("seq")
    for event in events.only("object_id", "actor_name", "at"):
        if event.object_id.isdigit():
            lift_asked.setdefault(int(event.object_id), Decision(event.actor_name, event.at))
    reporter = incident.reporter.username if incident.reporter_id else "—"
    return DrillFacts(
        detected_at=incident.detected_at,
        reported_at=incident.reported_at,
        reporter=reporter,
        corrections=tuple(
            CorrectionFacts(
                id=c.pk,
                type=c.type,
                requested_at=c.requested_at,
                requested_by=c.requested_by.username,
                approved_at=c.approved_at,
                approvals=tuple(approvals.get(c.pk, ())),
                enforced_at=c.verified_at or c.manual_confirmed_at,
                confirmed_by=c.manual_confirmed_by.username if c.manual_confirmed_by and not c.verified_at else None,
                lift_asked=lift_asked.get(c.pk),
                lift_approvals=tuple(lift_approvals.get(c.pk, ())),
                lifted_at=c.lifted_at,
            )
            for c in corrections
        ),
    )


def phase_json(phase: Phase) -> dict[str, Any]:
    data = phase.as_dict()
    for name in ("started_at", "ended_at"):
        data[name] = data[name].isoformat() if data[name] else None
    return data


def closed_drills_without_report() -> QuerySet[Drill]:
    return (
        Drill.objects.filter(incident__status=Status.CLOSED)
        .exclude(reports__trigger=DrillReport.Trigger.CLOSED)
        .order_by("id")
    )


# --- what each user may see ------------------------------------------------------------------------


def drills_visible_to(user: User) -> QuerySet[Drill]:
    return Drill.objects.filter(visible_through_q(user, path="incident"))


def drill_for_incident(*, user: User, ref: str) -> Drill | None:
    return (
        drills_visible_to(user)
        .select_related("incident", "schedule", "playbook_version__playbook")
        .filter(incident__ref=ref)
        .first()
    )


def reports_for(*, user: User, playbook: str = "") -> QuerySet[DrillReport]:
    """Drill reports of drills the user may see, newest first (a restricted drill only when granted);
    with `playbook` (a slug), only drills started from a version of that playbook, to compare them."""
    reports = (
        DrillReport.objects.filter(visible_through_q(user, path="drill__incident"))
        .select_related("drill__incident", "drill__schedule", "drill__playbook_version__playbook", "made_by")
        .order_by("-made_at", "-id")
    )
    return reports.filter(drill__playbook_version__playbook__slug=playbook) if playbook else reports


def drilled_playbooks() -> QuerySet[Playbook]:
    """Playbooks some drill was started from (the comparison's choices)."""
    return Playbook.objects.filter(versions__drills__isnull=False).distinct().order_by("title")


def report_get_for(*, user: User, report_id: int) -> DrillReport | None:
    return reports_for(user=user).filter(pk=report_id).first()


@dataclass(frozen=True)
class PhaseRow:
    """One report's phases in a fixed order, for the page's side-by-side table."""

    report: DrillReport
    phases: list[dict[str, Any]]


def comparison(reports: list[DrillReport], keys: tuple[str, ...]) -> list[PhaseRow]:
    rows = []
    for report in reports:
        by_key = {p.get("key"): p for p in report.phases if isinstance(p, dict)}
        rows.append(PhaseRow(report, [by_key.get(key, {"key": key, "seconds": None}) for key in keys]))
    return rows


# --- schedules -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleStatus:
    schedule: DrillSchedule
    last_drill: datetime | None
    next_due: datetime

    def overdue(self, now: datetime) -> bool:
        return now >= self.next_due

    def remind_now(self, now: datetime) -> bool:
        return self.schedule.active and now >= self.next_due - timedelta(days=self.schedule.remind_days_before)


def schedule_statuses() -> list[ScheduleStatus]:
    """Every schedule with its last drill and when the next is due (from the last drill, or its creation)."""
    schedules = DrillSchedule.objects.annotate(last_drill=Max("drills__started_at")).order_by("team")
    return [
        ScheduleStatus(
            schedule=s,
            last_drill=s.last_drill,
            next_due=(s.last_drill or s.created_at) + timedelta(days=s.every_days),
        )
        for s in schedules
    ]


def drills_url() -> str:
    return f"{settings.FAILSAFE_BASE_URL.rstrip('/')}{reverse('drill-list')}"
