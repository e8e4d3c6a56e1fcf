"""Who is on call, as pure functions over plain data (no ORM): the one place the rotation maths lives.

- Weekly: members take turns a week each; the handoff is a weekday and a wall-clock time in the
  rotation's time zone (09:00 stays 09:00 across a daylight-saving change, so that week is 167 or
  169 hours long). `start` is the day of a handoff at which the first member begins.
- Custom: explicit shifts (who, from, until) that must follow each other without gap or overlap.
- Overrides win over either, for their own span.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Span:
    """Someone on call from `start` until `end` (aware datetimes; end exclusive)."""

    user_id: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Weekly:
    weekday: int  # 0 = Monday
    at: time
    start: date  # a handoff day: the first member's first week starts here
    zone: str


@dataclass(frozen=True)
class OnCall:
    user_id: int
    until: datetime | None  # the next handoff (or the override's end); None when nothing is planned
    source: str  # "override", "rotation"


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"Unknown time zone {name!r}.") from error


def is_zone(name: str) -> bool:
    return name in available_timezones()


def _handoff_at(day: date, weekly: Weekly) -> datetime:
    """The wall-clock handoff that day, in UTC: Python subtracts and compares two datetimes of one
    zone by their wall clocks, which would make a DST week 168 hours long."""
    return datetime.combine(day, weekly.at, tzinfo=zone(weekly.zone)).astimezone(UTC)


def weekly_turn(weekly: Weekly, members: Sequence[int], now: datetime) -> tuple[int, datetime, datetime] | None:
    """(member on call, since, until) at `now`; None without members. Before `start` the turns
    run backwards, so the rotation always names someone."""
    if not members:
        return None
    local = now.astimezone(zone(weekly.zone))
    day = local.date() - timedelta(days=(local.weekday() - weekly.weekday) % 7)
    since = _handoff_at(day, weekly)
    if since > now:  # today is handoff day, but the handoff time has not come yet
        day -= timedelta(days=7)
        since = _handoff_at(day, weekly)
    weeks = (day - weekly.start).days // 7
    return members[weeks % len(members)], since, _handoff_at(day + timedelta(days=7), weekly)


def shift_at(shifts: Sequence[Span], now: datetime) -> Span | None:
    return next((s for s in shifts if s.start <= now < s.end), None)


def override_at(overrides: Sequence[Span], now: datetime) -> Span | None:
    return next((o for o in overrides if o.start <= now < o.end), None)


def on_call(
    *,
    weekly: Weekly | None,
    members: Sequence[int],
    shifts: Sequence[Span],
    overrides: Sequence[Span],
    now: datetime,
) -> OnCall | None:
    """Override first, then the rotation's turn (weekly) or shift (custom)."""
    override = override_at(overrides, now)
    if override is not None:
        return OnCall(override.user_id, override.end, "override")
    if weekly is not None:
        turn = weekly_turn(weekly, members, now)
        if turn is None:
            return None
        user_id, _, until = turn
    else:
        shift = shift_at(shifts, now)
        if shift is None:
            return None
        user_id, until = shift.user_id, shift.end
    # An override starting before the handoff ends this turn early.
    upcoming = [o.start for o in overrides if now < o.start < until]
    return OnCall(user_id, min(upcoming, default=until), "rotation")


def next_in_turn(members: Sequence[int], after: int, skip: set[int]) -> int | None:
    """The member after `after` in the rotation's order (wrapping), skipping those in `skip`."""
    if not members:
        return None
    start = members.index(after) + 1 if after in members else 0
    for k in range(len(members)):
        candidate = members[(start + k) % len(members)]
        if candidate not in skip:
            return candidate
    return None


def _fmt(moment: datetime, zone_name: str) -> str:
    return moment.astimezone(zone(zone_name)).strftime("%a %d %b %Y %H:%M")


def chain_problems(spans: Sequence[Span], zone_name: str, *, what: str = "shifts") -> list[str]:
    """Why these spans do not follow each other exactly: each empty or backwards one, each gap and
    each overlap, named by its times in the rotation's zone. Empty when they chain."""
    problems = [f"A shift must end after it starts ({_fmt(s.start, zone_name)})." for s in spans if s.end <= s.start]
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    for before, after in zip(ordered, ordered[1:], strict=False):
        if after.start > before.end:
            problems.append(f"There is a gap between {_fmt(before.end, zone_name)} and {_fmt(after.start, zone_name)}.")
        elif after.start < before.end:
            problems.append(
                f"{what.capitalize()} overlap between {_fmt(after.start, zone_name)} and "
                f"{_fmt(min(before.end, after.end), zone_name)}."
            )
    return problems


def overlap_problems(spans: Sequence[Span], zone_name: str) -> list[str]:
    """Overrides may leave gaps (the rotation fills them) but never overlap."""
    problems = [
        f"An override must end after it starts ({_fmt(s.start, zone_name)})." for s in spans if s.end <= s.start
    ]
    ordered = sorted((s for s in spans if s.end > s.start), key=lambda s: (s.start, s.end))
    for k, before in enumerate(ordered):
        for after in ordered[k + 1 :]:
            if after.start >= before.end:
                break
            problems.append(
                f"Overrides overlap between {_fmt(after.start, zone_name)} and "
                f"{_fmt(min(before.end, after.end), zone_name)}."
            )
    return problems
