"""Sign-off arithmetic: which approvals fill which requirement of a policy snapshot.

Requirements are AND-ed; each approver fills at most one slot, so "1 leadership and 1 commander"
needs two distinct people. Filling slots is a small bipartite matching.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Signoff:
    satisfied: bool
    filled: dict[int, str]  # approver id -> the role their slot needed
    missing: list[dict]  # [{"roles": [...], "count": n}] still needed

    def describe_missing(self) -> str:
        return "; ".join(f"{m['count']} × {' or '.join(m['roles'])}" for m in self.missing) or "nothing"


def _slots(requirements: Sequence[dict]) -> list[tuple[int, frozenset[str]]]:
    return [(i, frozenset(req["roles"])) for i, req in enumerate(requirements) for _ in range(int(req["count"]))]


def evaluate(requirements: Sequence[dict], approvers: Iterable[tuple[int, Iterable[str]]]) -> Signoff:
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
    missing = [{"roles": list(requirements[i]["roles"]), "count": n} for i, n in sorted(missing_by_req.items())]
    return Signoff(satisfied=not missing, filled=filled, missing=missing)


def eligible_roles(requirements: Sequence[dict]) -> frozenset[str]:
    return frozenset(role for req in requirements for role in req["roles"])


def would_count(requirements: Sequence[dict], approvers: list[tuple[int, Iterable[str]]], candidate) -> bool:
    """Does adding this (id, roles) fill one more slot than the approvals already given?"""
    before = evaluate(requirements, approvers)
    after = evaluate(requirements, [*approvers, candidate])
    return len(after.filled) > len(before.filled)
