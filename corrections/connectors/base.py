"""The connector interface (DESIGN §5): apply, lift, status, readiness."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

# Statuses worth trying again: the control plane is overloaded, restarting or rate-limiting us.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass
class CallResult:
    """What one call to an actuator did. `transient` says whether trying again may help."""

    ok: bool
    method: str
    url: str
    request_body: Any = None
    status: int | None = None
    body: Any = None
    latency_ms: int = 0
    error: str = ""
    transient: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        if self.ok:
            return "ok"
        return "transient" if self.transient else "permanent"


class Connector(Protocol):
    def apply(self, *, correction_id: str, payload: dict[str, Any], idempotency_key: str) -> CallResult: ...

    def lift(self, *, correction_id: str, idempotency_key: str, generation: int | None = None) -> CallResult: ...

    def status(self, *, correction_id: str) -> CallResult: ...

    def readiness(self) -> CallResult: ...
