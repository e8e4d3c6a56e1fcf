"""Fault injection for tests: `POST /_sandbox/faults` makes the next matching calls fail or stall.

Faults live in the memory of the one gateway process (see serve.py), not on disk: a restart
clears them, as a test expects.
"""

from __future__ import annotations

import threading
from typing import Any

from corrections.sandbox import contract
from corrections.sandbox.responses import Response

FAULT_METHODS = ("PUT", "DELETE", "GET")
MAX_FAULT_DELAY_MS = 60_000


class Faults:
    """The faults waiting to be served, each used up after `times` matching calls."""

    def __init__(self) -> None:
        self._faults: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, fault: dict[str, Any]) -> list[dict[str, Any]]:
        with self._lock:
            self._faults.append(fault)
            return [dict(f) for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> dict[str, Any] | None:
        with self._lock:
            for fault in self._faults:
                if method in fault["methods"] and path.startswith(fault["path_prefix"]):
                    fault["times"] -= 1
                    if fault["times"] <= 0:
                        self._faults.remove(fault)
                    return dict(fault)
        return None


def fault_response(fault: dict[str, Any]) -> Response:
    headers = {"Retry-After": str(fault["retry_after"])} if fault["retry_after"] else {}
    return Response(fault["status"], {"error": "injected_fault", "status": fault["status"]}, headers)


def parse_fault(body: bytes) -> dict[str, Any]:
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
