"""The sandbox gateway's shared secret: its environment variable, the development value, the rule.

Neutral ground: seed_demo wires Failsafe's actuators with the same secret the gateway runs
with, and no app may import corrections.sandbox (the gateway is a separate process), so both
read these from here. Plain Python, no Django: the gateway imports it too.
"""

from __future__ import annotations

SANDBOX_SECRET_ENV = "FAILSAFE_SANDBOX_SECRET"
# Anyone who reads this file knows it: only for a gateway on your own machine, in debug.
DEV_SANDBOX_SECRET = "failsafe-sandbox-INSECURE-dev-secret"
MIN_SANDBOX_SECRET_LENGTH = 32


def sandbox_secret_problem(secret: str | None) -> str | None:
    """Why `secret` is not fit for a gateway outside debug, or None if it is."""
    if not secret:
        return (
            f"no secret is set; set {SANDBOX_SECRET_ENV} to a random value of {MIN_SANDBOX_SECRET_LENGTH}+ characters"
        )
    if secret == DEV_SANDBOX_SECRET:
        return f"the secret is the public development one; set {SANDBOX_SECRET_ENV} to a random value of its own"
    if len(secret) < MIN_SANDBOX_SECRET_LENGTH:
        return f"the secret has {len(secret)} characters; use at least {MIN_SANDBOX_SECRET_LENGTH}"
    return None
