"""The generic connector: the actuator HTTP contract (docs/actuator-openapi.yaml)."""

from __future__ import annotations

import json
import time
from typing import Any

import requests

from corrections.connectors import signing
from corrections.connectors.base import TRANSIENT_STATUSES, CallResult

MAX_BODY_CHARS = 10_000


class HttpActuatorConnector:
    def __init__(self, *, base_url: str, secret: str, connect_timeout: float = 2.0, read_timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        self.timeout = (connect_timeout, read_timeout)
        self._session = requests.Session()

    def __repr__(self) -> str:  # never the secret
        return f"HttpActuatorConnector({self.base_url!r})"

    def apply(self, *, correction_id: str, payload: dict[str, Any], idempotency_key: str) -> CallResult:
        return self._call("PUT", f"/corrections/{correction_id}", payload, idempotency_key)

    def lift(self, *, correction_id: str, idempotency_key: str, generation: int | None = None) -> CallResult:
        # The generation lets the actuator refuse an older apply that arrives after this lift.
        body = {"generation": generation} if generation is not None else None
        return self._call("DELETE", f"/corrections/{correction_id}", body, idempotency_key)

    def status(self, *, correction_id: str) -> CallResult:
        return self._call("GET", f"/corrections/{correction_id}", None, "")

    def readiness(self) -> CallResult:
        return self._call("GET", "/health", None, "")

    def _call(self, method: str, path: str, payload: Any, idempotency_key: str) -> CallResult:
        url = self.base_url + path
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode() if payload is not None else b""
        sign_path = requests.utils.urlparse(url).path
        headers = signing.sign(self._secret, method=method, path=sign_path, body=body, idempotency_key=idempotency_key)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        started = time.monotonic()
        try:
            response = self._session.request(method, url, data=body or None, headers=headers, timeout=self.timeout)
        except requests.Timeout as exc:
            return self._result(method, url, payload, started, error=f"timeout: {type(exc).__name__}", transient=True)
        except requests.ConnectionError as exc:
            return self._result(method, url, payload, started, error=f"connection failed: {exc.__class__.__name__}",
                                transient=True)  # fmt: skip
        except requests.RequestException as exc:
            return self._result(method, url, payload, started, error=f"request failed: {exc.__class__.__name__}")
        try:
            data = response.json()
        except ValueError:
            data = {"text": response.text[:MAX_BODY_CHARS]}
        ok = 200 <= response.status_code < 300
        return self._result(
            method, url, payload, started,
            ok=ok, status=response.status_code, body=data,
            error="" if ok else f"HTTP {response.status_code}: {_summary(data)}",
            transient=response.status_code in TRANSIENT_STATUSES,
        )  # fmt: skip

    @staticmethod
    def _result(method, url, payload, started, **kwargs) -> CallResult:
        return CallResult(
            method=method,
            url=url,
            request_body=payload,
            latency_ms=int((time.monotonic() - started) * 1000),
            **{"ok": False, **kwargs},
        )


def _summary(data: Any) -> str:
    if isinstance(data, dict):
        return str(data.get("error") or data.get("detail") or data)[:300]
    return str(data)[:300]
