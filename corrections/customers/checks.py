"""Checking a notice against its agreement: pure functions over plain data, no ORM (as corrections.policy).

A term is {"type", "timing": "before"|"after", "minutes"}; an empty term means the customer never
accepted the type. A correction "starts" when it is approved (it runs at once); before that, it could
start now, so a notice due *before* it is late unless it was sent long enough ago, and a notice due
*after* it cannot be late yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

LATE = "late"
NO_CONTACT = "no_contact"
NOT_ACCEPTED = "not_accepted"
# What a restricted incident's notice says of why: fixed words, nothing from the incident (DESIGN §7).
GENERIC_WHY = "a safety matter we are investigating. We cannot share more detail at this stage."
WHY_BY_CATEGORY = {
    "dangerous_capability": "a safety concern about a capability of the model that we are addressing.",
    "dangerous_behavior": "a safety concern about the model's behaviour that we are addressing.",
    "misuse": "misuse of the service that we are stopping.",
    "security": "a security matter we are addressing.",
}


@dataclass(frozen=True)
class Flag:
    code: str
    message: str

    @property
    def label(self) -> str:
        return self.code.replace("_", " ")

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def describe_minutes(minutes: int) -> str:
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{mins} min" if mins else ""]
    return " ".join(p for p in parts if p) or "no"


def describe_term(term: dict[str, Any]) -> str:
    if not term:
        return "not accepted in the agreement"
    return f"{describe_minutes(int(term['minutes']))} notice {term['timing']} it starts"


def flags_for(
    *,
    customer: str,
    correction_type: str,
    term: dict[str, Any],
    contacts: int,
    now: datetime,
    started_at: datetime | None,
    sent_at: datetime | None,
) -> list[Flag]:
    """What is wrong with one customer's notice: a type never accepted, nobody to tell, or late."""
    flags: list[Flag] = []
    if not term:
        flags.append(Flag(NOT_ACCEPTED, f"{customer} never accepted {correction_type} in an agreement in effect."))
    if contacts == 0:
        flags.append(Flag(NO_CONTACT, f"{customer} has no contact to send the notice to."))
    if term:
        notice = timedelta(minutes=int(term["minutes"]))
        if term["timing"] == "before":
            start = started_at or now
            if (sent_at or now) > start - notice:
                flags.append(Flag(LATE, f"{customer} needs {describe_term(term)}; it "
                                        f"{'started' if started_at else 'would start'} sooner."))  # fmt: skip
        elif started_at is not None and (sent_at or now) > started_at + notice:
            flags.append(Flag(LATE, f"{customer} needed the notice within {describe_minutes(int(term['minutes']))} "
                                    "after it started."))  # fmt: skip
    return flags


def why_for(*, restricted: bool, category: str) -> str:
    if restricted:
        return GENERIC_WHY
    return WHY_BY_CATEGORY.get(category, GENERIC_WHY)


def draft(
    *,
    customer: str,
    change: str,
    target: str,
    duration_minutes: int | None,
    restricted: bool,
    category: str,
    term: dict[str, Any],
) -> tuple[str, str]:
    """(subject, body) of a notice, in words fit for a customer: never an incident's ref, title or details."""
    until = f"for {describe_minutes(duration_minutes)}" if duration_minutes else "until further notice"
    subject = f"Service change notice: {change} on {target}"
    body = (
        f"Dear {customer},\n\n"
        f"What changes: {change} on {target}.\n"
        f"When: from as soon as it is approved, {until}.\n"
        f"Why: {why_for(restricted=restricted, category=category)}\n\n"
        f"Under your agreement this change needs {describe_term(term)}.\n"
        "We will tell you when it is lifted."
    )
    return subject, body
