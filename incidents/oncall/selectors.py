"""Reads: who is on call now, the rotations page, and a page as one user may see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from incidents.models import Override, Page, PageRecipient, Rotation, RotationMember
from incidents.oncall import schedule
from incidents.selectors import incidents_visible_to


@dataclass(frozen=True)
class OnCallNow:
    rotation: Rotation
    user: User | None
    until: datetime | None
    source: str  # "override", "rotation", or "" when nobody is on call


def rotations_with_people(*, now: datetime | None = None) -> QuerySet[Rotation]:
    """Rotations with their members, shifts and current and future overrides (one query each)."""
    now = now or timezone.now()
    return Rotation.objects.prefetch_related(
        Prefetch("members", queryset=RotationMember.objects.select_related("user").order_by("position")),
        "shifts__user",
        Prefetch(
            "overrides",
            queryset=Override.objects.filter(ends_at__gt=now).select_related("user").order_by("starts_at"),
            to_attr="current_overrides",
        ),
    ).order_by("role")


def weekly_of(rotation: Rotation) -> schedule.Weekly | None:
    if rotation.handoff != Rotation.Handoff.WEEKLY:
        return None
    if rotation.handoff_weekday is None or rotation.handoff_time is None or rotation.start_date is None:
        return None
    return schedule.Weekly(rotation.handoff_weekday, rotation.handoff_time, rotation.start_date, rotation.time_zone)


def member_ids(rotation: Rotation) -> list[int]:
    return [m.user_id for m in rotation.members.all()]


def _spans(rows) -> list[schedule.Span]:
    return [schedule.Span(r.user_id, r.starts_at, r.ends_at) for r in rows]


def on_call_in(rotation: Rotation, now: datetime) -> schedule.OnCall | None:
    """Who the rotation (prefetched by rotations_with_people) names at `now`."""
    overrides = getattr(rotation, "current_overrides", None)
    if overrides is None:
        overrides = list(rotation.overrides.filter(ends_at__gt=now))
    return schedule.on_call(
        weekly=weekly_of(rotation),
        members=member_ids(rotation),
        shifts=_spans(rotation.shifts.all()) if rotation.handoff == Rotation.Handoff.CUSTOM else [],
        overrides=_spans(overrides),
        now=now,
    )


def scheduled_in(rotation: Rotation, now: datetime) -> int | None:
    """Who the rotation itself names at `now`, overrides aside."""
    found = schedule.on_call(
        weekly=weekly_of(rotation),
        members=member_ids(rotation),
        shifts=_spans(rotation.shifts.all()) if rotation.handoff == Rotation.Handoff.CUSTOM else [],
        overrides=[],
        now=now,
    )
    return found.user_id if found else None


def _people(rotation: Rotation) -> dict[int, User]:
    people = {m.user_id: m.user for m in rotation.members.all()}
    people |= {s.user_id: s.user for s in rotation.shifts.all()}
    people |= {o.user_id: o.user for o in getattr(rotation, "current_overrides", [])}
    return people


def on_call_now(*, now: datetime | None = None) -> list[OnCallNow]:
    """For each rotation: who is on call now and until when. Four queries whatever the size."""
    now = now or timezone.now()
    return on_call_rows(rotations_with_people(now=now), now=now)


def on_call_rows(rotations, *, now: datetime | None = None) -> list[OnCallNow]:
    """Who each of these rotations (prefetched by rotations_with_people) names at `now`."""
    now = now or timezone.now()
    rows = []
    for rotation in rotations:
        found = on_call_in(rotation, now)
        user = _people(rotation).get(found.user_id) if found else None
        rows.append(OnCallNow(rotation, user, found.until if found else None, found.source if found else ""))
    return rows


def rotation_for_role(role: str, *, now: datetime) -> Rotation | None:
    return rotations_with_people(now=now).filter(role=role).first()


def rotation_get(pk: int) -> Rotation | None:
    return rotations_with_people().filter(pk=pk).first()


# --- pages ---------------------------------------------------------------------------------------


def pages_visible_to(user: User) -> QuerySet[Page]:
    """Pages this user was sent, pages to a role they hold, and pages about incidents they may see.
    Seeing a page is not seeing its incident: the page view shows details only to the latter."""
    if not user.is_authenticated or not user.roles:
        return Page.objects.none()
    paged = PageRecipient.objects.filter(page=OuterRef("pk"), user=user)
    return Page.objects.filter(
        Q(Exists(paged)) | Q(role__in=sorted(user.roles)) | Q(incident__in=incidents_visible_to(user).values("pk"))
    )


def page_for(*, user: User, pk: int) -> Page | None:
    return (
        pages_visible_to(user)
        .select_related("incident", "acknowledged_by")
        .prefetch_related(Prefetch("recipients", queryset=PageRecipient.objects.select_related("user")))
        .filter(pk=pk)
        .first()
    )


def may_acknowledge(user: User, page: Page) -> bool:
    """Someone paged, or any member of the paged role."""
    if not user.is_authenticated:
        return False
    return page.role in user.roles or any(r.user_id == user.pk for r in page.recipients.all())
