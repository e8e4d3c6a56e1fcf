"""A correction's targets: one per deployment it acts on, each with its own progress (DESIGN §4).

Pure functions over target states, no ORM: what a set of targets adds up to, and what the
correction becomes once a dispatch is over. The services and the pages ask the same questions here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from corrections.models import State, TargetState

IN_FORCE = frozenset({TargetState.ACTIVE, TargetState.MANUAL_DONE, TargetState.LIFTING})
# Targets an apply still has to reach (a failed one is tried again by a retry).
TO_APPLY = frozenset({TargetState.PENDING, TargetState.APPLYING, TargetState.FAILED})


@dataclass(frozen=True)
class Rollup:
    """How far a correction has got across its targets."""

    total: int
    in_force: int
    manual_pending: int
    failed: int
    lifted: int

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.in_force == self.total

    @property
    def partial(self) -> bool:
        return self.total > 1 and not self.complete and self.in_force + self.manual_pending > 0

    def label(self) -> str:
        """ "in force", "partly in force (2 of 3)", "awaiting a manual step", or "" when nothing is in force
        anywhere and nobody is asked to act."""
        if self.complete:
            return "in force" if self.total == 1 else f"in force ({self.total} of {self.total})"
        if self.in_force:
            return f"partly in force ({self.in_force} of {self.total})"
        if self.manual_pending:
            return "awaiting a manual step" if self.total == 1 else f"awaiting manual steps ({self.manual_pending})"
        return ""


def rollup(states: Iterable[str]) -> Rollup:
    states = list(states)
    return Rollup(
        total=len(states),
        in_force=sum(s in IN_FORCE for s in states),
        manual_pending=sum(s == TargetState.MANUAL_PENDING for s in states),
        failed=sum(s == TargetState.FAILED for s in states),
        lifted=sum(s == TargetState.LIFTED for s in states),
    )


def after_apply(states: Iterable[str]) -> str:
    """What a correction becomes once its apply is over for every target it could reach."""
    summary = rollup(states)
    if summary.failed:
        return State.FAILED
    if summary.complete:
        return State.ACTIVE
    return State.PARTLY_ACTIVE


def after_lift(states: Iterable[str]) -> str:
    """What a correction becomes once its lift is over: lifted only when every target is."""
    summary = rollup(states)
    if summary.failed:
        return State.FAILED
    if summary.lifted == summary.total:
        return State.LIFTED
    return State.LIFTING  # manual lift steps remain
