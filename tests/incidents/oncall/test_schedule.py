"""Rotation maths (incidents.oncall.schedule): pure functions, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from incidents.oncall import schedule

LONDON = ZoneInfo("Europe/London")
# Mondays 09:00 London; leader 1 starts Monday 2026-03-16.
WEEKLY = schedule.Weekly(weekday=0, at=time(9, 0), start=date(2026, 3, 16), zone="Europe/London")


def at(*args, tz=LONDON) -> datetime:
    return datetime(*args, tzinfo=tz)


def test_weekly_turns_follow_the_member_order_and_wrap():
    members = [1, 2]
    assert schedule.weekly_turn(WEEKLY, members, at(2026, 3, 16, 9, 0))[0] == 1
    assert schedule.weekly_turn(WEEKLY, members, at(2026, 3, 23, 8, 59))[0] == 1
    assert schedule.weekly_turn(WEEKLY, members, at(2026, 3, 23, 9, 0))[0] == 2
    assert schedule.weekly_turn(WEEKLY, members, at(2026, 3, 30, 9, 0))[0] == 1


def test_weekly_handoff_stays_at_nine_local_across_the_spring_dst_change():
    # The clocks go forward on Sunday 29 March 2026: the handoff on Monday 30 March is 09:00 BST = 08:00 UTC.
    member, since, until = schedule.weekly_turn(WEEKLY, [1, 2], at(2026, 3, 25, 12, 0))
    assert member == 2
    assert since == datetime(2026, 3, 23, 9, 0, tzinfo=UTC)  # GMT: 09:00 London is 09:00 UTC
    assert until == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # BST: 09:00 London is 08:00 UTC
    assert (until - since).total_seconds() == 167 * 3600
    # One minute before 08:00 UTC on the Monday it is still member 2; at 08:00 UTC member 1 takes over.
    assert schedule.weekly_turn(WEEKLY, [1, 2], datetime(2026, 3, 30, 7, 59, tzinfo=UTC))[0] == 2
    assert schedule.weekly_turn(WEEKLY, [1, 2], datetime(2026, 3, 30, 8, 0, tzinfo=UTC))[0] == 1


def test_weekly_handoff_across_the_autumn_dst_change_lasts_169_hours():
    weekly = schedule.Weekly(weekday=0, at=time(9, 0), start=date(2026, 10, 19), zone="Europe/London")
    _, since, until = schedule.weekly_turn(weekly, [1, 2], at(2026, 10, 28, 12, 0))
    assert since == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)  # the clocks went back on 25 October
    assert (until - since).total_seconds() == 168 * 3600
    _, since, until = schedule.weekly_turn(weekly, [1, 2], at(2026, 10, 20, 12, 0))
    assert since == datetime(2026, 10, 19, 8, 0, tzinfo=UTC) and until == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)
    assert (until - since).total_seconds() == 169 * 3600


def test_before_the_start_the_turns_run_backwards():
    assert schedule.weekly_turn(WEEKLY, [1, 2, 3], at(2026, 3, 10, 12, 0))[0] == 3


def test_custom_shifts_name_whoever_holds_the_moment():
    shifts = [
        schedule.Span(1, at(2026, 3, 2, 9), at(2026, 3, 4, 9)),
        schedule.Span(2, at(2026, 3, 4, 9), at(2026, 3, 9, 9)),
    ]
    found = schedule.on_call(weekly=None, members=[1, 2], shifts=shifts, overrides=[], now=at(2026, 3, 4, 10))
    assert found == schedule.OnCall(2, at(2026, 3, 9, 9), "rotation")
    assert schedule.on_call(weekly=None, members=[1, 2], shifts=shifts, overrides=[], now=at(2026, 3, 9, 9)) is None


def test_an_override_wins_over_the_rotation_and_ends_the_turn_early():
    overrides = [schedule.Span(7, at(2026, 3, 17, 12), at(2026, 3, 18, 12))]
    args = {"weekly": WEEKLY, "members": [1, 2], "shifts": [], "overrides": overrides}
    assert schedule.on_call(**args, now=at(2026, 3, 17, 13)) == schedule.OnCall(7, at(2026, 3, 18, 12), "override")
    before = schedule.on_call(**args, now=at(2026, 3, 17, 11))
    assert before == schedule.OnCall(1, at(2026, 3, 17, 12), "rotation")  # until the override starts
    assert schedule.on_call(**args, now=at(2026, 3, 18, 12)).user_id == 1


def test_gaps_and_overlaps_in_shifts_are_named_by_their_times():
    shifts = [
        schedule.Span(1, at(2026, 3, 2, 9), at(2026, 3, 4, 9)),
        schedule.Span(2, at(2026, 3, 4, 12), at(2026, 3, 6, 9)),
        schedule.Span(1, at(2026, 3, 6, 8), at(2026, 3, 9, 9)),
    ]
    problems = schedule.chain_problems(shifts, "Europe/London")
    assert problems == [
        "There is a gap between Wed 04 Mar 2026 09:00 and Wed 04 Mar 2026 12:00.",
        "Shifts overlap between Fri 06 Mar 2026 08:00 and Fri 06 Mar 2026 09:00.",
    ]


def test_overrides_may_leave_gaps_but_never_overlap():
    apart = [schedule.Span(1, at(2026, 3, 2, 9), at(2026, 3, 3, 9)), schedule.Span(2, at(2026, 3, 5), at(2026, 3, 6))]
    assert schedule.overlap_problems(apart, "UTC") == []
    clash = [*apart, schedule.Span(3, at(2026, 3, 2, 20), at(2026, 3, 4))]
    assert len(schedule.overlap_problems(clash, "Europe/London")) == 1


def test_next_in_turn_wraps_and_skips_people_already_paged():
    assert schedule.next_in_turn([1, 2, 3], 3, set()) == 1
    assert schedule.next_in_turn([1, 2, 3], 1, {2}) == 3
    assert schedule.next_in_turn([1], 1, {1}) is None
