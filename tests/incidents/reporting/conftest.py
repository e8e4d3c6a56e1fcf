"""Fixtures for regulators' clocks: a frozen, movable `now`, the people, and shortcuts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from accounts.roles import Role
from incidents.reporting import services


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class FrozenClock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at


@pytest.fixture
def now(monkeypatch):
    """`now.set(utc(...))` moves the time every service reads (django.utils.timezone.now)."""
    frozen = FrozenClock(utc(2026, 9, 1, 12, 0))
    monkeypatch.setattr(timezone, "now", frozen)
    return frozen


@pytest.fixture
def people(make_user):
    return {
        "responder": make_user(Role.RESPONDER, username="responder"),
        "commander": make_user(Role.INCIDENT_COMMANDER, username="commander"),
        "leader": make_user(Role.LEADERSHIP, username="leader"),
        "auditor": make_user(Role.AUDITOR, username="auditor"),
        "admin": make_user(Role.ADMIN, username="admin"),
    }


@pytest.fixture
def assess(people, actor_for):
    """assess(incident, regime, decision="applies", by=commander, **facts_and_milestones)."""

    def run(incident, regime, decision="applies", *, by=None, reason="", facts=None, **milestones):
        return services.assessment_record(
            actor=actor_for(by or people["commander"]), incident=incident, regime=regime, decision=decision,
            reason=reason, facts=facts, milestones=milestones,
        )  # fmt: skip

    return run
