"""What a playbook version says, read and validated: one frozen dataclass, field-level messages.

Recommended corrections go through the catalogue's own validation (corrections.catalogue), so a
playbook can only recommend what a request could ask for; the pre-authorised one is refused if it
could never be (policy.preauthorisation_refusal: never tier 4, never destroy_weights).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from config.errors import DomainError
from corrections import policy
from corrections.catalogue import MAX_DURATION_MINUTES, get_type, resolve_target, validate_params
from incidents.models import Category, Deployment, RiskDomain, Severity

MAX_STEPS = 50
MAX_STEP_LENGTH = 300
MAX_CRITERIA = 20
MAX_RECOMMENDATIONS = 10
MAX_TEXT = 500
SIGNAL_MAX = 64


@dataclass(frozen=True)
class Criterion:
    """An escalation criterion, in words and as a threshold: e.g. SEV1 if uplift is confirmed in CBRN."""

    text: str
    severity: str
    risk_domain: str = ""
    signal: str = ""


@dataclass(frozen=True)
class Recommendation:
    type: str
    params: dict[str, Any]
    duration_minutes: int | None
    note: str = ""


@dataclass(frozen=True)
class Content:
    title: str
    active: bool
    categories: tuple[str, ...]
    risk_domains: tuple[str, ...]
    min_severity: str
    priority: int
    escalation_criteria: tuple[Criterion, ...]
    steps: tuple[str, ...]
    recommendations: tuple[Recommendation, ...]
    preauthorised_type: str
    note: str

    def matcher(self) -> policy.Matcher:
        return policy.Matcher(
            frozenset(self.categories), frozenset(self.risk_domains), self.min_severity, self.priority
        )

    def version_fields(self) -> dict[str, Any]:
        """The PlaybookVersion columns this content fills."""
        return {
            "active": self.active,
            "categories": list(self.categories),
            "risk_domains": list(self.risk_domains),
            "min_severity": self.min_severity,
            "priority": self.priority,
            "escalation_criteria": [asdict(c) for c in self.escalation_criteria],
            "steps": list(self.steps),
            "recommendations": [asdict(r) for r in self.recommendations],
            "preauthorised_type": self.preauthorised_type,
            "note": self.note,
        }


class _Errors:
    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.fields.setdefault(field, []).append(message)

    def merge(self, prefix: str, error: DomainError) -> None:
        if not error.fields:
            self.add(prefix.rstrip("."), error.message)
        for name, messages in error.fields.items():
            for message in messages:
                self.add(f"{prefix}{name}", message)

    def raise_any(self) -> None:
        if self.fields:
            first = next(iter(self.fields.values()))[0]
            raise DomainError(f"This playbook cannot be saved: {first}", code="invalid", fields=self.fields)


def _text(value: Any, field: str, errors: _Errors, *, required: bool = True, limit: int = MAX_TEXT) -> str:
    if value is None or value == "":
        if required:
            errors.add(field, "This field is required.")
        return ""
    if not isinstance(value, str):
        errors.add(field, "Must be text.")
        return ""
    value = value.strip()
    if required and not value:
        errors.add(field, "This field is required.")
    if len(value) > limit:
        errors.add(field, f"At most {limit} characters.")
    return value[:limit]


def _choices(value: Any, field: str, allowed: list[str], errors: _Errors) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.add(field, "Must be a list of names (empty: any).")
        return ()
    unknown = [v for v in value if v not in allowed]
    if unknown:
        errors.add(field, f"Unknown: {', '.join(unknown)}; choose from {', '.join(allowed)}.")
    return tuple(sorted(set(value) - set(unknown)))


def _severity(value: Any, field: str, errors: _Errors, *, required: bool = True) -> str:
    if value in (None, "") and not required:
        return ""
    if value not in Severity.values:
        errors.add(field, f"Choose one of {', '.join(Severity.values)}.")
        return Severity.SEV4
    return str(value)


def _criteria(value: Any, errors: _Errors) -> tuple[Criterion, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_CRITERIA:
        errors.add("escalation_criteria", f"Must be a list of at most {MAX_CRITERIA} criteria.")
        return ()
    found = []
    for n, item in enumerate(value):
        field = f"escalation_criteria.{n}"
        if not isinstance(item, dict):
            errors.add(field, 'Each criterion is an object: {"text", "severity", "risk_domain", "signal"}.')
            continue
        extra = sorted(set(item) - {"text", "severity", "risk_domain", "signal"})
        if extra:
            errors.add(f"{field}.{extra[0]}", f"Unexpected key {extra[0]!r}.")
        text = _text(item.get("text"), f"{field}.text", errors)
        severity = _severity(item.get("severity"), f"{field}.severity", errors)
        domain = item.get("risk_domain") or ""
        if domain and domain not in RiskDomain.values:
            errors.add(f"{field}.risk_domain", f"Unknown risk domain {domain!r}.")
        signal = _text(item.get("signal"), f"{field}.signal", errors, required=False, limit=SIGNAL_MAX)
        if signal and not signal.replace("_", "").replace("-", "").isalnum():
            errors.add(f"{field}.signal", "A signal is a short name: letters, digits, - and _.")
        found.append(Criterion(text=text, severity=severity, risk_domain=str(domain), signal=signal))
    return tuple(found)


def _steps(value: Any, errors: _Errors) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        errors.add("steps", "Give the checklist at least one step (a list of sentences).")
        return ()
    if len(value) > MAX_STEPS:
        errors.add("steps", f"At most {MAX_STEPS} steps.")
        return ()
    return tuple(_text(step, f"steps.{n}", errors, limit=MAX_STEP_LENGTH) for n, step in enumerate(value))


def _probe_deployment(ctype_target: str, raw: dict[str, Any]) -> str | None:
    """A deployment to check deployment-bound parameters against (a rollback's version is a model's)."""
    if ctype_target != "deployment":
        return None
    deployments = Deployment.objects.select_related("model").order_by("-active", "slug")
    version = raw.get("params", {}).get("version") if isinstance(raw.get("params"), dict) else None
    if isinstance(version, str):
        of_model = deployments.filter(model__versions__name=version).first()
        if of_model is not None:
            return of_model.slug
    first = deployments.first()
    return first.slug if first else None


def _duration(value: Any, reversible: bool, default: int | None, field: str, errors: _Errors) -> int | None:
    if value in (None, ""):
        return default if reversible else None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DURATION_MINUTES:
        errors.add(field, f"Give the duration as a whole number of minutes, 1 to {MAX_DURATION_MINUTES}.")
        return None
    if not reversible:
        errors.add(field, "This correction is irreversible: it cannot have a duration.")
        return None
    return value


def _recommendations(value: Any, errors: _Errors) -> tuple[Recommendation, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_RECOMMENDATIONS:
        errors.add("recommendations", f"Must be a list of at most {MAX_RECOMMENDATIONS} corrections.")
        return ()
    found: list[Recommendation] = []
    seen: set[str] = set()
    for n, raw in enumerate(value):
        field = f"recommendations.{n}"
        if not isinstance(raw, dict):
            errors.add(field, 'Each recommendation is an object: {"type", "params", "duration_minutes", "note"}.')
            continue
        extra = sorted(set(raw) - {"type", "params", "duration_minutes", "note"})
        if extra:
            errors.add(f"{field}.{extra[0]}", f"Unexpected key {extra[0]!r}.")
        try:
            ctype = get_type(raw.get("type"))
        except DomainError as error:
            errors.merge(f"{field}.", error)
            continue
        if ctype.key in seen:
            errors.add(f"{field}.type", f"{ctype.key} is already recommended; recommend each type once.")
            continue
        seen.add(ctype.key)
        params = raw.get("params") if raw.get("params") is not None else {}
        probe = _probe_deployment(ctype.target_kind, raw)
        if ctype.target_kind == "deployment" and probe is None:
            errors.add(f"{field}.type", "Register a deployment first: parameters are checked against one.")
            continue
        try:
            target = resolve_target(ctype, deployment=probe, params=params if isinstance(params, dict) else {})
            params = validate_params(ctype, params, target)
        except DomainError as error:
            errors.merge(f"{field}.", error)
            continue
        duration = _duration(
            raw.get("duration_minutes"), ctype.reversible, ctype.default_duration_minutes, f"{field}.duration_minutes",
            errors,
        )  # fmt: skip
        note = _text(raw.get("note"), f"{field}.note", errors, required=False)
        found.append(Recommendation(type=ctype.key, params=params, duration_minutes=duration, note=note))
    return tuple(found)


def _preauthorised(value: Any, recommendations: tuple[Recommendation, ...], errors: _Errors) -> str:
    if value in (None, ""):
        return ""
    named = next((r for r in recommendations if r.type == value), None)
    if named is None:
        errors.add("preauthorised_type", "Pre-authorise one of this playbook's recommended corrections (by its type).")
        return ""
    refusal = policy.preauthorisation_refusal(named.type, get_type(named.type).tier_of(named.params))
    if refusal:
        errors.add("preauthorised_type", refusal)
        return ""
    return named.type


def read_content(data: Mapping[str, Any]) -> Content:
    """Validate a version's content; DomainError naming every bad field at once."""
    errors = _Errors()
    if not isinstance(data, Mapping):
        raise DomainError("A playbook is a JSON object.", code="invalid")
    title = _text(data.get("title"), "title", errors, limit=200)
    active = data.get("active", True)
    if not isinstance(active, bool):
        errors.add("active", "Must be true or false.")
        active = True
    categories = _choices(data.get("categories"), "categories", Category.values, errors)
    domains = _choices(data.get("risk_domains"), "risk_domains", RiskDomain.values, errors)
    min_severity = _severity(data.get("min_severity", Severity.SEV4), "min_severity", errors)
    priority = data.get("priority", 100)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 1000:
        errors.add("priority", "A whole number from 0 to 1000 (higher wins when several playbooks match).")
        priority = 100
    criteria = _criteria(data.get("escalation_criteria"), errors)
    steps = _steps(data.get("steps"), errors)
    recommendations = _recommendations(data.get("recommendations"), errors)
    preauthorised = _preauthorised(data.get("preauthorised_type"), recommendations, errors)
    note = _text(data.get("note"), "note", errors, required=False, limit=20000)
    errors.raise_any()
    return Content(
        title=title, active=active, categories=categories, risk_domains=domains, min_severity=min_severity,
        priority=priority, escalation_criteria=criteria, steps=steps, recommendations=recommendations,
        preauthorised_type=preauthorised, note=note,
    )  # fmt: skip


def overlap_refusal(content: Content, others: list[tuple[str, policy.Matcher]]) -> DomainError | None:
    """Refused: another active playbook could match the same incident at the same priority."""
    if not content.active:
        return None
    mine = content.matcher()
    clashes = [slug for slug, matcher in others if mine.overlaps(matcher)]
    if not clashes:
        return None
    message = (
        f"Playbook {', '.join(clashes)} can match the same incidents at priority {content.priority}: "
        "change the priority or narrow the categories or risk domains."
    )
    return DomainError(message, code="invalid", fields={"priority": [message]})
