"""Who may publish and who may approve a review, as pure functions over plain data (no ORM), the
one place these rules live (like corrections.policy for sign-off).

- The incident's commander publishes; with no commander, anyone holding the incident commander role.
- SEV1 and SEV2 also need one live leadership approval of exactly the version being published
  (its content hash). An edit after the approval voids it.
- Four eyes: the approver is neither someone who edited that version nor the publisher, so one
  leader who commands the incident cannot approve and publish their own review alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

COMMANDER = "incident_commander"
LEADERSHIP = "leadership"
APPROVAL_SEVERITIES = frozenset({"SEV1", "SEV2"})


@dataclass(frozen=True)
class Refusal:
    message: str
    code: str = "conflict"  # or "forbidden"


@dataclass(frozen=True)
class ApprovalFact:
    approver_id: int
    approver_roles: frozenset[str]
    content_hash: str


@dataclass(frozen=True)
class VersionFacts:
    severity: str
    commander_id: int | None
    content_hash: str
    editor_ids: frozenset[int]
    approvals: tuple[ApprovalFact, ...] = field(default_factory=tuple)  # live ones only


def needs_approval(severity: str) -> bool:
    return severity in APPROVAL_SEVERITIES


def may_publish(facts: VersionFacts, user_id: int, roles: Iterable[str]) -> bool:
    if facts.commander_id is not None:
        return user_id == facts.commander_id
    return COMMANDER in set(roles)


def counting_approvals(facts: VersionFacts, publisher_id: int | None = None) -> list[ApprovalFact]:
    """Approvals that count for this exact content, and (when known) this publisher."""
    return [
        a
        for a in facts.approvals
        if a.content_hash == facts.content_hash
        and LEADERSHIP in a.approver_roles
        and a.approver_id not in facts.editor_ids
        and a.approver_id != publisher_id
    ]


def publish_refusal(facts: VersionFacts, user_id: int, roles: Iterable[str]) -> Refusal | None:
    if not may_publish(facts, user_id, roles):
        who = "the incident's commander" if facts.commander_id is not None else "an incident commander"
        return Refusal(f"Only {who} may publish this review.", code="forbidden")
    if needs_approval(facts.severity) and not counting_approvals(facts, publisher_id=user_id):
        return Refusal(
            f"A {facts.severity} review needs one leadership approval of this exact version, "
            "from someone who neither edited it nor publishes it."
        )
    return None


def approval_refusal(facts: VersionFacts, user_id: int, roles: Iterable[str]) -> Refusal | None:
    if LEADERSHIP not in set(roles):
        return Refusal("Only leadership approves a review.", code="forbidden")
    if user_id in facts.editor_ids:
        return Refusal("You edited this version: someone who did not must approve it.")
    if facts.commander_id == user_id:
        return Refusal("You command this incident and publish its review: another leader must approve it.")
    if any(a.approver_id == user_id and a.content_hash == facts.content_hash for a in facts.approvals):
        return Refusal("You already approved this version.")
    return None
