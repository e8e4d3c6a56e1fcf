"""What stands in the way of resolving or closing an incident (DESIGN §4, "Closing").

Other apps contribute checks here, as they contribute audit sections to incidents.audit: this app
never imports them. A check is a function of the incident returning the things that block, each
with a sentence and a link; its registration says which statuses it stands in the way of and
whether a commander may record a reasoned exception over it (incidents.services does both).

    closing.register_blocker("in_force", corrections_in_force, title="Corrections in force",
                             blocks=(Status.CLOSED,), overridable=True)

Checks run under the incident's row lock, inside the transaction that would change its status.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from incidents.models import Incident, Status


@dataclass(frozen=True)
class Blocker:
    """One thing in the way, as a person reads it: "Correction #12 (pause_deployment) is pending approval"."""

    text: str
    url: str = ""


@dataclass(frozen=True)
class BlockerCheck:
    key: str
    title: str
    blocks: frozenset[str]  # the statuses it stands in the way of
    overridable: bool  # a commander may record a reasoned exception over it
    find: Callable[[Incident], Sequence[Blocker]]


@dataclass(frozen=True)
class Found:
    check: BlockerCheck
    blockers: list[Blocker]

    def as_dict(self) -> dict[str, object]:
        """What the ledger and a closing exception keep of it."""
        return {"check": self.check.key, "title": self.check.title, "items": [b.text for b in self.blockers]}


_CHECKS: dict[str, BlockerCheck] = {}


def register_blocker(
    key: str,
    find: Callable[[Incident], Sequence[Blocker]],
    *,
    title: str,
    blocks: Iterable[str],
    overridable: bool,
) -> None:
    statuses = frozenset(blocks)
    unknown = statuses - set(Status.values)
    if unknown:
        raise ValueError(f"unknown statuses {sorted(unknown)}")
    _CHECKS[key] = BlockerCheck(key, title, statuses, overridable, find)


def registered_checks() -> list[BlockerCheck]:
    return list(_CHECKS.values())


def blockers_for(incident: Incident, status: str) -> list[Found]:
    """Every registered check that finds something in the way of `status`, in registration order."""
    found = []
    for check in _CHECKS.values():
        if status in check.blocks:
            blockers = list(check.find(incident))
            if blockers:
                found.append(Found(check, blockers))
    return found
