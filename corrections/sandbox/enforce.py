"""The toy inference endpoint: `POST /v1/generate` answers only as the active corrections allow.

Checks run in a fixed order — the account's key, then shutdowns (withdraw, pause), then who is
asking (blocked account, access tier), then how often (rate limit), then what is asked (tools,
use case, safeguards) — and the first that refuses answers. A correction past its expires_at
is not enforced: expiry at the edge is a backstop; Failsafe also lifts it.
"""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from corrections.sandbox.contract import Invalid, parse_json_object
from corrections.sandbox.vocabulary import BLOCKING_SETTINGS, FLAGGED_WORDS, MODEL_WIDE_TYPES

DEFAULT_DEPLOYMENT = "atlas-api"
WINDOW_SECONDS = 60
MAX_PROMPT_CHARS = 100_000


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    rate_changed: bool = False


def in_force(correction: dict[str, Any], now: datetime) -> bool:
    if correction.get("state") != "active" or correction.get("dry_run"):
        return False  # a dry run (a drill's correction) is recorded, never enforced
    expires_at = correction.get("expires_at")
    return expires_at is None or datetime.fromisoformat(expires_at) > now


def corrections_for(state: dict[str, Any], slug: str, now: datetime) -> list[tuple[str, dict[str, Any]]]:
    """The corrections in force on one deployment, including model-wide ones, oldest applied first."""
    model = state["deployments"][slug]["model"]
    found = [
        (cid, c)
        for cid, c in state["corrections"].items()
        if in_force(c, now) and (c["model"] == model if c["type"] in MODEL_WIDE_TYPES else c["deployment"] == slug)
    ]
    return sorted(found, key=lambda item: (item[1]["applied_at"], item[0]))


def bearer_key(authorization: str) -> str:
    scheme, _, key = authorization.strip().partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


def generate(
    state: dict[str, Any], rate: dict[str, list[float]], *, authorization: str, body: bytes, now: float
) -> Answer:
    """Decide one request. Updates `rate` in place (and says so) when a rate limit counted it."""
    key = bearer_key(authorization)
    account_id = next(
        (a for a, rec in state["accounts"].items() if key and hmac.compare_digest(rec["key"].encode(), key.encode())),
        None,
    )
    if account_id is None:
        return Answer(401, {"error": "invalid_api_key"}, {"WWW-Authenticate": 'Bearer realm="sandbox"'})
    try:
        request = _parse(body)
    except Invalid as exc:
        return Answer(400, {"error": "invalid", "detail": exc.detail})
    slug = request["deployment"]
    if slug not in state["deployments"]:
        return Answer(404, {"error": "unknown_deployment", "deployment": slug})
    tier = state["accounts"][account_id]["tier"]
    active = corrections_for(state, slug, datetime.fromtimestamp(now, UTC))
    by_type: dict[str, list[tuple[str, dict]]] = {}
    for cid, c in active:
        by_type.setdefault(c["type"], []).append((cid, c))

    if by_type.get("withdraw_model"):
        return Answer(503, {"error": "model_withdrawn", "model": state["deployments"][slug]["model"]})
    if by_type.get("pause_deployment"):
        return Answer(503, {"error": "deployment_paused", "deployment": slug})
    if any(account_id in c["params"]["accounts"] for _, c in by_type.get("block_accounts", ())):
        return Answer(403, {"error": "account_blocked", "account": account_id})
    for _, c in by_type.get("restrict_access_tier", ()):
        if tier not in c["params"]["allowed_tiers"]:
            return Answer(403, {"error": "tier_restricted", "tier": tier})
    counted = _forget_lifted_limits(state, rate)
    limited, applied = _rate_limit(rate, by_type.get("rate_limit", ()), account_id=account_id, tier=tier, now=now)
    counted = counted or applied
    if limited is not None:
        limited.rate_changed = counted
        return limited
    refused = _content(request, by_type)
    if refused is not None:
        refused.rate_changed = counted
        return refused
    version = state["deployments"][slug]["current_version"]
    rollbacks = by_type.get("rollback_model", ())
    if rollbacks:
        version = rollbacks[-1][1]["params"]["version"]  # the latest applied wins
    return Answer(
        200,
        {
            "model_version": version,
            "deployment": slug,
            "account": account_id,
            "output": f"[{version}] You asked: {request['prompt'][:200]}",
        },
        rate_changed=counted,
    )


def _parse(body: bytes) -> dict[str, Any]:
    data = parse_json_object(body) if body.strip() else {}
    prompt = data.get("prompt", "")
    if not isinstance(prompt, str) or len(prompt) > MAX_PROMPT_CHARS:
        raise Invalid(f"prompt must be a string of at most {MAX_PROMPT_CHARS} characters.")
    tools = data.get("tools") or []
    if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
        raise Invalid("tools must be a list of capability names.")
    use_case = data.get("use_case")
    if use_case is not None and not isinstance(use_case, str):
        raise Invalid("use_case must be a string.")
    deployment = data.get("deployment") or DEFAULT_DEPLOYMENT
    if not isinstance(deployment, str):
        raise Invalid("deployment must be a deployment's slug.")
    return {"prompt": prompt, "tools": tools, "use_case": use_case, "deployment": deployment}


def _forget_lifted_limits(state: dict[str, Any], rate: dict[str, list[float]]) -> bool:
    live = {cid for cid, c in state["corrections"].items() if c["type"] == "rate_limit" and c["state"] == "active"}
    stale = [cid for cid in rate if cid not in live]
    for cid in stale:
        del rate[cid]
    return bool(stale)


def _rate_limit(
    rate: dict[str, list[float]], limits, *, account_id: str, tier: str, now: float
) -> tuple[Answer | None, bool]:
    """Sliding 60 s window per rate-limit correction, counting the requests it let through.

    Returns the refusal, if any, and whether the windows changed.
    """
    applicable = []
    for cid, c in limits:
        p = c["params"]
        subject = {"account": account_id, "tier": tier}.get(p["scope"])
        if p["scope"] == "deployment" or p["subject"] == subject:
            applicable.append((cid, p["requests_per_minute"]))
    waits = []
    for cid, rpm in applicable:
        window = [t for t in rate.get(cid, ()) if t > now - WINDOW_SECONDS]
        rate[cid] = window
        if len(window) >= rpm:
            waits.append(window[len(window) - rpm] + WINDOW_SECONDS - now)
    if waits:
        retry_after = max(1, math.ceil(max(waits)))
        refusal = Answer(429, {"error": "rate_limited", "retry_after": retry_after}, {"Retry-After": str(retry_after)})
        return refusal, True
    for cid, rpm in applicable:
        rate[cid] = (rate[cid] + [now])[-rpm:]
    return None, bool(applicable)


def _content(request: dict[str, Any], by_type: dict[str, list[tuple[str, dict]]]) -> Answer | None:
    for _, c in by_type.get("disable_capability", ()):
        if c["params"]["capability"] in request["tools"]:
            return Answer(403, {"error": "capability_disabled", "capability": c["params"]["capability"]})
    for _, c in by_type.get("restrict_use_case", ()):
        if request["use_case"] in c["params"]["use_cases"]:
            return Answer(403, {"error": "use_case_restricted", "use_case": request["use_case"]})
    prompt = request["prompt"].lower()
    for _, c in by_type.get("tighten_safeguard", ()):
        safeguard = c["params"]["safeguard"]
        if c["params"]["setting"] in BLOCKING_SETTINGS and any(w in prompt for w in FLAGGED_WORDS[safeguard]):
            return Answer(403, {"error": "safeguard_blocked", "safeguard": safeguard})
    return None
