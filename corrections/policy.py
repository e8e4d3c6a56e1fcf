"""Sign-off arithmetic: which approvals fill which requirement of a policy snapshot.

Requirements are AND-ed; each approver fills at most one slot, so "1 leadership and 1 commander"
needs two distinct people. Filling slots is a small bipartite matching.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, TypedDict, TypeVar


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


# --- playbooks: which incidents a playbook matches, and pre-authorisation (DESIGN §8a) ------------

K = TypeVar("K")
NEVER_PREAUTHORISED = frozenset({"destroy_weights"})
PREAUTHORISED_MAX_TIER = 3  # tier 4 never runs without its two leadership approvals


def severity_rank(severity: str) -> int:
    """SEV1 → 1 (most severe); anything else sorts after every real severity."""
    if isinstance(severity, str) and severity.startswith("SEV") and severity[3:].isdigit():
        return int(severity[3:])
    return 99


@dataclass(frozen=True)
class IncidentProfile:
    """What a playbook's matchers read of an incident."""

    category: str
    risk_domain: str
    severity: str
    deployments: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Matcher:
    """Categories and risk domains (empty: any), the least severity matched, and a priority (higher wins)."""

    categories: frozenset[str]
    risk_domains: frozenset[str]
    min_severity: str
    priority: int

    def matches(self, incident: IncidentProfile) -> bool:
        return (
            (not self.categories or incident.category in self.categories)
            and (not self.risk_domains or incident.risk_domain in self.risk_domains)
            and severity_rank(incident.severity) <= severity_rank(self.min_severity)
        )

    def overlaps(self, other: Matcher) -> bool:
        """Could both match one incident at equal priority? (Every minimum severity includes SEV1.)"""

        def meet(a: frozenset[str], b: frozenset[str]) -> bool:
            return not a or not b or bool(a & b)

        return (
            self.priority == other.priority
            and meet(self.categories, other.categories)
            and meet(self.risk_domains, other.risk_domains)
        )


def best_match(candidates: Sequence[tuple[K, Matcher]], incident: IncidentProfile) -> K | None:
    """The matching candidate of highest priority; on a tie (refused when playbooks are saved) the first."""
    best: tuple[K, Matcher] | None = None
    for key, matcher in candidates:
        if matcher.matches(incident) and (best is None or matcher.priority > best[1].priority):
            best = (key, matcher)
    return best[0] if best else None


def rematch_attaches(*, attached: tuple[Any, Matcher] | None, found: tuple[Any, Matcher]) -> bool:
    """Whether a playbook found on re-matching (escalation, a changed severity) is attached beside the one
    already there: when none is, or when it is another playbook (keys differ) of higher priority. The same
    playbook again, or a lower one the incident now also matches, adds nothing."""
    if attached is None:
        return True
    return found[0] != attached[0] and found[1].priority > attached[1].priority


def preauthorisation_refusal(type_key: str, tier: int) -> str | None:
    """Why this correction type can never be pre-authorised by a playbook, or None."""
    if type_key in NEVER_PREAUTHORISED:
        return f"{type_key} is never pre-authorised: it is recorded and confirmed by hand."
    if tier > PREAUTHORISED_MAX_TIER:
        return f"A tier {tier} correction is never pre-authorised: it always needs its full sign-off."
    return None


@dataclass(frozen=True)
class PreAuthorisation:
    """A playbook version's pre-authorised correction, as the request service reads it."""

    version_id: int
    label: str  # e.g. "cbrn-uplift v2"
    matcher: Matcher
    type: str
    params: Mapping[str, Any]
    duration_minutes: int | None  # None: no limit named
    approved: bool  # leadership approved this version's pre-authorisation


@dataclass(frozen=True)
class RequestFacts:
    """A correction request, validated, before any sign-off."""

    type: str
    tier: int  # the catalogue's tier for these parameters
    params: Mapping[str, Any]
    duration_minutes: int | None
    deployment: str | None
    break_glass: bool = False


def params_within(requested: Mapping[str, Any], named: Mapping[str, Any]) -> bool:
    """The same parameters, each equal to what the playbook names, or (lists) a part of it."""
    if set(requested) != set(named):
        return False
    for key, value in requested.items():
        allowed = named[key]
        if isinstance(allowed, list):
            if not isinstance(value, list) or not value or not set(value) <= set(allowed):
                return False
        elif value != allowed:
            return False
    return True


def preauthorised_by(
    request: RequestFacts, incident: IncidentProfile, candidates: Sequence[PreAuthorisation]
) -> PreAuthorisation | None:
    """The approved playbook version that lowers this request to tier 1, or None (the normal tier applies).

    All must hold: the type may be pre-authorised at all (never tier 4, never destroy_weights); the
    version's pre-authorisation is approved by leadership; it names this type; the playbook matches
    the incident; the parameters are within what it names; the duration is no longer than it names;
    the target is one of the incident's deployments. Break glass is its own path, never this one.
    """
    if request.break_glass or request.tier <= 1 or preauthorisation_refusal(request.type, request.tier):
        return None
    if request.deployment is None or request.deployment not in incident.deployments:
        return None
    for candidate in candidates:
        if not candidate.approved or candidate.type != request.type:
            continue
        if not candidate.matcher.matches(incident) or not params_within(request.params, candidate.params):
            continue
        if candidate.duration_minutes is not None and (
            request.duration_minutes is None or request.duration_minutes > candidate.duration_minutes
        ):
            continue
        return candidate
    return None


@dataclass(frozen=True)
class PreAuthApproval:
    """Plain facts about a playbook version whose pre-authorisation someone is about to approve."""

    current: bool
    names_one: bool  # the version names a pre-authorised correction
    approved: bool
    author_id: int


def preauth_approval_refusal(facts: PreAuthApproval, user_id: int, roles: Iterable[str]) -> Refusal | None:
    """None if this person may approve the version's pre-authorisation now, else why not."""
    if "leadership" not in frozenset(roles):
        return Refusal("forbidden", "Only leadership may approve a playbook's pre-authorisation.")
    if not facts.names_one:
        return Refusal("conflict", "This version pre-authorises nothing; there is nothing to approve.")
    if not facts.current:
        return Refusal("conflict", "This is not the playbook's current version; review the current one.")
    if facts.approved:
        return Refusal("conflict", "This version's pre-authorisation is already approved.")
    if user_id == facts.author_id:
        return Refusal("conflict", "You wrote this version; someone else in leadership must approve it.")
    return None
