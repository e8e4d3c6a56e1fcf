"""How long each phase of a drill took, and who was slowest in it: a pure function over plain data.

The phases follow the path of the drill's lead correction (the first one requested that was
approved, else the first one requested):

    detect_report        detected → reported                       the reporter
    report_request       reported → first correction requested      who requested it
    request_approval     requested → last approval                  the approver who took longest
    approval_enforcement approved → enforced (dispatch verified)    dispatch, or who confirmed by hand
    lift                 lift asked (or expiry) → lifted at the edge  the lift's approver, else who asked

A phase not reached yet has no end and no duration; one whose end is before its start (a
backdated milestone) has no duration either.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

DISPATCH = "dispatch (system)"


@dataclass(frozen=True)
class Decision:
    who: str
    at: datetime


@dataclass(frozen=True)
class CorrectionFacts:
    id: int
    type: str
    requested_at: datetime
    requested_by: str
    approved_at: datetime | None = None
    approvals: tuple[Decision, ...] = ()
    enforced_at: datetime | None = None  # verified by the actuator's status, or confirmed by hand
    confirmed_by: str | None = None  # a person confirmed it by hand (no actuator)
    lift_asked: Decision | None = None
    lift_approvals: tuple[Decision, ...] = ()
    lifted_at: datetime | None = None


@dataclass(frozen=True)
class DrillFacts:
    detected_at: datetime | None
    reported_at: datetime
    reporter: str
    corrections: tuple[CorrectionFacts, ...] = ()


@dataclass(frozen=True)
class Phase:
    key: str
    label: str
    started_at: datetime | None
    ended_at: datetime | None
    who: str | None = None  # who was slowest in this phase (or whose step it was)
    who_seconds: float | None = None  # how long they took, from the phase's start
    correction: int | None = None

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None or self.ended_at < self.started_at:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = self.seconds
        return data


LABELS = {
    "detect_report": "Detection to report",
    "report_request": "Report to first correction request",
    "request_approval": "Request to last approval",
    "approval_enforcement": "Approval to enforcement",
    "lift": "Lift",
}
PHASE_KEYS = tuple(LABELS)


@dataclass(frozen=True)
class Timing:
    phases: tuple[Phase, ...] = field(default_factory=tuple)

    @property
    def slowest(self) -> Phase | None:
        """The phase a person took longest in (dispatch is not a person)."""
        human = [p for p in self.phases if p.who and p.who != DISPATCH and p.who_seconds is not None]
        return max(human, key=lambda p: p.who_seconds or 0.0, default=None)


def _since(start: datetime | None, at: datetime | None) -> float | None:
    return (at - start).total_seconds() if start is not None and at is not None and at >= start else None


def _slowest(start: datetime | None, decisions: tuple[Decision, ...]) -> tuple[str | None, float | None]:
    if not decisions:
        return None, None
    last = max(decisions, key=lambda d: d.at)
    return last.who, _since(start, last.at)


def lead_correction(corrections: tuple[CorrectionFacts, ...]) -> CorrectionFacts | None:
    ordered = sorted(corrections, key=lambda c: (c.requested_at, c.id))
    return next((c for c in ordered if c.approved_at is not None), ordered[0] if ordered else None)


def drill_timing(facts: DrillFacts) -> Timing:
    lead = lead_correction(facts.corrections)
    cid = lead.id if lead else None
    phases = [
        Phase(
            "detect_report", LABELS["detect_report"], facts.detected_at, facts.reported_at,
            who=facts.reporter, who_seconds=_since(facts.detected_at, facts.reported_at),
        ),
    ]  # fmt: skip
    if lead is None:
        phases += [Phase(key, LABELS[key], None, None) for key in PHASE_KEYS[1:]]
        phases[1] = Phase("report_request", LABELS["report_request"], facts.reported_at, None)
        return Timing(tuple(phases))
    approver, approver_seconds = _slowest(lead.requested_at, lead.approvals)
    lift_who, lift_seconds = _slowest(lead.lift_asked.at if lead.lift_asked else None, lead.lift_approvals)
    if lift_who is None and lead.lift_asked is not None:
        lift_who, lift_seconds = lead.lift_asked.who, None
    phases += [
        Phase(
            "report_request", LABELS["report_request"], facts.reported_at, lead.requested_at,
            who=lead.requested_by, who_seconds=_since(facts.reported_at, lead.requested_at), correction=cid,
        ),
        Phase(
            "request_approval", LABELS["request_approval"], lead.requested_at, lead.approved_at,
            who=approver, who_seconds=approver_seconds, correction=cid,
        ),
        Phase(
            "approval_enforcement", LABELS["approval_enforcement"], lead.approved_at, lead.enforced_at,
            who=lead.confirmed_by or (DISPATCH if lead.enforced_at else None),
            who_seconds=_since(lead.approved_at, lead.enforced_at), correction=cid,
        ),
        Phase(
            "lift", LABELS["lift"], lead.lift_asked.at if lead.lift_asked else None, lead.lifted_at,
            who=lift_who, who_seconds=lift_seconds, correction=cid,
        ),
    ]  # fmt: skip
    return Timing(tuple(phases))
