"""The sandbox gateway as a WSGI application: HTTP in, Gateway.handle, JSON out.

`create_application(state_dir=..., secret=...)` wraps one Gateway. Serve it with one worker
process (the fault injection list lives in its memory) and as many threads as you like; serve.py
does, under gunicorn. Request lines are logged by gunicorn's access log (method, path, status,
latency; serve.py sets the format), so nothing here logs headers, bodies or keys.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from corrections.sandbox.gateway import Gateway
from corrections.sandbox.responses import Response, error

logger = logging.getLogger("failsafe.sandbox")

MAX_BODY_BYTES = 1 << 20


class GatewayApplication:
    """A WSGI callable around one Gateway."""

    def __init__(self, gateway: Gateway):
        self.gateway = gateway

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO") or "/"
        body = _read_body(environ)
        if isinstance(body, Response):
            response = body
        else:
            try:
                response = self.gateway.handle(method, path, _headers(environ), body)
            except Exception:
                logger.exception("unhandled error on %s %s", method, path[:200])
                response = error(500, "internal_error")
        payload = json.dumps(response.body).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            ("Cache-Control", "no-store"),
            *response.headers.items(),
        ]
        start_response(_status_line(response.status), headers)
        return [payload]


def create_application(*, state_dir: str | os.PathLike, secret: str) -> GatewayApplication:
    return GatewayApplication(Gateway(state_dir=state_dir, secret=secret))


def _read_body(environ: dict[str, Any]) -> bytes | Response:
    raw_length = environ.get("CONTENT_LENGTH") or ""
    try:
        length = int(raw_length) if raw_length else None
    except ValueError:
        length = -1
    if length is not None and (length < 0 or length > MAX_BODY_BYTES):
        # Unread: gunicorn discards a body the app left before it reads the next request.
        return error(413 if length > 0 else 400, "invalid", detail="Bad or oversized Content-Length.")
    stream = environ["wsgi.input"]
    body = stream.read(length) if length is not None else stream.read(MAX_BODY_BYTES + 1)  # chunked
    if len(body) > MAX_BODY_BYTES:
        return error(413, "invalid", detail="The body is over 1 MiB.")
    return body


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {name[5:].replace("_", "-").title(): value for name, value in environ.items() if name.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    return headers


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:  # an injected fault may use any 4xx or 5xx
        return f"{status} Error"
