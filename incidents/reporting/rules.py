"""The regimes' rules as plain data and pure functions (no ORM), after corrections/policy.py.

A rule's deadline table maps a regime's facts to ISO 8601 durations, plus "default":
{"widespread_infringement": "P2D", "death": "P10D", "default": "P15D"}. The deadline is the
shortest duration among "default" and every path whose fact is true.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from incidents.models.reporting import Milestone, Regime

DEFAULT_PATH = "default"

# The deciding facts of each regime, with the question the assessment form asks (regulators.md).
REGIME_FACTS: dict[str, dict[str, str]] = {
    Regime.EU_AI_ACT_ART73: {
        "death": "A person died (Art. 3(49)(a))",
        "serious_harm_to_health": "Serious harm to a person's health (Art. 3(49)(a))",
        "critical_infrastructure_disruption": "Serious, irreversible disruption of critical infrastructure (3(49)(b))",
        "widespread_infringement": "Widespread infringement (Art. 73(3))",
        "fundamental_rights_infringement": "Infringement of obligations protecting fundamental rights (3(49)(c))",
        "property_or_environment_harm": "Serious harm to property or the environment (3(49)(d))",
    },
    Regime.EU_GPAI_CODE: {
        "critical_infrastructure_disruption": "Serious and irreversible disruption of critical infrastructure",
        "serious_cybersecurity_breach": "Serious cybersecurity breach, incl. weight (self-)exfiltration",
        "death": "A person died",
        "serious_harm_to_health": "Serious harm to health",
        "fundamental_rights_infringement": "Breach of fundamental-rights obligations",
        "property_or_environment_harm": "Serious harm to property or the environment",
    },
    Regime.CA_SB53: {
        "critical_safety_incident": "A critical safety incident (§22757.11(d))",
        "imminent_risk_of_death_or_serious_injury": "Imminent risk of death or serious physical injury",
    },
    Regime.NY_RAISE: {
        "safety_incident": "A safety incident (GBL §1420)",
        "imminent_risk_of_death_or_serious_injury": "Imminent risk of death or serious physical injury",
    },
}

# ISO 8601 durations in weeks, days, hours and minutes (no months or years: their length varies).
_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d{1,4})W)?(?:(?P<days>\d{1,4})D)?(?:T(?:(?P<hours>\d{1,5})H)?(?:(?P<minutes>\d{1,6})M)?)?$"
)


class RuleError(ValueError):
    """A rule that cannot be used; `field` names what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def parse_duration(text: Any, *, field: str = "duration") -> timedelta:
    """ "P2D", "PT24H", "P4W", "P1DT12H" → timedelta; anything else (or zero) is a RuleError."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise RuleError(field, f"{text!r} is not an ISO 8601 duration like P2D, PT24H or P4W.")
    parts = {name: int(value or 0) for name, value in match.groupdict().items()}
    duration = timedelta(**parts)
    if duration <= timedelta(0):
        raise RuleError(field, "A deadline must be longer than zero.")
    return duration


@dataclass(frozen=True)
class RuleData:
    regime: str
    starts_from: str
    deadlines: Mapping[str, str]
    intermediate_every: str = ""
    final_after_resolution: str = ""


def validate_rule(rule: RuleData) -> None:
    """Raise RuleError (naming the field) unless the rule can compute every deadline it promises."""
    if rule.regime not in REGIME_FACTS:
        raise RuleError("regime", f"Unknown regime {rule.regime!r}: choose one of {', '.join(REGIME_FACTS)}.")
    if rule.starts_from not in Milestone.values:
        raise RuleError("starts_from", f"Choose one of: {', '.join(Milestone.values)}.")
    if not isinstance(rule.deadlines, Mapping) or not rule.deadlines:
        raise RuleError("deadlines", 'Give the deadline table as an object, e.g. {"default": "P15D"}.')
    if DEFAULT_PATH not in rule.deadlines:
        raise RuleError("deadlines", 'The table needs a "default" path.')
    facts = REGIME_FACTS[rule.regime]
    for path, duration in rule.deadlines.items():
        if path != DEFAULT_PATH and path not in facts:
            raise RuleError("deadlines", f"{path!r} is not a fact of {rule.regime}: use one of {', '.join(facts)}.")
        parse_duration(duration, field="deadlines")
    if rule.intermediate_every:
        parse_duration(rule.intermediate_every, field="intermediate_every")
    if rule.final_after_resolution:
        parse_duration(rule.final_after_resolution, field="final_after_resolution")


def clean_facts(regime: str, facts: Any) -> dict[str, bool]:
    """The regime's facts as {fact: bool}, every fact present; RuleError("facts") on anything else."""
    known = REGIME_FACTS.get(regime)
    if known is None:
        raise RuleError("regime", f"Unknown regime {regime!r}.")
    if facts is None:
        facts = {}
    if not isinstance(facts, Mapping):
        raise RuleError("facts", "Give the facts as an object of true/false values.")
    unknown = sorted(set(facts) - set(known))
    if unknown:
        raise RuleError("facts", f"Not a fact of this regime: {', '.join(map(str, unknown))}.")
    if any(not isinstance(value, bool) for value in facts.values()):
        raise RuleError("facts", "Each fact is true or false.")
    return {name: bool(facts.get(name, False)) for name in known}


@dataclass(frozen=True)
class Deadline:
    path: str
    duration: str
    due_at: datetime


def initial_deadline(rule: RuleData, facts: Mapping[str, bool], start: datetime) -> Deadline:
    """The shortest applicable path: "default", or any path whose fact is true."""
    paths = [
        (parse_duration(d), path, d) for path, d in rule.deadlines.items() if path == DEFAULT_PATH or facts.get(path)
    ]
    # Shortest first; on a tie a named fact reads better than "default".
    length, path, text = min(paths, key=lambda p: (p[0], p[1] == DEFAULT_PATH, p[1]))
    return Deadline(path=path, duration=text, due_at=start + length)


def later_deadline(duration: str, start: datetime, *, path: str) -> Deadline:
    return Deadline(path=path, duration=duration, due_at=start + parse_duration(duration))


def reminder_marks(started: datetime, due: datetime) -> dict[str, datetime]:
    """When each reminder falls due: half and 80 % of the time gone, and 24 h before the deadline."""
    span = due - started
    return {"half": started + span / 2, "eighty": started + span * 0.8, "day_before": due - timedelta(hours=24)}
