"""Request signing for the actuator HTTP contract (docs/actuator-openapi.yaml).

The signature is HMAC-SHA256, keyed with the deployment's secret, over

    "<timestamp>\n<nonce>\n<METHOD>\n<path>\n<idempotency key>\n<body>"

Signing the method, path and key as well as the timestamp and body means a captured signed
GET cannot be replayed as a DELETE of the same path, nor a body moved to another correction.
The nonce (random per request) makes two honest identical requests in the same second sign
differently, so an actuator can refuse any signature it has already seen as a replay.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

TIMESTAMP_HEADER = "X-Failsafe-Timestamp"
SIGNATURE_HEADER = "X-Failsafe-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
NONCE_HEADER = "X-Failsafe-Nonce"
MAX_SKEW_SECONDS = 300


def signature(
    secret: str, *, timestamp: str, method: str, path: str, idempotency_key: str, body: bytes, nonce: str = ""
) -> str:
    parts = [timestamp.encode(), nonce.encode(), method.upper().encode(), path.encode(), idempotency_key.encode()]
    message = b"\n".join([*parts, body])
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, *, method: str, path: str, body: bytes = b"", idempotency_key: str = "") -> dict[str, str]:
    """Headers for one request."""
    timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
    headers = {
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: signature(
            secret,
            timestamp=timestamp,
            method=method,
            path=path,
            idempotency_key=idempotency_key,
            body=body,
            nonce=nonce,
        ),
    }
    if idempotency_key:
        headers[IDEMPOTENCY_HEADER] = idempotency_key
    return headers


def verify(
    secret: str,
    *,
    headers: dict[str, str],
    method: str,
    path: str,
    body: bytes,
    now: float | None = None,
    max_skew: int = MAX_SKEW_SECONDS,
) -> str | None:
    """Returns None when the request is authentic and fresh, else the reason it is not."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    given = lowered.get(SIGNATURE_HEADER.lower(), "")
    if not timestamp.isdigit() or not given:
        return "missing_signature"
    if abs((now if now is not None else time.time()) - int(timestamp)) > max_skew:
        return "stale_timestamp"
    expected = signature(
        secret,
        timestamp=timestamp,
        method=method,
        path=path,
        idempotency_key=lowered.get(IDEMPOTENCY_HEADER.lower(), ""),
        body=body,
        nonce=lowered.get(NONCE_HEADER.lower(), ""),
    )
    if not hmac.compare_digest(expected, given):
        return "bad_signature"
    return None
