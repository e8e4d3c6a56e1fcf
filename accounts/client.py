"""The client's network address: one answer for the ledger, the API throttles and the sign-in lockout.

Behind no proxy (FAILSAFE_TRUSTED_PROXY_COUNT=0) only REMOTE_ADDR counts: X-Forwarded-For is
whatever the client chose to send. Behind N proxies that each append the address they saw, the
Nth entry from the right of X-Forwarded-For is the one our nearest trusted proxy recorded; what
lies to its left was written by the client and is ignored.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def _valid(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return ""


def client_ip(request) -> str:
    """The client's address as a normalised IP string, or "" when there is none worth trusting."""
    remote = _valid(request.META.get("REMOTE_ADDR", "") or "")
    proxies = settings.FAILSAFE_TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    hops = [hop for hop in request.headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    if not hops:
        return remote
    # Fewer hops than proxies: the leftmost is the closest to the client we have (DRF does the same).
    return _valid(hops[-min(proxies, len(hops))]) or remote
