"""The idempotency log: every key the gateway applied, and the answer a repeat of it gets.

Both functions work on the state dict inside `store.locked()`, so the log entry and the change
it records are saved together.
"""

from __future__ import annotations

from typing import Any

from corrections.sandbox.responses import Response, error, iso


def replay_of(state: dict[str, Any], key: str, correction_id: str, action: str, now: float) -> Response | None:
    """The first answer again if this key was already applied; a 409 if it was used for something else."""
    entry = state["idempotency"].get(key)
    if entry is None:
        return None
    if entry["correction_id"] != correction_id or entry["action"] != action:
        return error(
            409,
            "idempotency_key_reused",
            detail=f"This key was used to {entry['action']} correction {entry['correction_id']}.",
        )
    entry["seen_count"] += 1
    entry["last_seen_at"] = iso(now)
    return Response(200, {**entry["response"], "replayed": True})


def log_key(
    state: dict[str, Any],
    *,
    key: str,
    correction_id: str,
    action: str,
    generation: int,
    response: dict[str, Any],
    now: float,
    dry_run: bool = False,
) -> None:
    state["idempotency"][key] = {
        "idempotency_key": key,
        "correction_id": correction_id,
        "action": action,
        "generation": generation,
        "dry_run": dry_run,
        "applied_count": 1,  # only a new key is ever applied, so this stays 1
        "seen_count": 1,
        "applied_at": iso(now),
        "last_seen_at": iso(now),
        "response": response,
    }


def entries(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The log for GET /_sandbox/log, oldest first, without the stored answers."""
    found = [{k: v for k, v in entry.items() if k != "response"} for entry in state["idempotency"].values()]
    found.sort(key=lambda e: (e["applied_at"], e["idempotency_key"]))
    return found
