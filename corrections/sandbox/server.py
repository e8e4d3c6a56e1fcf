"""The sandbox gateway's HTTP server: the actuator contract, the toy model endpoint, test hooks.

Routes (docs/actuator-openapi.yaml describes each):

  GET /health                              signed
  PUT | DELETE | GET /corrections/{id}     signed; PUT and DELETE need an Idempotency-Key
  POST /v1/generate                        Authorization: Bearer <account key>
  POST | DELETE /_sandbox/faults           signed; fault injection for tests
  GET /_sandbox/log                        signed; the idempotency log

One log line per request — method, path, status, latency — and never a secret, a signature or
an account key.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from corrections.connectors import signing
from corrections.sandbox import VERSION, contract, enforce
from corrections.sandbox.state import Store

logger = logging.getLogger("failsafe.sandbox")

# Anyone who reads this file knows it: only for a gateway on your own machine.
DEV_SECRET = "failsafe-sandbox-INSECURE-dev-secret"
MAX_BODY_BYTES = 1 << 20
FAULT_METHODS = ("PUT", "DELETE", "GET")
MAX_FAULT_DELAY_MS = 60_000
REPLAYED_DETAIL = "This exact signed request was already received; sign every attempt afresh, with a new nonce."


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


@dataclass
class Response:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, error: str, **extra: Any) -> Response:
    return Response(status, {"error": error, **extra})


class Gateway:
    """Everything but the sockets: `handle()` turns one request into one response."""

    def __init__(self, *, state_dir, secret: str):
        if not secret:
            raise ValueError("The sandbox gateway needs a secret.")
        self.store = Store(state_dir)
        self._secret = secret
        self._faults: list[dict[str, Any]] = []
        self._faults_lock = threading.Lock()
        self._inflight = 0
        self._idle = threading.Condition()
        self.closing = False

    def __repr__(self) -> str:  # never the secret
        return f"Gateway(state_dir={str(self.store.dir)!r})"

    # --- request bookkeeping, for a graceful stop ---------------------------------------------

    def begin(self) -> None:
        with self._idle:
            self._inflight += 1

    def end(self) -> None:
        with self._idle:
            self._inflight -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._inflight == 0, timeout=timeout)

    # --- routing ------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        if self.closing:
            return Response(503, {"error": "shutting_down"}, {"Retry-After": "1", "Connection": "close"})
        now = time.time()
        if path == "/v1/generate":
            if method != "POST":
                return Response(405, {"error": "method_not_allowed"}, {"Allow": "POST"})
            return self._generate(headers, body, now)
        allowed = _allowed_methods(path)
        if allowed is None:
            return _error(404, "not_found")
        if method not in allowed:
            return Response(405, {"error": "method_not_allowed"}, {"Allow": ", ".join(allowed)})
        refused = self._authenticate(method, path, headers, body, now)
        if refused is not None:
            return refused
        return self._signed(method, path, headers, body, now)

    def _signed(self, method: str, path: str, headers: dict[str, str], body: bytes, now: float) -> Response:
        if path == "/_sandbox/log":
            return self._log()
        if path == "/_sandbox/faults":
            return self._set_faults(method, body)
        fault = self._take_fault(method, path)
        if fault is not None:
            if fault["delay_ms"]:
                time.sleep(fault["delay_ms"] / 1000)
            if fault["status"] is not None and not fault["apply_first"]:
                return self._fault_response(fault)
        response = self._actuator(method, path, headers, body)
        if fault is not None and fault["status"] is not None:
            return self._fault_response(fault)  # applied, but the answer is "lost"
        return response

    def _actuator(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        now = time.time()
        if path == "/health":
            return self._health(now)
        correction_id = path.removeprefix("/corrections/")
        idempotency_key = _header(headers, signing.IDEMPOTENCY_HEADER).strip()
        if method == "PUT":
            return self._apply(correction_id, idempotency_key, body, now)
        if method == "DELETE":
            return self._lift(correction_id, idempotency_key, body, now)
        return self._status(correction_id, now)

    # --- authentication -----------------------------------------------------------------------

    def _authenticate(self, method, path, headers, body, now) -> Response | None:
        reason = signing.verify(self._secret, headers=headers, method=method, path=path, body=body, now=now)
        if reason is not None:
            return _error(401, reason)
        given = _header(headers, signing.SIGNATURE_HEADER)
        # Past this, the timestamp check refuses the request anyway.
        keep_until = int(_header(headers, signing.TIMESTAMP_HEADER)) + signing.MAX_SKEW_SECONDS + 1
        with self.store.locked():
            seen = self.store.replay
            for old in [s for s, until in seen.items() if until < now]:
                del seen[old]
            if given in seen:
                return _error(401, "replayed", detail=REPLAYED_DETAIL)
            seen[given] = keep_until
            self.store.save_replay()
        return None

    # --- the actuator contract ----------------------------------------------------------------

    def _health(self, now: float) -> Response:
        with self.store.locked():
            deployments = sorted(self.store.state["deployments"])
        return Response(200, {"status": "ok", "deployments": deployments, "version": VERSION, "time": iso(now)})

    def _apply(self, correction_id: str, key: str, body: bytes, now: float) -> Response:
        refused = _check_key(correction_id, key)
        if refused is not None:
            return refused
        with self.store.locked():
            state = self.store.state
            replay = self._replay_of(state, key, correction_id, "apply", now)
            if replay is not None:
                return replay
            try:
                record = contract.parse_apply(body, correction_id=correction_id, deployments=state["deployments"])
            except contract.Invalid as exc:
                return _error(400, "invalid", detail=exc.detail)
            existing = state["corrections"].get(correction_id)
            if existing is not None and (
                record["generation"] < existing["generation"]
                or (record["generation"] == existing["generation"] and existing["last_action"] == "lift")
            ):
                return _error(
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
            }
            self._log_key(state, key, correction_id, "apply", record["generation"], body_out, now)
            self.store.save_state()
        return Response(200, body_out)

    def _lift(self, correction_id: str, key: str, body: bytes, now: float) -> Response:
        refused = _check_key(correction_id, key)
        if refused is not None:
            return refused
        try:
            generation = contract.parse_lift(body)
        except contract.Invalid as exc:
            return _error(400, "invalid", detail=exc.detail)
        with self.store.locked():
            state = self.store.state
            replay = self._replay_of(state, key, correction_id, "lift", now)
            if replay is not None:
                return replay
            existing = state["corrections"].get(correction_id)
            if existing is not None and generation is not None and generation < existing["generation"]:
                return _error(
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
            self._log_key(state, key, correction_id, "lift", existing["generation"], body_out, now)
            self.store.save_state()
        return Response(200, body_out)

    def _status(self, correction_id: str, now: float) -> Response:
        with self.store.locked():
            record = self.store.state["corrections"].get(correction_id)
        if record is None:
            return _error(404, "not_found")
        return Response(200, _public(record, now))

    @staticmethod
    def _replay_of(state, key: str, correction_id: str, action: str, now: float) -> Response | None:
        entry = state["idempotency"].get(key)
        if entry is None:
            return None
        if entry["correction_id"] != correction_id or entry["action"] != action:
            return _error(
                409,
                "idempotency_key_reused",
                detail=f"This key was used to {entry['action']} correction {entry['correction_id']}.",
            )
        entry["seen_count"] += 1
        entry["last_seen_at"] = iso(now)
        return Response(200, {**entry["response"], "replayed": True})

    @staticmethod
    def _log_key(state, key, correction_id, action, generation, response, now) -> None:
        state["idempotency"][key] = {
            "idempotency_key": key,
            "correction_id": correction_id,
            "action": action,
            "generation": generation,
            "applied_count": 1,  # only a new key is ever applied, so this stays 1
            "seen_count": 1,
            "applied_at": iso(now),
            "last_seen_at": iso(now),
            "response": response,
        }

    # --- the toy model ------------------------------------------------------------------------

    def _generate(self, headers: dict[str, str], body: bytes, now: float) -> Response:
        with self.store.locked():
            answer = enforce.generate(
                self.store.state,
                self.store.rate,
                authorization=_header(headers, "Authorization"),
                body=body,
                now=now,
            )
            if answer.rate_changed:
                self.store.save_rate()
        return Response(answer.status, answer.body, answer.headers)

    # --- test hooks ---------------------------------------------------------------------------

    def _log(self) -> Response:
        with self.store.locked():
            entries = [
                {k: v for k, v in entry.items() if k != "response"}
                for entry in self.store.state["idempotency"].values()
            ]
        entries.sort(key=lambda e: (e["applied_at"], e["idempotency_key"]))
        return Response(200, {"entries": entries})

    def _set_faults(self, method: str, body: bytes) -> Response:
        if method == "DELETE":
            with self._faults_lock:
                self._faults.clear()
            return Response(200, {"faults": []})
        try:
            fault = _parse_fault(body)
        except contract.Invalid as exc:
            return _error(400, "invalid", detail=exc.detail)
        with self._faults_lock:
            self._faults.append(fault)
            return Response(200, {"faults": [dict(f) for f in self._faults]})

    def _take_fault(self, method: str, path: str) -> dict[str, Any] | None:
        with self._faults_lock:
            for fault in self._faults:
                if method in fault["methods"] and path.startswith(fault["path_prefix"]):
                    fault["times"] -= 1
                    if fault["times"] <= 0:
                        self._faults.remove(fault)
                    return dict(fault)
        return None

    @staticmethod
    def _fault_response(fault: dict[str, Any]) -> Response:
        headers = {"Retry-After": str(fault["retry_after"])} if fault["retry_after"] else {}
        return Response(fault["status"], {"error": "injected_fault", "status": fault["status"]}, headers)


def _allowed_methods(path: str) -> tuple[str, ...] | None:
    if path == "/health" or path == "/_sandbox/log":
        return ("GET",)
    if path == "/_sandbox/faults":
        return ("POST", "DELETE")
    if path.startswith("/corrections/") and contract.valid_id(path.removeprefix("/corrections/")):
        return ("PUT", "DELETE", "GET")
    return None


def _header(headers: dict[str, str], name: str) -> str:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), "")


def _check_key(correction_id: str, key: str) -> Response | None:
    if not key:
        return _error(400, "invalid", detail=f"The {signing.IDEMPOTENCY_HEADER} header is required.")
    if len(key) > contract.MAX_KEY_LENGTH or not key.isprintable():
        return _error(400, "invalid", detail=f"The {signing.IDEMPOTENCY_HEADER} must be 1–200 printable characters.")
    return None


def _public(record: dict[str, Any], now: float) -> dict[str, Any]:
    fields = ("id", "state", "type", "deployment", "model", "params", "applied_at", "lifted_at", "expires_at")
    out = {name: record.get(name) for name in fields}
    out["generation"] = record["generation"]
    out["enforced"] = enforce.in_force(record, datetime.fromtimestamp(now, UTC))
    return out


def _parse_fault(body: bytes) -> dict[str, Any]:
    data = contract.parse_json_object(body)
    status = data.get("status")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599):
        raise contract.Invalid("status must be an HTTP error status, 400 to 599, or null to only delay.")
    times = data.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or not 1 <= times <= 1000:
        raise contract.Invalid("times must be a whole number from 1 to 1000.")
    methods = data.get("methods") or list(FAULT_METHODS)
    if not isinstance(methods, list) or not all(isinstance(m, str) and m.upper() in FAULT_METHODS for m in methods):
        raise contract.Invalid(f"methods must be a list drawn from {', '.join(FAULT_METHODS)}.")
    delay_ms = data.get("delay_ms", 0)
    if isinstance(delay_ms, bool) or not isinstance(delay_ms, int) or not 0 <= delay_ms <= MAX_FAULT_DELAY_MS:
        raise contract.Invalid(f"delay_ms must be a whole number from 0 to {MAX_FAULT_DELAY_MS}.")
    if status is None and not delay_ms:
        raise contract.Invalid("Give a status, a delay_ms, or both.")
    path_prefix = data.get("path_prefix", "/corrections/")
    if not isinstance(path_prefix, str) or not path_prefix.startswith("/"):
        raise contract.Invalid("path_prefix must be a path starting with /.")
    retry_after = data.get("retry_after")
    if retry_after is not None and (isinstance(retry_after, bool) or not isinstance(retry_after, int)):
        raise contract.Invalid("retry_after must be a whole number of seconds.")
    return {
        "status": status,
        "times": times,
        "methods": sorted({m.upper() for m in methods}),
        "path_prefix": path_prefix,
        "delay_ms": delay_ms,
        "apply_first": bool(data.get("apply_first", False)),
        "retry_after": retry_after if retry_after is not None else (1 if status == 429 or (status or 0) >= 500 else 0),
    }


# --- HTTP -------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the connector reuses its connection
    disable_nagle_algorithm = True  # headers and body go out as two writes; Nagle would hold the second ~40 ms
    server_version = "FailsafeSandbox/1.0"
    sys_version = ""
    timeout = 120  # an idle keep-alive connection is closed after this

    def do_GET(self):
        self._serve()

    def do_PUT(self):
        self._serve()

    def do_DELETE(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def do_PATCH(self):
        self._serve()

    def _serve(self) -> None:
        gateway: Gateway = self.server.gateway
        started = time.perf_counter()
        path = urlsplit(self.path).path
        gateway.begin()
        try:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY_BYTES:
                self.close_connection = True  # the unread body would be taken for the next request
                response = _error(413 if length > 0 else 400, "invalid", detail="Bad or oversized Content-Length.")
            else:
                body = self.rfile.read(length) if length else b""
                try:
                    response = gateway.handle(self.command, path, dict(self.headers.items()), body)
                except Exception:
                    logger.exception("unhandled error on %s %s", self.command, path[:200])
                    response = _error(500, "internal_error")
            self._send(response)
        finally:
            gateway.end()
            logger.info(
                "%s %s %s %.1fms",
                self.command,
                path[:200],
                getattr(self, "_status", "-"),
                (time.perf_counter() - started) * 1000,
            )

    def _send(self, response: Response) -> None:
        payload = json.dumps(response.body).encode()
        self._status = response.status
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.headers.get("Connection") == "close":
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    def log_request(self, code="-", size="-"):
        pass  # _serve logs one line per request, with its latency

    def log_message(self, format, *args):
        logger.warning("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, gateway: Gateway):
        self.gateway = gateway
        super().__init__(address, _Handler)


class _Server6(_Server):
    address_family = socket.AF_INET6


def make_server(gateway: Gateway, host: str, port: int) -> _Server:
    """A bound server (port 0 picks a free one: read it from server.server_address[1])."""
    server_class = _Server6 if ":" in host else _Server
    return server_class((host, port), gateway)


def run(*, host: str, port: int, state_dir, secret: str, announce: Callable[[str], None] = print) -> None:
    """Serve until SIGTERM or SIGINT, then finish the requests in flight and stop."""
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    gateway = Gateway(state_dir=state_dir, secret=secret)
    server = make_server(gateway, host, port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # kept to the end: a second signal must not cut the stop short
        signal.signal(sig, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    announce(f"Sandbox gateway listening on http://{shown_host}:{bound_port} (state in {gateway.store.dir})")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        logger.info("stopping: finishing requests in flight")
        server.shutdown()
        gateway.closing = True
        gateway.wait_idle(timeout=10)
        server.server_close()
        logger.info("stopped")
