"""Everything that writes rotations, overrides and pages.

Rotations and overrides are configuration: admins and leadership edit them, each change a ledger
event. A page calls in whoever is on call for a role (nobody on call: the whole role at once);
if nobody acknowledges within FAILSAFE_PAGE_ACK_SECONDS the beat sweep pages the next person in
the rotation, then the whole role. The first acknowledgement stops it and stamps the incident's
acknowledged_at (time to acknowledge) if it is still empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import ledger
from accounts.actor import Actor
from accounts.models import User
from accounts.roles import Role
from config.errors import DomainError
from incidents import locks
from incidents.events import IncidentEvent
from incidents.models import Incident, Override, Page, PageRecipient, Rotation, RotationMember, Shift
from incidents.notifications import Event, Need, incident_url, members_of, notify
from incidents.oncall import schedule, selectors

# Who may create and edit rotations and overrides.
EDITOR_ROLES = (Role.ADMIN, Role.LEADERSHIP)
# Roles that can be paged: those that respond.
PAGED_ROLES = (Role.RESPONDER, Role.INCIDENT_COMMANDER, Role.LEADERSHIP)


def ack_seconds() -> float:
    return float(getattr(settings, "FAILSAFE_PAGE_ACK_SECONDS", 300))


def page_url(page: Page) -> str:
    return f"{settings.FAILSAFE_BASE_URL.rstrip('/')}/pages/{page.pk}/"


def may_edit_rotations(user: User | None) -> bool:
    return user is None or user.has_role(*EDITOR_ROLES)


def _require_editor(actor: Actor) -> None:
    if not may_edit_rotations(actor.user):
        raise DomainError("Only admins and leadership may edit on-call rotations.", code="forbidden")


# --- rotations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShiftPlan:
    user: User
    starts_at: datetime
    ends_at: datetime


def _holders(users: Sequence[User], role: str) -> list[str]:
    """Usernames among these that do not hold the role (or are inactive)."""
    return [u.username for u in users if role not in u.roles]


def _check_rotation(
    *,
    role: str,
    name: str,
    time_zone: str,
    handoff: str,
    members: Sequence[User],
    handoff_weekday: int | None,
    handoff_time: time | None,
    start_date: date | None,
    shifts: Sequence[ShiftPlan],
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if role not in [r.value for r in PAGED_ROLES]:
        add("role", f"Unknown role {role!r}: choose one of {', '.join(r.value for r in PAGED_ROLES)}.")
    if not name.strip():
        add("name", "Give the rotation a name.")
    if not schedule.is_zone(time_zone):
        add("time_zone", f"Unknown time zone {time_zone!r} (e.g. Europe/London, UTC).")
    if handoff not in Rotation.Handoff.values:
        add("handoff", f"Choose one of: {', '.join(Rotation.Handoff.values)}.")
    if not members:
        add("members", "A rotation needs at least one member.")
    if len({u.pk for u in members}) != len(members):
        add("members", "Each person appears once in the order.")
    if "role" not in errors and (strangers := _holders(members, role)):
        add("members", f"Not in the role {role}: {', '.join(strangers)}.")
    if handoff == Rotation.Handoff.WEEKLY:
        if handoff_weekday is None or not 0 <= handoff_weekday <= 6:
            add("handoff_weekday", "Choose the weekday of the handoff (0 = Monday … 6 = Sunday).")
        if handoff_time is None:
            add("handoff_time", "Give the time of the handoff.")
        if start_date is None:
            add("start_date", "Give the day the first member's first week starts.")
        elif handoff_weekday is not None and 0 <= handoff_weekday <= 6 and start_date.weekday() != handoff_weekday:
            add("start_date", f"The first week starts on a handoff day: a {schedule.WEEKDAYS[handoff_weekday]}.")
    elif handoff == Rotation.Handoff.CUSTOM:
        if not shifts:
            add("shifts", "A custom rotation needs its shifts.")
        ids = {u.pk for u in members}
        outsiders = sorted({s.user.username for s in shifts if s.user.pk not in ids})
        if outsiders:
            add("shifts", f"Not members of this rotation: {', '.join(outsiders)}.")
        if "time_zone" not in errors:
            spans = [schedule.Span(s.user.pk, s.starts_at, s.ends_at) for s in shifts]
            for problem in schedule.chain_problems(spans, time_zone):
                add("shifts", problem)
    return errors


def _snapshot(rotation: Rotation) -> dict[str, Any]:
    return {
        "role": rotation.role,
        "name": rotation.name,
        "time_zone": rotation.time_zone,
        "handoff": rotation.handoff,
        "handoff_weekday": rotation.handoff_weekday,
        "handoff_time": rotation.handoff_time.strftime("%H:%M") if rotation.handoff_time else None,
        "start_date": rotation.start_date.isoformat() if rotation.start_date else None,
        "members": [m.user.username for m in rotation.members.select_related("user").order_by("position")],
        "shifts": [
            [s.user.username, s.starts_at.isoformat(), s.ends_at.isoformat()]
            for s in rotation.shifts.select_related("user").order_by("starts_at")
        ],
    }


def _write(
    rotation: Rotation,
    *,
    name: str,
    time_zone: str,
    handoff: str,
    members: Sequence[User],
    handoff_weekday: int | None,
    handoff_time: time | None,
    start_date: date | None,
    shifts: Sequence[ShiftPlan],
) -> None:
    weekly = handoff == Rotation.Handoff.WEEKLY
    rotation.name = name.strip()
    rotation.time_zone = time_zone
    rotation.handoff = handoff
    rotation.handoff_weekday = handoff_weekday if weekly else None
    rotation.handoff_time = handoff_time if weekly else None
    rotation.start_date = start_date if weekly else None
    rotation.save()
    rotation.members.all().delete()
    RotationMember.objects.bulk_create(
        RotationMember(rotation=rotation, user=user, position=k) for k, user in enumerate(members)
    )
    rotation.shifts.all().delete()
    if not weekly:
        Shift.objects.bulk_create(
            Shift(rotation=rotation, user=s.user, starts_at=s.starts_at, ends_at=s.ends_at) for s in shifts
        )


@transaction.atomic
def rotation_create(
    *,
    actor: Actor,
    role: str,
    name: str,
    time_zone: str = "UTC",
    handoff: str = Rotation.Handoff.WEEKLY,
    members: Sequence[User],
    handoff_weekday: int | None = None,
    handoff_time: time | None = None,
    start_date: date | None = None,
    shifts: Sequence[ShiftPlan] = (),
) -> Rotation:
    _require_editor(actor)
    plan = {
        "name": name, "time_zone": time_zone, "handoff": handoff, "members": list(members),
        "handoff_weekday": handoff_weekday, "handoff_time": handoff_time, "start_date": start_date,
        "shifts": list(shifts),
    }  # fmt: skip
    errors = _check_rotation(role=role, **plan)
    if not errors and Rotation.objects.filter(role=role).exists():
        errors["role"] = [f"{role} already has a rotation: edit that one."]
    if errors:
        raise DomainError("The rotation was not saved: " + " ".join(m for ms in errors.values() for m in ms),
                          fields=errors)  # fmt: skip
    try:
        with transaction.atomic():
            rotation = Rotation.objects.create(role=role, name=name.strip())
    except IntegrityError as error:  # another editor created it meanwhile
        raise DomainError.invalid_field("role", f"{role} already has a rotation: edit that one.") from error
    _write(rotation, **plan)
    ledger.record(actor=actor, verb=IncidentEvent.ROTATION_CREATED, obj=rotation, after=_snapshot(rotation))
    return rotation


@transaction.atomic
def rotation_edit(
    *,
    actor: Actor,
    rotation: Rotation,
    name: str,
    time_zone: str,
    handoff: str,
    members: Sequence[User],
    handoff_weekday: int | None = None,
    handoff_time: time | None = None,
    start_date: date | None = None,
    shifts: Sequence[ShiftPlan] = (),
) -> Rotation:
    """Replace the rotation's settings, members and shifts (its role stays)."""
    _require_editor(actor)
    rotation = locks.lock_rotation(rotation.pk)
    plan = {
        "name": name, "time_zone": time_zone, "handoff": handoff, "members": list(members),
        "handoff_weekday": handoff_weekday, "handoff_time": handoff_time, "start_date": start_date,
        "shifts": list(shifts),
    }  # fmt: skip
    errors = _check_rotation(role=rotation.role, **plan)
    if errors:
        raise DomainError("The rotation was not saved: " + " ".join(m for ms in errors.values() for m in ms),
                          fields=errors)  # fmt: skip
    before = _snapshot(rotation)
    _write(rotation, **plan)
    after = _snapshot(rotation)
    keys = [k for k in after if before.get(k) != after.get(k)]
    if keys:
        ledger.record(
            actor=actor, verb=IncidentEvent.ROTATION_CHANGED, obj=rotation,
            before={k: before[k] for k in keys}, after={k: after[k] for k in keys},
        )  # fmt: skip
    return rotation


@transaction.atomic
def override_add(
    *,
    actor: Actor,
    rotation: Rotation,
    user: User,
    starts_at: datetime,
    ends_at: datetime,
    reason: str = "",
) -> Override:
    _require_editor(actor)
    rotation = locks.lock_rotation(rotation.pk)  # two overrides added at once are checked one after the other
    errors: dict[str, list[str]] = {}
    if rotation.role not in user.roles:
        errors["user"] = [f"{user.username} is not in the role {rotation.role}."]
    if ends_at <= starts_at:
        errors["ends_at"] = ["An override must end after it starts."]
    else:
        others = [schedule.Span(o.user_id, o.starts_at, o.ends_at) for o in rotation.overrides.all()]
        clashes = schedule.overlap_problems([*others, schedule.Span(user.pk, starts_at, ends_at)], rotation.time_zone)
        if clashes:
            errors["starts_at"] = clashes
    if errors:
        raise DomainError(
            "The override was not saved: " + " ".join(m for ms in errors.values() for m in ms), fields=errors
        )
    override = Override.objects.create(
        rotation=rotation, user=user, starts_at=starts_at, ends_at=ends_at, reason=reason.strip()[:200],
        created_by=actor.user,
    )  # fmt: skip
    ledger.record(
        actor=actor, verb=IncidentEvent.OVERRIDE_ADDED, obj=override,
        after={"role": rotation.role, "user": user.username, "starts_at": starts_at, "ends_at": ends_at,
               "reason": override.reason},
    )  # fmt: skip
    return override


@transaction.atomic
def override_remove(*, actor: Actor, override: Override) -> None:
    _require_editor(actor)
    locks.lock_rotation(override.rotation_id)
    before = {
        "role": override.rotation.role, "user": override.user.username,
        "starts_at": override.starts_at, "ends_at": override.ends_at,
    }  # fmt: skip
    ledger.record(actor=actor, verb=IncidentEvent.OVERRIDE_REMOVED, obj=override, before=before)
    override.delete()


# --- pages -------------------------------------------------------------------------------------


def _active_holders(users: Sequence[User], role: str) -> list[User]:
    return [u for u in users if u.is_active and role in u.roles]


def _send(page: Page, incident: Incident, users: Sequence[User], *, subject: str, summary: str) -> list[str]:
    """Page these people (one urgent notification, event "page", with the acknowledge link): those
    who may see the incident get the story; the others the generic message, which names only the
    ref and what it needs and still carries the link (DESIGN §7). The role's Slack channel (and the
    incident's own) is told as well, through the same recipient filter."""
    people = list({u.pk: u for u in users}.values())
    if not people:
        return []
    role = Role(page.role)
    ack = page_url(page)
    step = Page.Step(page.step).label
    body = (
        f"You are paged ({step}) for {incident.ref}: {Page.Reason(page.reason).label}.\n{summary}\n\n"
        f"Acknowledge: {ack}\n\n{incident_url(incident.ref)}"
    )
    told = notify(
        incident=incident, users=people, needs=Need.of(role), event=Event.PAGE, urgent=True, ack_url=ack,
        roles=[role], subject=f"{subject} — PAGE: acknowledge", body=body,
    )  # fmt: skip
    now = timezone.now()
    PageRecipient.objects.bulk_create(PageRecipient(page=page, user=u, step=page.step, paged_at=now) for u in people)
    return sorted(told)


def _subject(page: Page, incident: Incident, subject: str) -> str:
    return subject or f"{Page.Reason(page.reason).label} {incident.ref}: {incident.title}"


@transaction.atomic
def page_open(
    *,
    actor: Actor,
    incident: Incident,
    role: Role,
    reason: str,
    subject: str = "",
    summary: str = "",
    now: datetime | None = None,
) -> Page:
    """Page whoever is on call for `role` about `incident`; nobody on call: the whole role at once.

    While a page for the same incident, role and reason is unacknowledged, it is returned instead
    of a second one (a correction failing twice pages once). `subject` and `summary` reach only
    those who may see the incident.
    """
    if reason not in Page.Reason.values:
        raise DomainError.invalid_field("reason", f"Unknown reason {reason!r}.")
    now = now or timezone.now()
    open_page = Page.objects.filter(incident=incident, role=role, reason=reason, acknowledged_at__isnull=True).first()
    if open_page is not None:
        return open_page
    rotation = selectors.rotation_for_role(role, now=now)
    found = selectors.on_call_in(rotation, now) if rotation is not None else None
    on_call = _active_holders(User.objects.filter(pk=found.user_id), role) if found else []
    page = Page(incident=incident, reason=reason, role=role, created_at=now)
    if on_call:
        page.step, page.next_step_at = Page.Step.ON_CALL, now + timedelta(seconds=ack_seconds())
        people = on_call
    else:
        page.step, page.next_step_at = Page.Step.WHOLE_ROLE, None
        people = members_of(role)
    try:
        with transaction.atomic():
            page.save()
    except IntegrityError:
        # Another transaction opened the same page since the check above (page_open_once).
        return Page.objects.get(incident=incident, role=role, reason=reason, acknowledged_at__isnull=True)
    paged = _send(page, incident, people, subject=_subject(page, incident, subject), summary=summary)
    ledger.record(
        actor=actor, verb=IncidentEvent.PAGE_OPENED, obj=page, incident_ref=incident.ref,
        after={"role": role, "reason": reason, "step": Page.Step(page.step).label, "paged": paged,
               "next_step_at": page.next_step_at},
    )  # fmt: skip
    return page


def _next_person(page: Page, role: str, already: set[int], now: datetime) -> User | None:
    """The next person in the role's rotation after whoever was paged first: the scheduled person
    if an override was paged, else the next member in the rotation's order."""
    rotation = selectors.rotation_for_role(role, now=now)
    if rotation is None:
        return None
    members = selectors.member_ids(rotation)
    first = min(page.recipients.all(), key=lambda r: (r.step, r.pk), default=None)
    scheduled = selectors.scheduled_in(rotation, now)
    candidates = [scheduled] if scheduled is not None and scheduled not in already else []
    turn = schedule.next_in_turn(members, first.user_id if first else -1, already)
    candidates += [turn] if turn is not None else []
    people = {u.pk: u for u in User.objects.filter(pk__in=candidates).prefetch_related("groups")}
    for pk in candidates:
        user = people.get(pk)
        if user is not None and pk not in already and _active_holders([user], role):
            return user
    return None


@transaction.atomic
def page_escalate(*, actor: Actor, page_id: int, now: datetime | None = None) -> bool:
    """Page the next step if the page is still unacknowledged and due. Under the page's lock, so
    two sweeps at once escalate it once. Returns whether it escalated."""
    now = now or timezone.now()
    page = locks.lock_page(page_id)
    if page.acknowledged_at is not None or page.next_step_at is None or page.next_step_at > now:
        return False
    already = set(page.recipients.values_list("user_id", flat=True))
    nxt = _next_person(page, page.role, already, now) if page.step == Page.Step.ON_CALL else None
    if nxt is not None:
        page.step, page.next_step_at = Page.Step.NEXT, now + timedelta(seconds=ack_seconds())
        people = [nxt]
    else:
        page.step, page.next_step_at = Page.Step.WHOLE_ROLE, None
        people = [u for u in members_of(Role(page.role)) if u.pk not in already]
    page.save(update_fields=["step", "next_step_at"])
    paged = _send(
        page, page.incident, people, subject=_subject(page, page.incident, ""), summary="Nobody has acknowledged yet."
    )
    ledger.record(
        actor=actor, verb=IncidentEvent.PAGE_ESCALATED, obj=page, incident_ref=page.incident.ref,
        after={"role": page.role, "reason": page.reason, "step": Page.Step(page.step).label, "paged": paged,
               "next_step_at": page.next_step_at},
    )  # fmt: skip
    return True


def pages_escalate_due(*, actor: Actor, now: datetime | None = None) -> int:
    """The beat sweep: escalate every unacknowledged page that is due, each in its own transaction."""
    now = now or timezone.now()
    due = Page.objects.filter(next_step_at__lte=now, acknowledged_at__isnull=True).values_list("pk", flat=True)
    return sum(page_escalate(actor=actor, page_id=pk, now=now) for pk in list(due[:500]))


@transaction.atomic
def page_acknowledge(*, actor: Actor, page: Page, now: datetime | None = None) -> Page:
    """Acknowledge a page: someone paged or any member of its role. A second acknowledgement
    changes nothing and answers with the page as the first left it (idempotent)."""
    user = actor.user
    if user is None:
        raise DomainError("Only a person acknowledges a page.", code="forbidden")
    now = now or timezone.now()
    incident = locks.lock_incident(page.incident_id)  # first, as every writer of the incident
    page = locks.lock_page(page.pk)
    if not selectors.may_acknowledge(user, page):
        raise DomainError(
            f"Only someone paged, or a member of {page.role.replace('_', ' ')}, may acknowledge this page.",
            code="forbidden",
        )
    if page.acknowledged_at is not None:
        return page
    page.acknowledged_at, page.acknowledged_by, page.next_step_at = now, user, None
    page.save(update_fields=["acknowledged_at", "acknowledged_by", "next_step_at"])
    stamped = incident.acknowledged_at is None
    if stamped:
        incident.acknowledged_at = now
        incident.save(update_fields=["acknowledged_at", "updated_at"])
    ledger.record(
        actor=actor, verb=IncidentEvent.PAGE_ACKNOWLEDGED, obj=page, incident_ref=incident.ref,
        after={"role": page.role, "reason": page.reason, "by": user.username,
               "seconds": round((now - page.created_at).total_seconds(), 3),
               "incident_acknowledged_at": incident.acknowledged_at if stamped else None},
    )  # fmt: skip
    return page
