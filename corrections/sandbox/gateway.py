"""The sandbox gateway's logic: one request in, one response out. No sockets here (see wsgi.py).

Routes (docs/actuator-openapi.yaml describes each):

  GET /health                              signed
  PUT | DELETE | GET /corrections/{id}     signed; PUT and DELETE need an Idempotency-Key
  POST /v1/generate                        Authorization: Bearer <account key>
  POST | DELETE /_sandbox/faults           signed; fault injection for tests
  GET /_sandbox/log                        signed; the idempotency log

An apply with "dry_run": true (a drill's correction) is validated, recorded and logged like any
other, and its status reports it, but /v1/generate never enforces it (enforce.in_force).
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from typing import Any

from corrections.connectors import signing
from corrections.sandbox import VERSION, contract, enforce, idempotency
from corrections.sandbox.faults import Faults, fault_response, parse_fault
from corrections.sandbox.replay import refuse_replay
from corrections.sandbox.responses import Response, error, header, iso
from corrections.sandbox.state import Store
from corrections.sandbox.vocabulary import CORRECTION_TYPES, NEVER_DISPATCHED

logger = logging.getLogger("failsafe.sandbox")


class Gateway:
    """Everything but the sockets: `handle()` turns one request into one response."""

    def __init__(self, *, state_dir: str | os.PathLike, secret: str):
        if not secret:
            raise ValueError("The sandbox gateway needs a secret.")
        self.store = Store(state_dir)
        self._secret = secret
        self.faults = Faults()

    def __repr__(self) -> str:  # never the secret
        return f"Gateway(state_dir={str(self.store.dir)!r})"

    # --- routing ------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        now = time.time()
        if path == "/v1/generate":
            if method != "POST":
                return Response(405, {"error": "method_not_allowed"}, {"Allow": "POST"})
            return self._generate(headers, body, now)
        allowed = _allowed_methods(path)
        if allowed is None:
            return error(404, "not_found")
        if method not in allowed:
            return Response(405, {"error": "method_not_allowed"}, {"Allow": ", ".join(allowed)})
        refused = self._authenticate(method, path, headers, body, now)
        if refused is not None:
            return refused
        return self._signed(method, path, headers, body)

    def _signed(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        if path == "/_sandbox/log":
            return self._log()
        if path == "/_sandbox/faults":
            return self._set_faults(method, body)
        fault = self.faults.take(method, path)
        if fault is not None:
            if fault["delay_ms"]:
                time.sleep(fault["delay_ms"] / 1000)
            if fault["status"] is not None and not fault["apply_first"]:
                return fault_response(fault)
        response = self._actuator(method, path, headers, body)
        if fault is not None and fault["status"] is not None:
            return fault_response(fault)  # applied, but the answer is "lost"
        return response

    def _actuator(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        now = time.time()
        if path == "/health":
            return self._health(now)
        correction_id = path.removeprefix("/corrections/")
        idempotency_key = header(headers, signing.IDEMPOTENCY_HEADER).strip()
        if method == "PUT":
            return self._apply(correction_id, idempotency_key, body, now)
        if method == "DELETE":
            return self._lift(correction_id, idempotency_key, body, now)
        return self._status(correction_id, now)

    def _authenticate(self, method, path, headers, body, now) -> Response | None:
        reason = signing.verify(self._secret, headers=headers, method=method, path=path, body=body, now=now)
        if reason is not None:
            return error(401, reason)
        return refuse_replay(self.store, headers, now)

    # --- the actuator contract ----------------------------------------------------------------

    def _health(self, now: float) -> Response:
        with self.store.locked():
            deployments = sorted(self.store.state["deployments"])
        supported = [t for t in CORRECTION_TYPES if t not in NEVER_DISPATCHED]
        return Response(
            200,
            {"status": "ok", "deployments": deployments, "supported_types": supported, "version": VERSION,
             "time": iso(now)},
        )  # fmt: skip

    def _apply(self, correction_id: str, key: str, body: bytes, now: float) -> Response:
        refused = _check_key(key)
        if refused is not None:
            return refused
        with self.store.locked():
            state = self.store.state
            replay = idempotency.replay_of(state, key, correction_id, "apply", now)
            if replay is not None:
                return replay
            try:
                record = contract.parse_apply(body, correction_id=correction_id, deployments=state["deployments"])
            except contract.Invalid as exc:
                return error(400, "invalid", detail=exc.detail)
            existing = state["corrections"].get(correction_id)
            live = existing is not None and existing.get("state") == "active"
            if live and bool(existing.get("dry_run")) != record["dry_run"]:
                # A dry run never turns a real correction off at the edge, nor a real apply a drill's on.
                return error(
                    409,
                    "dry_run_mismatch",
                    detail=f"Correction {correction_id} is active with dry_run={existing.get('dry_run', False)}; "
                    "lift it before applying it otherwise.",
                )
            if existing is not None and (
                record["generation"] < existing["generation"]
                or (record["generation"] == existing["generation"] and existing["last_action"] == "lift")
            ):
                return error(
                    409,
                    "stale_generation",
                    detail=f"Generation {record['generation']} is older than this correction's last change "
                    f"({existing['last_action']} at generation {existing['generation']}).",
                )
            applied_at = iso(now)
            state["corrections"][correction_id] = {
                **record,
                "id": correction_id,
                "state": "active",
                "applied_at": applied_at,
                "lifted_at": None,
                "last_action": "apply",
                "idempotency_key": key,
            }
            body_out = {
                "id": correction_id,
                "state": "active",
                "applied_at": applied_at,
                "idempotency_key": key,
                "replayed": False,
                "dry_run": record["dry_run"],
                "enforced": not record["dry_run"],
            }
            if record["dry_run"]:
                logger.warning(
                    "dry run recorded, not enforced: correction %s %s on %s", correction_id, record["type"],
                    record["deployment"] or record["model"],
                )  # fmt: skip
            return self._done(state, key, correction_id, "apply", record["generation"], body_out, now)

    def _done(
        self, state: dict, key: str, correction_id: str, action: str, generation: int, body_out: dict, now: float
    ) -> Response:
        """Log the key with its answer (so a repeat replays it) and persist, still under the lock."""
        idempotency.log_key(
            state, key=key, correction_id=correction_id, action=action, generation=generation, response=body_out,
            now=now, dry_run=bool(state["corrections"].get(correction_id, {}).get("dry_run")),
        )  # fmt: skip
        self.store.save_state()
        return Response(200, body_out)

    def _lift(self, correction_id: str, key: str, body: bytes, now: float) -> Response:
        refused = _check_key(key)
        if refused is not None:
            return refused
        try:
            generation = contract.parse_lift(body)
        except contract.Invalid as exc:
            return error(400, "invalid", detail=exc.detail)
        with self.store.locked():
            state = self.store.state
            replay = idempotency.replay_of(state, key, correction_id, "lift", now)
            if replay is not None:
                return replay
            existing = state["corrections"].get(correction_id)
            if existing is not None and generation is not None and generation < existing["generation"]:
                return error(
                    409,
                    "stale_generation",
                    detail=f"Generation {generation} is older than this correction's last change "
                    f"({existing['last_action']} at generation {existing['generation']}).",
                )
            if existing is None:
                # A tombstone: an apply that arrives late, from an older generation, is refused.
                existing = state["corrections"][correction_id] = {
                    "id": correction_id,
                    "type": None,
                    "deployment": None,
                    "model": None,
                    "params": None,
                    "expires_at": None,
                    "applied_at": None,
                    "generation": generation or 0,
                    "idempotency_key": key,
                }
            if existing.get("state") != "lifted":
                existing["lifted_at"] = iso(now)
            existing.update(state="lifted", last_action="lift", generation=max(existing["generation"], generation or 0))
            body_out = {
                "id": correction_id,
                "state": "lifted",
                "lifted_at": existing["lifted_at"],
                "idempotency_key": key,
                "replayed": False,
            }
            return self._done(state, key, correction_id, "lift", existing["generation"], body_out, now)

    def _status(self, correction_id: str, now: float) -> Response:
        with self.store.locked():
            record = self.store.state["corrections"].get(correction_id)
        if record is None:
            return error(404, "not_found")
        return Response(200, _public(record, now))

    # --- the toy model ------------------------------------------------------------------------

    def _generate(self, headers: dict[str, str], body: bytes, now: float) -> Response:
        with self.store.locked():
            answer = enforce.generate(
                self.store.state,
                self.store.rate,
                authorization=header(headers, "Authorization"),
                body=body,
                now=now,
            )
            if answer.rate_changed:
                self.store.save_rate()
        return Response(answer.status, answer.body, answer.headers)

    # --- test hooks ---------------------------------------------------------------------------

    def _log(self) -> Response:
        with self.store.locked():
            entries = idempotency.entries(self.store.state)
        return Response(200, {"entries": entries})

    def _set_faults(self, method: str, body: bytes) -> Response:
        if method == "DELETE":
            self.faults.clear()
            return Response(200, {"faults": []})
        try:
            fault = parse_fault(body)
        except contract.Invalid as exc:
            return error(400, "invalid", detail=exc.detail)
        return Response(200, {"faults": self.faults.add(fault)})


def _allowed_methods(path: str) -> tuple[str, ...] | None:
    if path == "/health" or path == "/_sandbox/log":
        return ("GET",)
    if path == "/_sandbox/faults":
        return ("POST", "DELETE")
    if path.startswith("/corrections/") and contract.valid_id(path.removeprefix("/corrections/")):
        return ("PUT", "DELETE", "GET")
    return None


def _check_key(key: str) -> Response | None:
    if not key:
        return error(400, "invalid", detail=f"The {signing.IDEMPOTENCY_HEADER} header is required.")
    if len(key) > contract.MAX_KEY_LENGTH or not key.isprintable():
        return error(400, "invalid", detail=f"The {signing.IDEMPOTENCY_HEADER} must be 1–200 printable characters.")
    return None


def _public(record: dict[str, Any], now: float) -> dict[str, Any]:
    fields = ("id", "state", "type", "deployment", "model", "params", "applied_at", "lifted_at", "expires_at")
    out = {name: record.get(name) for name in fields}
    out["generation"] = record["generation"]
    out["dry_run"] = bool(record.get("dry_run"))
    out["enforced"] = enforce.in_force(record, datetime.fromtimestamp(now, UTC))
    return out
