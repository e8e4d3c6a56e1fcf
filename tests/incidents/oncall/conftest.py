from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from accounts.roles import Role
from incidents.oncall import services as oncall

# A Monday 09:00 UTC: leader1's first week.
MONDAY = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)


@pytest.fixture
def leaders(make_user):
    return [make_user(Role.LEADERSHIP, username=f"leader-{k}") for k in (1, 2, 3)]


@pytest.fixture
def rotation(leaders, actor_for):
    """Leadership, weekly on Mondays 09:00 UTC from MONDAY: leader-1, leader-2, leader-3."""
    return oncall.rotation_create(
        actor=actor_for(leaders[0]), role=Role.LEADERSHIP, name="Leadership", time_zone="UTC",
        members=leaders, handoff_weekday=0, handoff_time=time(9, 0), start_date=date(2026, 3, 16),
    )  # fmt: skip


@pytest.fixture
def now():
    """Wednesday of leader-1's first week."""
    return MONDAY + timedelta(days=2)
