"""What else happens when a report version is submitted, without this package importing it
(e.g. the regulator's clock is met: incidents.reporting's clock_meet, wired at merge).

    from incidents.reports import hooks
    hooks.on_submitted(lambda *, actor, version: clock_meet(...))

Callbacks run inside the submission's transaction, after the version is frozen and its ledger
event written, with the incident locked: their writes and events commit with it (or not at all).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from accounts.actor import Actor
from incidents.models.reports import ReportVersion


class Submitted(Protocol):
    def __call__(self, *, actor: Actor, version: ReportVersion) -> None: ...


_ON_SUBMITTED: list[Submitted] = []


def on_submitted(callback: Submitted) -> Submitted:
    """Register a callback (usable as a decorator); registering the same one twice keeps one."""
    if callback not in _ON_SUBMITTED:
        _ON_SUBMITTED.append(callback)
    return callback


def remove(callback: Callable[..., None]) -> None:
    if callback in _ON_SUBMITTED:
        _ON_SUBMITTED.remove(callback)


def run_submitted(*, actor: Actor, version: ReportVersion) -> None:
    for callback in list(_ON_SUBMITTED):
        callback(actor=actor, version=version)
