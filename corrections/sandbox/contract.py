"""Reading the bodies of the actuator contract: what `PUT /corrections/{id}` may carry.

The parameters are checked as corrections/catalogue.py checks them, against what this edge
knows (its deployments and their model versions) instead of Failsafe's database. Accounts it
does not know are accepted: blocking or throttling an account that does not exist yet is
harmless, and refusing the whole correction for it would not be.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from corrections import params as read
from corrections.sandbox import vocabulary as v

APPLY_FIELDS = ("correction_id", "type", "deployment", "model", "params", "expires_at", "generation")
# Optional: "dry_run": true asks the edge to validate and record the correction, never to enforce it.
MAX_ID_LENGTH = 64
MAX_KEY_LENGTH = 200
# The deepest body of the contract nests 3 levels; json.loads recurses once per level and a deep
# enough body ("[" * 100_000) exhausts the stack, so depth is checked before parsing.
MAX_JSON_DEPTH = 32
_STRUCTURAL = re.compile(rb'[][{}"\\]')


class Invalid(Exception):
    """A body the actuator cannot act on: a permanent 400."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def valid_id(correction_id: str) -> bool:
    return 0 < len(correction_id) <= MAX_ID_LENGTH and all(c.isalnum() or c in "-_." for c in correction_id)


def nests_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether JSON text opens more than `limit` arrays or objects inside one another.

    One pass over the brackets, quotes and backslashes only, so it costs little even for a body
    of a megabyte; brackets inside strings do not count. Malformed text is left to json.loads.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth, in_string, skip_until = 0, False, -1
    for match in _STRUCTURAL.finditer(raw):
        at = match.start()
        char = raw[at : at + 1]
        if in_string:
            if at <= skip_until:
                continue  # the character after a backslash is escaped
            if char == b"\\":
                skip_until = at + 1
            elif char == b'"':
                in_string = False
        elif char == b'"':
            in_string = True
        elif char in b"[{":
            depth += 1
            if depth > limit:
                return True
        elif char in b"]}":
            depth -= 1
    return False


def parse_json_object(body: bytes, *, what: str = "body") -> dict[str, Any]:
    if nests_deeper_than(body, MAX_JSON_DEPTH):
        raise Invalid(f"The {what} nests arrays or objects more than {MAX_JSON_DEPTH} levels deep.")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Invalid(f"The {what} is not valid JSON.") from None
    if not isinstance(data, dict):
        raise Invalid(f"The {what} must be a JSON object.")
    return data


def parse_time(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{name} must be an ISO-8601 date-time string or null.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name} is not an ISO-8601 date-time: {value!r}.") from None
    if parsed.tzinfo is None:
        raise Invalid(f"{name} must carry a UTC offset, e.g. 2030-01-01T12:00:00+00:00.")
    return parsed.astimezone(UTC)


def parse_lift(body: bytes) -> int | None:
    """A DELETE may carry {"generation": N}; an empty body is fine."""
    if not body.strip():
        return None
    data = parse_json_object(body)
    generation = data.get("generation")
    if generation is None:
        return None
    return _generation(generation)


def parse_apply(body: bytes, *, correction_id: str, deployments: dict[str, dict]) -> dict[str, Any]:
    """The correction record to store, or Invalid saying why not."""
    data = parse_json_object(body)
    missing = [name for name in APPLY_FIELDS if name not in data]
    if missing:
        raise Invalid(f"Missing field(s): {', '.join(missing)}.")
    if data["correction_id"] != correction_id:
        raise Invalid(f"correction_id {data['correction_id']!r} does not match the path's {correction_id!r}.")
    ctype = data["type"]
    if ctype not in v.CORRECTION_TYPES:
        raise Invalid(f"Unknown correction type {ctype!r}; choose from {', '.join(v.CORRECTION_TYPES)}.")
    if ctype in v.NEVER_DISPATCHED:
        raise Invalid(f"{ctype} is never dispatched: it is carried out and confirmed by hand.")
    generation = _generation(data["generation"])
    expires_at = parse_time(data["expires_at"], "expires_at")
    deployment, model = _target(ctype, data["deployment"], data["model"], deployments)
    params = data["params"]
    if not isinstance(params, dict):
        raise Invalid("params must be a JSON object.")
    try:
        params = _PARAMS[ctype](params, deployment=deployment, model=model, deployments=deployments)
    except read.ParamError as err:
        raise Invalid(f"params.{err.message}") from None
    dry_run = data.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise Invalid("dry_run must be true or false.")
    return {
        "type": ctype,
        "deployment": deployment,
        "model": model,
        "params": params,
        "expires_at": expires_at.isoformat() if expires_at else None,
        "generation": generation,
        "dry_run": dry_run,
    }


def _generation(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Invalid("generation must be a whole number, 0 or more.")
    return value


def _target(ctype: str, deployment: Any, model: Any, deployments: dict[str, dict]) -> tuple[str | None, str]:
    if deployment is not None and (not isinstance(deployment, str) or deployment not in deployments):
        raise Invalid(f"Unknown deployment {deployment!r}; this edge serves {', '.join(sorted(deployments))}.")
    if not isinstance(model, str) or not model:
        raise Invalid("model is required (the model's name).")
    if ctype in v.MODEL_WIDE_TYPES:
        if deployment is not None:
            raise Invalid(f"{ctype} acts on every deployment of the model; deployment must be null.")
        if not any(d["model"] == model for d in deployments.values()):
            raise Invalid(f"Unknown model {model!r}: no deployment here serves it.")
        return None, model
    if deployment is None:
        raise Invalid(f"{ctype} needs a deployment.")
    if deployments[deployment]["model"] != model:
        raise Invalid(f"Deployment {deployment} serves {deployments[deployment]['model']}, not {model}.")
    return deployment, model


# --- parameters, read by corrections.params exactly as the catalogue reads them -------------------


def _block_accounts(params: dict, **_) -> dict:
    read.no_extra(params, {"accounts"})
    return {"accounts": read.string_list(params, "accounts")}


def _restrict_access_tier(params: dict, **_) -> dict:
    read.no_extra(params, {"allowed_tiers"})
    return {"allowed_tiers": read.choices(params, "allowed_tiers", v.ACCESS_TIERS)}


def _rate_limit(params: dict, *, deployment: str, **_) -> dict:
    read.no_extra(params, {"scope", "subject", "requests_per_minute"})
    scope = read.choice(params, "scope", v.RATE_LIMIT_SCOPES)
    rpm = read.positive_int(params, "requests_per_minute", maximum=v.MAX_REQUESTS_PER_MINUTE)
    if scope == "deployment":
        return {"scope": scope, "subject": deployment, "requests_per_minute": rpm}
    subject = read.text(params, "subject")
    if scope == "tier" and subject not in v.ACCESS_TIERS:
        raise Invalid(f"Unknown tier {subject!r}; choose from {', '.join(sorted(v.ACCESS_TIERS))}.")
    return {"scope": scope, "subject": subject, "requests_per_minute": rpm}


def _disable_capability(params: dict, **_) -> dict:
    read.no_extra(params, {"capability"})
    return {"capability": read.choice(params, "capability", v.CAPABILITIES)}


def _tighten_safeguard(params: dict, **_) -> dict:
    read.no_extra(params, {"safeguard", "setting"})
    return {
        "safeguard": read.choice(params, "safeguard", v.SAFEGUARDS),
        "setting": read.choice(params, "setting", v.SAFEGUARD_SETTINGS),
    }


def _restrict_use_case(params: dict, **_) -> dict:
    read.no_extra(params, {"use_cases"})
    return {"use_cases": read.choices(params, "use_cases", v.USE_CASES)}


def _rollback_model(params: dict, *, deployment: str, model: str, deployments: dict[str, dict], **_) -> dict:
    read.no_extra(params, {"version"})
    version = read.text(params, "version", max_length=64)
    served = deployments[deployment]
    known = {name for d in deployments.values() if d["model"] == model for name in d.get("versions", ())}
    if known and version not in known:
        raise Invalid(f"{model} has no version {version!r} here; known: {', '.join(sorted(known))}.")
    if version == served["current_version"]:
        raise Invalid(f"{version} is already the current version; choose an earlier one.")
    return {"version": version}


def _pause_deployment(params: dict, **_) -> dict:
    read.no_extra(params, set())
    return {}


def _withdraw_model(params: dict, *, model: str, **_) -> dict:
    read.no_extra(params, {"model"})
    name = read.text(params, "model", max_length=64)
    if name != model:
        raise Invalid(f"params.model {name!r} does not match the correction's model {model!r}.")
    return {"model": name}


_PARAMS = {
    "block_accounts": _block_accounts,
    "restrict_access_tier": _restrict_access_tier,
    "rate_limit": _rate_limit,
    "disable_capability": _disable_capability,
    "tighten_safeguard": _tighten_safeguard,
    "restrict_use_case": _restrict_use_case,
    "rollback_model": _rollback_model,
    "pause_deployment": _pause_deployment,
    "withdraw_model": _withdraw_model,
}
