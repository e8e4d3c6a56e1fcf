"""The correction catalogue (DESIGN §3): every type of deployment correction, defined in code.

Each type declares its family, default tier, reversibility, default duration, the parameters it
takes (with validation against the registry) and which connector operation applies and lifts it.
Admins tune approval policies per tier; they do not define types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from config.errors import DomainError
from corrections import params as read
from incidents.models import AIModel, CustomerAccount, Deployment, ModelVersion

CAPABILITIES = {
    "tool_use": "Tool use / function calling",
    "browsing": "Web browsing",
    "code_execution": "Code execution",
    "fine_tuning": "Fine-tuning",
    "long_context": "Long context",
    "image_input": "Image input",
    "audio": "Audio",
}
SAFEGUARDS = {
    "cbrn_classifier": "CBRN misuse classifier",
    "cyber_classifier": "Offensive-cyber classifier",
    "jailbreak_detector": "Jailbreak detector",
    "csam_filter": "Child-safety filter",
    "self_harm_filter": "Self-harm filter",
}
SAFEGUARD_SETTINGS = {"standard": "Standard", "strict": "Strict", "maximum": "Maximum", "block": "Block on detection"}
USE_CASES = {
    "bio_research": "Biological research assistance",
    "chem_synthesis": "Chemical synthesis planning",
    "exploit_development": "Exploit and malware development",
    "autonomous_agents": "Autonomous agent operation",
    "persuasion_at_scale": "Persuasion at scale",
    "surveillance": "Surveillance and tracking of people",
}
ACCESS_TIERS = dict(CustomerAccount.Tier.choices)
# The longest a correction may last before it expires (requests and playbooks alike).
MAX_DURATION_MINUTES = 365 * 24 * 60
RATE_LIMIT_SCOPES = {"account": "One account", "tier": "An access tier", "deployment": "The whole deployment"}


@dataclass(frozen=True)
class ParamField:
    """One parameter, as the request form shows it and the validator reads it."""

    name: str
    label: str
    kind: str  # "text", "list" (comma-separated in forms), "int", "choice", "multichoice"
    choices: dict[str, str] = field(default_factory=dict)
    help: str = ""
    required: bool = True


@dataclass(frozen=True)
class Target:
    """What a correction acts on: a deployment, or a whole model."""

    deployment: Deployment | None
    model: AIModel

    @property
    def name(self) -> str:
        """What a tier 4 approver types to confirm."""
        return self.deployment.slug if self.deployment else self.model.name


@dataclass(frozen=True)
class CorrectionType:
    key: str
    family: str
    label: str
    help: str
    tier: int
    reversible: bool
    target_kind: str  # "deployment" or "model"
    params: tuple[ParamField, ...] = ()
    default_duration_minutes: int | None = None
    dispatchable: bool = True  # destroy_weights is recorded and confirmed by hand, never dispatched
    validate: Callable[[dict[str, Any], Target], dict[str, Any]] | None = None
    tier_for: Callable[[dict[str, Any]], int] | None = None

    def tier_of(self, params: dict[str, Any]) -> int:
        return self.tier_for(params) if self.tier_for else self.tier

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "family": self.family,
            "label": self.label,
            "help": self.help,
            "default_tier": self.tier,
            "reversible": self.reversible,
            "target": self.target_kind,
            "default_duration_minutes": self.default_duration_minutes,
            "dispatchable": self.dispatchable,
            "params": [
                {"name": p.name, "label": p.label, "kind": p.kind, "choices": p.choices, "help": p.help,
                 "required": p.required}
                for p in self.params
            ],
        }  # fmt: skip


# --- parameter parsing ------------------------------------------------------------------------


def _err(name: str, message: str) -> DomainError:
    return DomainError(message, code="invalid", fields={f"params.{name}": [message]})


def _accounts(params: dict, _target: Target) -> dict:
    read.no_extra(params, {"accounts"})
    accounts = read.string_list(params, "accounts")
    known = set(CustomerAccount.objects.filter(account_id__in=accounts).values_list("account_id", flat=True))
    unknown = [a for a in accounts if a not in known]
    if unknown:
        raise _err("accounts", f"Unknown account: {', '.join(unknown)}.")
    return {"accounts": accounts}


def _access_tier(params: dict, _target: Target) -> dict:
    read.no_extra(params, {"allowed_tiers"})
    return {"allowed_tiers": read.choices(params, "allowed_tiers", ACCESS_TIERS)}


def _rate_limit(params: dict, target: Target) -> dict:
    read.no_extra(params, {"scope", "subject", "requests_per_minute"})
    scope = read.choice(params, "scope", RATE_LIMIT_SCOPES)
    rpm = read.positive_int(params, "requests_per_minute", maximum=1_000_000)
    if scope == "deployment":
        return {"scope": scope, "subject": target.name, "requests_per_minute": rpm}
    subject = read.text(params, "subject")
    if scope == "tier" and subject not in ACCESS_TIERS:
        raise _err("subject", f"Unknown tier {subject!r}; choose from {', '.join(ACCESS_TIERS)}.")
    if scope == "account" and not CustomerAccount.objects.filter(account_id=subject).exists():
        raise _err("subject", f"Unknown account {subject!r}.")
    return {"scope": scope, "subject": subject, "requests_per_minute": rpm}


def _capability(params: dict, _target: Target) -> dict:
    read.no_extra(params, {"capability"})
    return {"capability": read.choice(params, "capability", CAPABILITIES)}


def _safeguard(params: dict, _target: Target) -> dict:
    read.no_extra(params, {"safeguard", "setting"})
    return {
        "safeguard": read.choice(params, "safeguard", SAFEGUARDS),
        "setting": read.choice(params, "setting", SAFEGUARD_SETTINGS),
    }


def _use_case(params: dict, _target: Target) -> dict:
    read.no_extra(params, {"use_cases"})
    return {"use_cases": read.choices(params, "use_cases", USE_CASES)}


def _rollback(params: dict, target: Target) -> dict:
    read.no_extra(params, {"version"})
    name = read.text(params, "version", max_length=64)
    version = ModelVersion.objects.filter(name=name, model=target.model).first()
    if version is None:
        raise _err("version", f"{target.model.name} has no version {name!r}.")
    if version.is_current:
        raise _err("version", f"{name} is already the current version; choose an earlier one.")
    return {"version": name}


def _nothing(params: dict, _target: Target) -> dict:
    read.no_extra(params, set())
    return {}


def _model(params: dict, target: Target) -> dict:
    read.no_extra(params, {"model"})
    name = read.text(params, "model", max_length=64)
    if name != target.model.name:
        raise _err("model", f"Unknown model {name!r}.")
    return {"model": name}


def _rate_limit_tier(params: dict) -> int:
    return 1 if params.get("scope") == "account" else 2


_ACCOUNTS = ParamField("accounts", "Accounts", "list", help="Account ids, e.g. acct-mallory (comma-separated).")
_MODEL = ParamField("model", "Model", "text", help="The model's name, e.g. atlas.")

TYPES: dict[str, CorrectionType] = {
    t.key: t
    for t in (
        CorrectionType(
            "block_accounts", "user-based restriction", "Block accounts",
            "Blocks specific users, API keys or organisations from the deployment.",
            tier=1, reversible=True, target_kind="deployment", params=(_ACCOUNTS,),
            default_duration_minutes=7 * 24 * 60, validate=_accounts,
        ),
        CorrectionType(
            "restrict_access_tier", "user-based restriction", "Restrict to vetted tiers",
            "Limits the deployment to the listed access tiers (e.g. identity-verified customers).",
            tier=2, reversible=True, target_kind="deployment",
            params=(ParamField("allowed_tiers", "Allowed tiers", "multichoice", ACCESS_TIERS),),
            default_duration_minutes=72 * 60, validate=_access_tier,
        ),
        CorrectionType(
            "rate_limit", "access frequency limit", "Rate limit",
            "Caps requests per minute for one account (tier 1), an access tier or the whole deployment (tier 2).",
            tier=1, reversible=True, target_kind="deployment",
            params=(
                ParamField("scope", "Scope", "choice", RATE_LIMIT_SCOPES),
                ParamField("subject", "Subject", "text", help="Account id or tier; blank for the deployment.",
                           required=False),
                ParamField("requests_per_minute", "Requests per minute", "int"),
            ),
            default_duration_minutes=24 * 60, validate=_rate_limit, tier_for=_rate_limit_tier,
        ),
        CorrectionType(
            "disable_capability", "capability restriction", "Disable a capability",
            "Turns off a feature: tool use, browsing, code execution, fine-tuning, long context, a modality.",
            tier=2, reversible=True, target_kind="deployment",
            params=(ParamField("capability", "Capability", "choice", CAPABILITIES),),
            default_duration_minutes=72 * 60, validate=_capability,
        ),
        CorrectionType(
            "tighten_safeguard", "capability restriction", "Tighten a safeguard",
            "Raises a filter or classifier setting, or switches on a blocking filter.",
            tier=2, reversible=True, target_kind="deployment",
            params=(
                ParamField("safeguard", "Safeguard", "choice", SAFEGUARDS),
                ParamField("setting", "Setting", "choice", SAFEGUARD_SETTINGS),
            ),
            default_duration_minutes=72 * 60, validate=_safeguard,
        ),
        CorrectionType(
            "restrict_use_case", "use-case restriction", "Forbid use cases",
            "Forbids categories of use on the deployment.",
            tier=2, reversible=True, target_kind="deployment",
            params=(ParamField("use_cases", "Use cases", "multichoice", USE_CASES),),
            default_duration_minutes=72 * 60, validate=_use_case,
        ),
        CorrectionType(
            "rollback_model", "rollback", "Roll back the model",
            "Routes the deployment to an earlier model version.",
            tier=3, reversible=True, target_kind="deployment",
            params=(ParamField("version", "Version", "text", help="An earlier version, e.g. atlas-1.9."),),
            validate=_rollback,
        ),
        CorrectionType(
            "pause_deployment", "shutdown", "Pause the deployment",
            "Takes this deployment (surface, region) offline.",
            tier=3, reversible=True, target_kind="deployment", validate=_nothing,
        ),
        CorrectionType(
            "withdraw_model", "shutdown", "Withdraw the model",
            "Full market removal: every deployment of the model goes offline.",
            tier=4, reversible=True, target_kind="model", params=(_MODEL,), validate=_model,
        ),
        CorrectionType(
            "destroy_weights", "shutdown", "Destroy the weights",
            "Destruction of the model and associated components. Irreversible; never automatic: the "
            "approval records the decision and someone confirms by hand that it was carried out.",
            tier=4, reversible=False, target_kind="model", params=(_MODEL,), dispatchable=False,
            validate=_model,
        ),
    )
}  # fmt: skip


def get_type(key: str) -> CorrectionType:
    try:
        return TYPES[key]
    except (KeyError, TypeError):
        raise DomainError.invalid_field(
            "type", f"Unknown correction type {key!r}; choose from {', '.join(TYPES)}."
        ) from None


def resolve_target(ctype: CorrectionType, *, deployment: str | None, params: dict) -> Target:
    """Find what the correction acts on; model-wide types name the model in their parameters."""
    if ctype.target_kind == "deployment":
        if not deployment:
            raise DomainError.invalid_field("deployment", f"{ctype.label} needs a deployment.")
        found = Deployment.objects.select_related("model").filter(slug=deployment).first()
        if found is None:
            raise DomainError.invalid_field("deployment", f"Unknown deployment {deployment!r}.")
        return Target(deployment=found, model=found.model)
    name = params.get("model") if isinstance(params, dict) else None
    if deployment:
        found = Deployment.objects.select_related("model").filter(slug=deployment).first()
        if found is None:
            raise DomainError.invalid_field("deployment", f"Unknown deployment {deployment!r}.")
        name = name or found.model.name
    model = AIModel.objects.filter(name=name).first() if isinstance(name, str) else None
    if model is None:
        raise _err("model", f"Unknown model {name!r}." if name else "model is required.")
    return Target(deployment=None, model=model)


def validate_params(ctype: CorrectionType, params: Any, target: Target) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise DomainError.invalid_field("params", "params must be a JSON object.")
    try:
        return ctype.validate(params, target) if ctype.validate else {}
    except read.ParamError as err:
        raise _err(err.name, err.message) from None
