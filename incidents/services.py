"""Everything that writes incidents, timeline entries and signals.

Each function runs in one transaction: it locks the rows it changes, checks the rule, writes
the change and its ledger event together. The acting user arrives as an explicit Actor.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from accounts import ledger
from accounts.actor import Actor
from accounts.models import User
from accounts.roles import ESCALATION_LADDER, Role
from config.errors import DomainError
from incidents import closing, hooks, locks
from incidents.events import IncidentEvent
from incidents.models import (
    OPEN_STATUSES,
    SEVERITY_RANK,
    STATUS_MILESTONES,
    STATUS_TRANSITIONS,
    Category,
    ChecklistItem,
    ClosingException,
    Deployment,
    Incident,
    IncidentUserObjectPermission,
    RiskDomain,
    Severity,
    Signal,
    Source,
    Status,
    TimelineEntry,
)
from incidents.models.integrations import Integration
from incidents.models.oncall import Page
from incidents.notifications import Event, Need, incident_url, members_of, notify
from incidents.oncall import services as oncall
from incidents.selectors import VIEW_RESTRICTED, can_view_incident

# Statuses only a commander (or above) may set: declaring resolution is theirs.
COMMANDER_STATUSES = {Status.RESOLVED, Status.IN_REVIEW, Status.CLOSED}
COMMANDER_ROLES = (Role.INCIDENT_COMMANDER, Role.LEADERSHIP, Role.ADMIN)
EDITABLE_FIELDS = ("title", "summary", "category", "risk_domain", "source", "occurred_at", "detected_at")


def next_statuses_for(*, user: User, incident: Incident) -> list[str]:
    """The statuses this user may move the incident to next (declaring resolution is a commander's)."""
    statuses = incident.allowed_next_statuses
    if user.has_role(*COMMANDER_ROLES):
        return statuses
    if incident.status == Status.CLOSED:  # reopening is a commander's too
        return []
    return [s for s in statuses if s not in COMMANDER_STATUSES]


def closing_blockers_for(*, incident: Incident, statuses: Sequence[str]) -> list[tuple[str, list[closing.Found]]]:
    """For each of these next statuses that something stands in the way of: what (the page shows it)."""
    return [(s, found) for s in statuses if (found := closing.blockers_for(incident, s))]


# --- guards ------------------------------------------------------------------------------------


def _require_writer(actor: Actor) -> None:
    if actor.user is not None and not actor.user.can_write:
        raise DomainError("Your role may read incidents but not change them.", code="forbidden")


def _require_commander(actor: Actor, what: str) -> None:
    if actor.user is not None and not actor.user.has_role(*COMMANDER_ROLES):
        raise DomainError(f"Only an incident commander or leadership may {what}.", code="forbidden")


def _lock(incident: Incident, actor: Actor) -> Incident:
    """Re-read the incident under a row lock (always the first lock a service takes)."""
    locked = locks.lock_incident(incident.pk)
    if actor.user is not None and not can_view_incident(actor.user, locked):
        raise DomainError("No such incident.", code="not_found")
    return locked


def _require_reason(reason: str, field: str = "reason") -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError.invalid_field(field, "A reason is required for this change.")
    return reason


def _require_choice(field: str, value: str, choices: type[models.TextChoices]) -> None:
    if value not in choices.values:
        raise DomainError.invalid_field(field, f"{value!r} is not one of: {', '.join(choices.values)}.")


def _not_in_future(value: datetime | None, field: str) -> None:
    if value is not None and value > timezone.now() + timedelta(minutes=5):
        raise DomainError.invalid_field(field, "This time is in the future.")


def _snapshot(incident: Incident) -> dict[str, Any]:
    return {
        "title": incident.title,
        "summary": incident.summary,
        "category": incident.category,
        "risk_domain": incident.risk_domain,
        "severity": incident.severity,
        "status": incident.status,
        "source": incident.source,
        "restricted": incident.restricted,
        "occurred_at": incident.occurred_at,
        "detected_at": incident.detected_at,
        "commander": incident.commander.username if incident.commander is not None else None,
    }


def _changed(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def _grant_view(incident: Incident, users: Sequence[User]) -> None:
    for user in users:
        assign_perm(VIEW_RESTRICTED, user, incident)


def _next_ref(now: datetime) -> str:
    counter = locks.lock_incident_counter(now.year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return f"INC-{now.year}-{counter.last:04d}"


def _page_leadership_for_sev1(actor: Actor, incident: Incident) -> list[str]:
    """A SEV1 pages leadership's on-call (incidents.oncall); the usernames paged."""
    page = oncall.page_open(
        actor=actor,
        incident=incident,
        role=Role.LEADERSHIP,
        reason=Page.Reason.SEV1,
        subject=f"SEV1 {incident.ref}: {incident.title}",
        summary=f"{actor.name} raised {incident.ref} to SEV1.\n\n{incident.summary}",
    )
    # The page reached leadership's people and Slack channel; webhooks subscribed to "sev1" hear it here.
    notify(
        incident=incident, users=(), event=Event.SEV1, needs=Need.LEADERSHIP,
        subject=f"SEV1 {incident.ref}: {incident.title}",
        body=f"{actor.name} raised {incident.ref} to SEV1.\n\n{incident.summary}\n\n{incident_url(incident.ref)}",
    )  # fmt: skip
    return sorted(page.recipients.values_list("user__username", flat=True))


# --- incidents ---------------------------------------------------------------------------------


@transaction.atomic
def incident_create(
    *,
    actor: Actor,
    title: str,
    category: str,
    risk_domain: str,
    severity: str,
    summary: str = "",
    source: str = Source.OTHER,
    deployments: Sequence[Deployment] = (),
    occurred_at: datetime | None = None,
    detected_at: datetime | None = None,
    restricted: bool = False,
    is_drill: bool = False,
) -> Incident:
    """Log an incident. `is_drill` marks a rehearsal for good (corrections.drills starts those)."""
    _require_writer(actor)
    _require_choice("category", category, Category)
    _require_choice("risk_domain", risk_domain, RiskDomain)
    _require_choice("severity", severity, Severity)
    _require_choice("source", source, Source)
    if not title.strip():
        raise DomainError.invalid_field("title", "Give the incident a title.")
    _not_in_future(occurred_at, "occurred_at")
    _not_in_future(detected_at, "detected_at")
    now = timezone.now()
    incident = Incident.objects.create(
        ref=_next_ref(now),
        title=title.strip(),
        summary=summary,
        category=category,
        risk_domain=risk_domain,
        severity=severity,
        source=source,
        restricted=restricted,
        is_drill=is_drill,
        reporter=actor.user,
        occurred_at=occurred_at,
        detected_at=detected_at or now,
        reported_at=now,
    )
    incident.deployments.set(deployments)
    if actor.user is not None:
        incident.participants.add(actor.user)
        if restricted:
            _grant_view(incident, [actor.user])
    ledger.record(
        actor=actor,
        verb=IncidentEvent.CREATED,
        obj=incident,
        incident_ref=incident.ref,
        after={**_snapshot(incident), "ref": incident.ref, "deployments": sorted(d.slug for d in deployments)}
        | ({"is_drill": True} if is_drill else {}),
    )
    if severity == Severity.SEV1:  # after the incident's first event: the page.opened event says who
        _page_leadership_for_sev1(actor, incident)
    hooks.run_on_triage(actor=actor, incident=incident, trigger=hooks.Trigger.CREATED)
    incident.refresh_from_db(fields=["checklist_total", "checklist_done"])
    return incident


@transaction.atomic
def incident_edit(
    *,
    actor: Actor,
    incident: Incident,
    changes: dict[str, Any],
    reason: str = "",
    closing_exception: str = "",
) -> Incident:
    """Apply any mix of field, deployment, severity and status changes as one change.

    A change of severity or status needs a reason; each is its own ledger event. Resolving,
    closing and dismissing are refused while incidents.closing finds something in the way; a
    commander may close over what its checks allow with `closing_exception`, a reason.
    """
    _require_writer(actor)
    incident = _lock(incident, actor)
    changes = dict(changes)
    severity = changes.pop("severity", None)
    status = changes.pop("status", None)
    deployments = changes.pop("deployments", None)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise DomainError.invalid_field(sorted(unknown)[0], "This field cannot be changed here.")
    severity_before = incident.severity
    if severity is not None and severity != incident.severity:
        _change_severity(actor, incident, severity, _require_reason(reason), record=True)
    if status is not None and status != incident.status:
        _change_status(actor, incident, status, _require_reason(reason), closing_exception=closing_exception)
    elif (closing_exception or "").strip():
        raise DomainError.invalid_field("closing_exception", "An exception is recorded only with a change of status.")
    _not_in_future(changes.get("occurred_at"), "occurred_at")
    _not_in_future(changes.get("detected_at"), "detected_at")
    before = _snapshot(incident)
    before_deployments = sorted(incident.deployments.values_list("slug", flat=True))
    for name, value in changes.items():
        setattr(incident, name, value.strip() if name == "title" else value)
    incident.save()
    after = _snapshot(incident)
    old, new = _changed(before, after)
    if deployments is not None:
        incident.deployments.set(deployments)
        after_deployments = sorted(d.slug for d in deployments)
        if after_deployments != before_deployments:
            old["deployments"], new["deployments"] = before_deployments, after_deployments
    if new:
        ledger.record(
            actor=actor, verb=IncidentEvent.UPDATED, obj=incident, incident_ref=incident.ref,
            before=old, after=new, reason=reason,
        )  # fmt: skip
    if (severity is not None and severity != severity_before) or {"category", "risk_domain"} & set(new):
        hooks.run_on_triage(actor=actor, incident=incident, trigger=hooks.Trigger.CHANGED)
        incident.refresh_from_db(fields=["checklist_total", "checklist_done"])
    return incident


def _change_severity(actor: Actor, incident: Incident, severity: str, reason: str, *, record: bool) -> list[str]:
    if severity not in Severity.values:
        raise DomainError.invalid_field("severity", f"Unknown severity {severity!r}.")
    before = incident.severity
    incident.severity = severity
    incident.save(update_fields=["severity", "updated_at"])
    paged = _page_leadership_for_sev1(actor, incident) if severity == Severity.SEV1 else []
    if record:
        ledger.record(
            actor=actor, verb=IncidentEvent.SEVERITY_CHANGED, obj=incident, incident_ref=incident.ref,
            before={"severity": before}, after={"severity": severity} | ({"paged": paged} if paged else {}),
            reason=reason,
        )  # fmt: skip
    return paged


def _change_status(actor: Actor, incident: Incident, status: str, reason: str, *, closing_exception: str) -> None:
    if status not in Status.values:
        raise DomainError.invalid_field("status", f"Unknown status {status!r}.")
    allowed = STATUS_TRANSITIONS[Status(incident.status)]
    if status not in allowed:
        options = ", ".join(sorted(allowed)) or "none: the incident is closed"
        raise DomainError(
            f"An incident that is {incident.status} cannot become {status}. Allowed next: {options}.",
            code="conflict",
            fields={"status": [f"Not allowed from {incident.status}."]},
        )
    if status in COMMANDER_STATUSES:
        _require_commander(actor, f"mark an incident {status}")
    reopening = incident.status == Status.CLOSED
    if reopening:
        _require_commander(actor, "reopen a closed incident")
    exception = _clear_the_way(actor, incident, status, (closing_exception or "").strip())
    before = incident.status
    incident.status = status
    cleared: dict[str, Any] = {}
    if reopening:  # resolving and closing are earned again, and stamped again when they are
        cleared = {"resolved_at": incident.resolved_at, "closed_at": incident.closed_at}
        incident.resolved_at = incident.closed_at = None
    milestone = STATUS_MILESTONES.get(Status(status))
    if milestone and getattr(incident, milestone) is None:
        setattr(incident, milestone, timezone.now())
    incident.save()
    if exception is not None:
        ledger.record(
            actor=actor, verb=IncidentEvent.CLOSING_EXCEPTION_RECORDED, obj=exception, incident_ref=incident.ref,
            after={"status": status, "overrode": exception.overrode}, reason=exception.reason,
        )  # fmt: skip
    ledger.record(
        actor=actor, verb=IncidentEvent.REOPENED if reopening else IncidentEvent.STATUS_CHANGED, obj=incident,
        incident_ref=incident.ref, before={"status": before, **cleared}, after={"status": status}, reason=reason,
    )  # fmt: skip


def _blocked_message(incident: Incident, status: str, found: list[closing.Found]) -> str:
    lines = [f"{incident.ref} cannot become {status} yet:"]
    for item in found:
        lines += [f"{item.check.title}: " + "; ".join(b.text.rstrip(".") for b in item.blockers) + "."]
    return " ".join(lines)


def _clear_the_way(actor: Actor, incident: Incident, status: str, exception: str) -> ClosingException | None:
    """Refuse the status while something blocks it, unless a commander's exception may override all of it.

    Runs under the incident's lock: a request made or approved meanwhile waits for this transaction.
    """
    found = closing.blockers_for(incident, status)
    if not found:
        if exception:
            raise DomainError.invalid_field("closing_exception", "Nothing stands in the way: no exception is needed.")
        return None
    firm = [item for item in found if not item.check.overridable]
    if firm or not exception:
        hint = (
            " These must be decided or cancelled first."
            if firm
            else " A commander may record a reasoned exception to go ahead anyway."
        )
        raise DomainError(
            _blocked_message(incident, status, firm or found) + hint,
            code="conflict",
            fields={"status": [f"{item.check.title}." for item in firm or found]},
        )
    _require_commander(actor, "record an exception to close an incident")
    if actor.user is None:
        raise DomainError("Only a person may record an exception.", code="forbidden")
    return ClosingException.objects.create(
        incident=incident,
        status=status,
        reason=exception,
        overrode=[item.as_dict() for item in found],
        recorded_by=actor.user,
    )


@transaction.atomic
def incident_escalate(*, actor: Actor, incident: Incident, reason: str, severity: str | None = None) -> Incident:
    """Raise severity (never lower it) and call in the next role up the ladder."""
    _require_writer(actor)
    reason = _require_reason(reason)
    incident = _lock(incident, actor)
    if severity and severity not in Severity.values:
        raise DomainError.invalid_field("severity", f"Unknown severity {severity!r}.")
    if severity and SEVERITY_RANK[Severity(severity)] > SEVERITY_RANK[Severity(incident.severity)]:
        raise DomainError.invalid_field(
            "severity", f"Escalation cannot lower severity from {incident.severity}; change the severity instead."
        )
    if not incident.is_open:
        raise DomainError(f"{incident.ref} is {incident.status}; reopen it before escalating.", code="conflict")
    before_severity = incident.severity
    paged: list[str] = []
    if severity and severity != incident.severity:
        # The escalation event below records the new severity.
        paged = _change_severity(actor, incident, severity, reason, record=False)
    called_in = _next_role_up(incident)
    if called_in is not None:
        paged = sorted(
            set(paged)
            | set(
                notify(
                    incident=incident,
                    users=[u for u in members_of(called_in) if u.username not in paged],  # paged already
                    needs=Need.of(called_in),
                    event=Event.ESCALATION,
                    roles=[called_in],
                    subject=f"Escalated {incident.ref} ({incident.severity}): {incident.title}",
                    body=f"{actor.name} escalated {incident.ref}: {reason}\n\n{incident_url(incident.ref)}",
                )
            )
        )
    ledger.record(
        actor=actor, verb=IncidentEvent.ESCALATED, obj=incident, incident_ref=incident.ref,
        before={"severity": before_severity},
        after={"severity": incident.severity, "called_in": called_in.value if called_in else None, "paged": paged},
        reason=reason,
    )  # fmt: skip
    hooks.run_on_triage(actor=actor, incident=incident, trigger=hooks.Trigger.ESCALATED)
    incident.refresh_from_db(fields=["checklist_total", "checklist_done"])
    return incident


def _next_role_up(incident: Incident) -> Role | None:
    """No commander yet: call in the commanders. Otherwise: leadership."""
    if incident.commander_id is None:
        return ESCALATION_LADDER[1]
    return ESCALATION_LADDER[2]


@transaction.atomic
def incident_assign(
    *,
    actor: Actor,
    incident: Incident,
    commander: User | None = None,
    add_participants: Sequence[User] = (),
) -> Incident:
    _require_commander(actor, "assign people to an incident")
    incident = _lock(incident, actor)
    before = {"commander": incident.commander.username if incident.commander is not None else None}
    if commander is not None:
        if not commander.has_role(*COMMANDER_ROLES):
            raise DomainError.invalid_field("commander", f"{commander.username} is not an incident commander.")
        incident.commander = commander
        incident.save(update_fields=["commander", "updated_at"])
    people = [*add_participants, *([commander] if commander else [])]
    incident.participants.add(*people)
    if incident.restricted:
        _grant_view(incident, people)
    ledger.record(
        actor=actor, verb=IncidentEvent.ASSIGNED, obj=incident, incident_ref=incident.ref,
        before=before,
        after={
            "commander": incident.commander.username if incident.commander is not None else None,
            "participants_added": sorted(u.username for u in add_participants),
        },
    )  # fmt: skip
    return incident


@transaction.atomic
def incident_grant_access(*, actor: Actor, incident: Incident, user: User, reason: str, revoke: bool = False) -> None:
    """Grant (or revoke) one person's view of a restricted incident; the grant is itself an event."""
    _require_commander(actor, "grant access to a restricted incident")
    reason = _require_reason(reason)
    incident = _lock(incident, actor)
    if not incident.restricted:  # read under the lock: a grant must not lie in wait for a later restriction
        raise DomainError("This incident is not restricted: everyone with a role can already see it.", code="conflict")
    # Groups, not user.roles: that cache would stay on the caller's object after a later change.
    if not revoke and user.groups.filter(name=Role.LEADERSHIP).exists():
        raise DomainError.invalid_field("user", f"{user.username} is leadership and already sees every incident.")
    # Read under the lock too: of two grants (or revokes) racing for one person, the second is refused.
    granted = IncidentUserObjectPermission.objects.filter(
        content_object=incident, user=user, permission__codename=VIEW_RESTRICTED
    ).exists()
    if granted and not revoke:
        raise DomainError(f"{user.username} already has access to {incident.ref}.", code="conflict")
    if revoke and not granted:
        raise DomainError(f"{user.username} holds no grant on {incident.ref}.", code="conflict")
    (remove_perm if revoke else assign_perm)(VIEW_RESTRICTED, user, incident)
    ledger.record(
        actor=actor, verb=IncidentEvent.ACCESS_REVOKED if revoke else IncidentEvent.ACCESS_GRANTED,
        obj=incident, incident_ref=incident.ref, after={"user": user.username}, reason=reason,
    )  # fmt: skip


# --- timeline ----------------------------------------------------------------------------------


@transaction.atomic
def timeline_entry_add(
    *,
    actor: Actor,
    incident: Incident,
    kind: str,
    body: str,
    options_considered: str = "",
    rationale: str = "",
    occurred_at: datetime | None = None,
) -> TimelineEntry:
    _require_writer(actor)
    author = actor.user
    if author is None:  # an entry says who wrote it: a system task has no one to name
        raise DomainError("Only a person can add to the timeline.", code="forbidden")
    incident = _lock(incident, actor)
    if kind not in TimelineEntry.Kind.values:
        raise DomainError.invalid_field("kind", "Choose note or decision.")
    if not body.strip():
        raise DomainError.invalid_field("body", "Write something.")
    if kind == TimelineEntry.Kind.DECISION and not rationale.strip():
        raise DomainError.invalid_field("rationale", "A decision needs its rationale.")
    _not_in_future(occurred_at, "occurred_at")
    entry = TimelineEntry.objects.create(
        incident=incident,
        kind=kind,
        body=body,
        options_considered=options_considered if kind == TimelineEntry.Kind.DECISION else "",
        rationale=rationale if kind == TimelineEntry.Kind.DECISION else "",
        occurred_at=occurred_at or timezone.now(),
        author=author,
    )
    ledger.record(
        actor=actor,
        verb=IncidentEvent.DECISION_RECORDED if kind == TimelineEntry.Kind.DECISION else IncidentEvent.NOTE_ADDED,
        obj=entry,
        incident_ref=incident.ref,
        after={
            "kind": kind,
            "body": entry.body,
            "options_considered": entry.options_considered,
            "rationale": entry.rationale,
            "occurred_at": entry.occurred_at,
        },
    )
    return entry


# --- the checklist -----------------------------------------------------------------------------

MAX_CHECKLIST_STEPS = 200


@transaction.atomic
def checklist_add(*, actor: Actor, incident: Incident, steps: Sequence[str], source: str) -> list[ChecklistItem]:
    """Copy steps onto the incident's checklist, after those already there (e.g. a playbook's, on match)."""
    incident = _lock(incident, actor)
    steps = [step.strip() for step in steps if step.strip()]
    if not steps:
        return []
    if incident.checklist_total + len(steps) > MAX_CHECKLIST_STEPS:
        raise DomainError.invalid_field("steps", f"An incident's checklist holds at most {MAX_CHECKLIST_STEPS} steps.")
    start = incident.checklist_total
    items = ChecklistItem.objects.bulk_create(
        ChecklistItem(incident=incident, position=start + n + 1, text=text[:300], source=source[:120])
        for n, text in enumerate(steps)
    )
    incident.checklist_total += len(items)
    incident.save(update_fields=["checklist_total", "updated_at"])
    ledger.record(
        actor=actor, verb=IncidentEvent.CHECKLIST_ADDED, obj=incident, incident_ref=incident.ref,
        after={"source": source, "steps": [item.text for item in items]},
    )  # fmt: skip
    return items


@transaction.atomic
def checklist_item_tick(*, actor: Actor, incident: Incident, item_id: int) -> ChecklistItem:
    """Tick one step: who and when are kept, and the timeline says so. Ticking twice is refused."""
    _require_writer(actor)
    incident = _lock(incident, actor)
    if actor.user is None:
        raise DomainError("Ticking a step needs a person.", code="forbidden")
    item = locks.lock_checklist_item(incident=incident, item_id=item_id)
    if item is None:
        raise DomainError("No such step on this incident's checklist.", code="not_found")
    if item.ticked_at is not None:
        who = item.ticked_by.username if item.ticked_by is not None else "someone"
        raise DomainError(f"This step was already ticked by {who}.", code="conflict")
    item.ticked_by, item.ticked_at = actor.user, timezone.now()
    item.save(update_fields=["ticked_by", "ticked_at"])
    incident.checklist_done += 1
    incident.save(update_fields=["checklist_done", "updated_at"])
    ledger.record(
        actor=actor, verb=IncidentEvent.CHECKLIST_TICKED, obj=item, incident_ref=incident.ref,
        after={"position": item.position, "step": item.text,
               "progress": f"{incident.checklist_done}/{incident.checklist_total}"},
    )  # fmt: skip
    return item


# --- signals -----------------------------------------------------------------------------------


@transaction.atomic
def signal_ingest(
    *,
    actor: Actor,
    source: str,
    title: str,
    detail: str = "",
    severity_hint: str = "",
    deployment: Deployment | None = None,
    dedup_key: str = "",
    integration: Integration | None = None,
    alert_started_at: datetime | None = None,
    link: str = "",
) -> tuple[Signal, bool]:
    """Record a signal, or fold it into the open signal or incident with the same dedup key.

    `integration`, `alert_started_at` and `link` come from a monitoring integration
    (incidents.integrations, which ingests a delivery's alerts in one batch with `signal_new` and
    `signal_fold`). Returns (signal, created).
    """
    _require_writer(actor)
    now = timezone.now()
    if dedup_key:
        existing = locks.lock_open_signal(dedup_key=dedup_key, still_open=open_signal_q())
        if existing is not None:
            after = signal_fold(existing, title=title, alert_started_at=alert_started_at, now=now)
            existing.save(update_fields=SIGNAL_FOLD_FIELDS)
            ref = existing.incident.ref if existing.incident is not None else ""
            ledger.record(actor=actor, verb=IncidentEvent.SIGNAL_FOLDED, obj=existing, incident_ref=ref, after=after)
            return existing, False
    signal, after = signal_new(
        actor=actor, source=source, title=title, detail=detail, severity_hint=severity_hint, deployment=deployment,
        dedup_key=dedup_key, integration=integration, alert_started_at=alert_started_at, link=link, now=now,
    )  # fmt: skip
    signal.save(force_insert=True)
    ledger.record(actor=actor, verb=IncidentEvent.SIGNAL_RECEIVED, obj=signal, after=after)
    return signal, True


SIGNAL_FOLD_FIELDS = ["occurrences", "last_seen_at", "alert_started_at"]


def signal_new(
    *,
    actor: Actor,
    source: str,
    title: str,
    now: datetime,
    detail: str = "",
    severity_hint: str = "",
    deployment: Deployment | None = None,
    dedup_key: str = "",
    integration: Integration | None = None,
    alert_started_at: datetime | None = None,
    link: str = "",
) -> tuple[Signal, dict[str, object]]:
    """A new signal, not yet saved, and what its `signal.received` event records."""
    signal = Signal(
        source=source, title=title.strip(), detail=detail, severity_hint=severity_hint, deployment=deployment,
        dedup_key=dedup_key, first_seen_at=now, last_seen_at=now, created_by=actor.user, integration=integration,
        alert_started_at=alert_started_at, link=link,
    )  # fmt: skip
    after: dict[str, object] = {"source": source, "title": signal.title, "severity_hint": severity_hint,
             "deployment": deployment.slug if deployment else None, "dedup_key": dedup_key,
             **({"integration": integration.name} if integration else {})}  # fmt: skip
    return signal, after


def signal_fold(signal: Signal, *, title: str, alert_started_at: datetime | None, now: datetime) -> dict[str, object]:
    """Fold one more occurrence into `signal` (locked by the caller; saving SIGNAL_FOLD_FIELDS is
    the caller's) and return what its `signal.folded` event records."""
    signal.occurrences += 1
    signal.last_seen_at = now
    signal.alert_started_at = alert_started_at or signal.alert_started_at
    return {"occurrences": signal.occurrences, "title": title}


def open_signal_q() -> Q:
    """Signals a new one with the same dedup key folds into: open, or promoted into an open incident."""
    return Q(state=Signal.State.OPEN) | Q(state=Signal.State.PROMOTED, incident__status__in=OPEN_STATUSES)


@transaction.atomic
def signal_promote(
    *,
    actor: Actor,
    signal: Signal,
    category: str = "other",
    risk_domain: str = "other",
    severity: str | None = None,
) -> Incident:
    """Turn an open signal into an incident in one step."""
    _require_writer(actor)
    signal = locks.lock_signal(signal.pk, with_deployment=True)
    if signal.state != Signal.State.OPEN:
        raise DomainError(f"This signal is already {signal.state}.", code="conflict")
    incident = incident_create(
        actor=actor,
        title=signal.title,
        summary=signal.detail,
        category=category,
        risk_domain=risk_domain,
        severity=severity or signal.severity_hint or Severity.SEV3,
        source=signal.source,
        deployments=[signal.deployment] if signal.deployment else [],
        detected_at=signal.first_seen_at,
    )
    signal.state = Signal.State.PROMOTED
    signal.incident = incident
    signal.save(update_fields=["state", "incident"])
    ledger.record(
        actor=actor, verb=IncidentEvent.SIGNAL_PROMOTED, obj=signal, incident_ref=incident.ref,
        after={"incident": incident.ref, "occurrences": signal.occurrences},
    )  # fmt: skip
    return incident


@transaction.atomic
def signal_dismiss(*, actor: Actor, signal: Signal, reason: str) -> Signal:
    _require_writer(actor)
    reason = _require_reason(reason)
    signal = locks.lock_signal(signal.pk)
    if signal.state != Signal.State.OPEN:
        raise DomainError(f"This signal is already {signal.state}.", code="conflict")
    signal.state = Signal.State.DISMISSED
    signal.save(update_fields=["state"])
    ledger.record(actor=actor, verb=IncidentEvent.SIGNAL_DISMISSED, obj=signal, reason=reason)
    return signal
