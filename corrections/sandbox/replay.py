"""Refusing a replayed signature: each signed request is accepted once.

A signature is remembered until its timestamp leaves the skew window; past that the timestamp
check refuses the request anyway, so the memory stays small.
"""

from __future__ import annotations

from corrections.connectors import signing
from corrections.sandbox.responses import Response, error, header
from corrections.sandbox.state import Store

REPLAYED_DETAIL = "This exact signed request was already received; sign every attempt afresh, with a new nonce."


def refuse_replay(store: Store, headers: dict[str, str], now: float) -> Response | None:
    """Remember this (already verified) request's signature; a 401 if it was seen before."""
    given = header(headers, signing.SIGNATURE_HEADER)
    keep_until = int(header(headers, signing.TIMESTAMP_HEADER)) + signing.MAX_SKEW_SECONDS + 1
    with store.locked():
        seen = store.replay
        for old in [s for s, until in seen.items() if until < now]:
            del seen[old]
        if given in seen:
            return error(401, "replayed", detail=REPLAYED_DETAIL)
        seen[given] = keep_until
        store.save_replay()
    return None
