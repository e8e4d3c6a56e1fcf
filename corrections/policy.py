"""Sign-off arithmetic: which approvals fill which requirement of a policy snapshot.

Requirements are AND-ed; each approver fills at most one slot, so "1 leadership and 1 commander"
needs two distinct people. Filling slots is a small bipartite matching.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, TypedDict


class Requirement(TypedDict):
    """One AND-ed requirement of a policy: `count` distinct approvers, each holding one of `roles`."""

    roles: list[str]
    count: int


def requirement(data: Mapping[str, Any]) -> Requirement:
    """A requirement read from stored JSON; one missing a key is refused (KeyError), never defaulted."""
    return {"roles": data["roles"], "count": data["count"]}


@dataclass(frozen=True)
class Signoff:
    satisfied: bool
    filled: dict[int, str]  # approver id -> the role their slot needed
    missing: list[Requirement]  # still needed

    def describe_missing(self) -> str:
        return "; ".join(f"{m['count']} × {' or '.join(m['roles'])}" for m in self.missing) or "nothing"


@dataclass(frozen=True)
class PolicySnapshot:
    """The approval policy in force when a correction was requested; the request keeps it, whatever
    later versions say. Stored as JSON on Correction.policy_snapshot: as_dict() is that JSON."""

    policy_id: int | None
    tier: int
    version: int
    requester_roles: tuple[str, ...]
    requirements: tuple[Requirement, ...]  # AND-ed: what evaluate() takes
    pending_ttl_minutes: int
    execution_window_minutes: int
    requires_second_factor: bool
    requires_typed_confirmation: bool
    break_glass_roles: tuple[str, ...]
    sev1_commander_may_break_glass: bool
    ratification_hours: int

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicySnapshot:
        """Every key is required: a snapshot missing one is refused, never filled in with a default."""
        values = {f.name: data[f.name] for f in fields(cls)}
        values["requester_roles"] = tuple(values["requester_roles"])
        values["break_glass_roles"] = tuple(values["break_glass_roles"])
        values["requirements"] = tuple(requirement(r) for r in values["requirements"])
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """The stored JSON, key for key and in the same order as ever, so existing rows still load."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["requester_roles"] = list(self.requester_roles)
        values["break_glass_roles"] = list(self.break_glass_roles)
        values["requirements"] = [dict(r) for r in self.requirements]
        return values


def _slots(requirements: Sequence[Requirement]) -> list[tuple[int, frozenset[str]]]:
    return [(i, frozenset(req["roles"])) for i, req in enumerate(requirements) for _ in range(int(req["count"]))]


def evaluate(requirements: Sequence[Requirement], approvers: Iterable[tuple[int, Iterable[str]]]) -> Signoff:
    """approvers: (user id, roles) of each live approval, in the order they were given."""
    slots = _slots(requirements)
    holder: dict[int, int] = {}  # slot index -> approver id
    roles_of = {uid: frozenset(roles) for uid, roles in approvers}

    def place(uid: int, seen: set[int]) -> bool:
        for s, (_, allowed) in enumerate(slots):
            if s in seen or not (roles_of[uid] & allowed):
                continue
            seen.add(s)
            if s not in holder or place(holder[s], seen):
                holder[s] = uid
                return True
        return False

    for uid in roles_of:
        place(uid, set())
    filled = {uid: sorted(roles_of[uid] & slots[s][1])[0] for s, uid in holder.items()}
    missing_by_req: dict[int, int] = {}
    for s, (req, _) in enumerate(slots):
        if s not in holder:
            missing_by_req[req] = missing_by_req.get(req, 0) + 1
    missing: list[Requirement] = [
        {"roles": list(requirements[i]["roles"]), "count": n} for i, n in sorted(missing_by_req.items())
    ]
    return Signoff(satisfied=not missing, filled=filled, missing=missing)


def eligible_roles(requirements: Sequence[Requirement]) -> frozenset[str]:
    return frozenset(role for req in requirements for role in req["roles"])


def would_count(
    requirements: Sequence[Requirement],
    approvers: Sequence[tuple[int, Iterable[str]]],
    candidate: tuple[int, Iterable[str]],
) -> bool:
    """Does adding this (id, roles) fill one more slot than the approvals already given?"""
    before = evaluate(requirements, approvers)
    after = evaluate(requirements, [*approvers, candidate])
    return len(after.filled) > len(before.filled)


# --- who may sign off: one rule for the page's buttons and the service's refusal ------------------


@dataclass(frozen=True)
class Refusal:
    """Why a person may not decide; the service raises it as DomainError(message, code=code)."""

    code: str  # "conflict" (409) or "forbidden" (403)
    message: str


@dataclass(frozen=True)
class Decision:
    """Plain facts about a correction a person is about to decide on (no ORM here)."""

    tier: int
    state_label: str  # e.g. "pending approval", for the message
    open_for_approval: bool  # pending approval, or a break-glass correction awaiting ratification
    pending: bool  # pending approval: only then can it be rejected
    requester_id: int
    editor_ids: frozenset[int]  # whoever changed what will run (DESIGN §3: they count as requesters)
    requirements: Sequence[Requirement]
    approvals: Sequence[tuple[int, Iterable[str]]]  # (approver id, roles) of each live approval
    closed_incident: str = ""  # e.g. "INC-2026-0005 is closed", when nothing may be approved on it


def _closed_refusal(closed_incident: str) -> Refusal | None:
    if closed_incident:
        return Refusal("conflict", f"{closed_incident}: nothing can be approved on it until a commander reopens it.")
    return None


def _authors_refusal(facts: Decision, user_id: int, *, instead: str) -> Refusal | None:
    if user_id == facts.requester_id:
        return Refusal("conflict", f"You requested this correction; {instead}.")
    if user_id in facts.editor_ids:
        return Refusal("conflict", f"You edited this correction; {instead}.")
    return None


def approval_refusal(facts: Decision, user_id: int, roles: Iterable[str]) -> Refusal | None:
    """None if this person's approval (or ratification) would count now, else why not."""
    roles = frozenset(roles)
    if not facts.open_for_approval:
        return Refusal("conflict", f"This correction is {facts.state_label}; it can no longer be approved.")
    closed = _closed_refusal(facts.closed_incident)
    if closed:
        return closed
    authored = _authors_refusal(facts, user_id, instead="someone else must approve it")
    if authored:
        return authored
    current = [(uid, frozenset(r)) for uid, r in facts.approvals]
    if any(uid == user_id for uid, _ in current):
        return Refusal("conflict", "You have already approved this correction.")
    if not roles & eligible_roles(facts.requirements):
        return Refusal("forbidden", f"Your role cannot approve a tier {facts.tier} correction.")
    if not would_count(facts.requirements, current, (user_id, roles)):
        still = evaluate(facts.requirements, current).describe_missing()
        return Refusal("conflict", f"Your approval would not count towards what is still needed: {still}.")
    return None


def rejection_refusal(facts: Decision, user_id: int, roles: Iterable[str]) -> Refusal | None:
    """None if this person may reject the request now, else why not."""
    if not facts.pending:
        return Refusal("conflict", f"This correction is {facts.state_label}; it can no longer be rejected.")
    authored = _authors_refusal(facts, user_id, instead="cancel it instead of rejecting it")
    if authored:
        return authored
    if not frozenset(roles) & eligible_roles(facts.requirements):
        return Refusal("forbidden", f"Your role cannot decide a tier {facts.tier} correction.")
    return None


# --- lifting early: one leadership approval, not the person who asked (DESIGN §4) -----------------

LIFT_REQUIREMENTS: tuple[Requirement, ...] = ({"roles": ["leadership"], "count": 1},)
LIFT_SIGNOFF_FROM_TIER = 3  # lifting a tier 3–4 correction restores the most exposure


def lift_needs_signoff(tier: int) -> bool:
    return tier >= LIFT_SIGNOFF_FROM_TIER


@dataclass(frozen=True)
class LiftDecision:
    """Plain facts about a request to lift a correction early."""

    tier: int
    pending: bool
    state_label: str  # of the lift request, e.g. "rejected"
    requester_id: int
    closed_incident: str = ""


def lift_decision_refusal(facts: LiftDecision, user_id: int, roles: Iterable[str], *, verb: str) -> Refusal | None:
    """None if this person may approve (verb="approve") or reject the lift now, else why not."""
    if not facts.pending:
        return Refusal("conflict", f"This lift is {facts.state_label}; it can no longer be decided.")
    if verb == "approve":
        closed = _closed_refusal(facts.closed_incident)
        if closed:
            return closed
    if user_id == facts.requester_id:
        return Refusal("conflict", "You asked to lift this correction; someone else in leadership must decide.")
    if not evaluate(LIFT_REQUIREMENTS, [(user_id, roles)]).satisfied:
        return Refusal("forbidden", f"Only leadership may decide on lifting a tier {facts.tier} correction early.")
    return None
