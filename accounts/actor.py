"""Who did something, and through which door. Every service takes one explicitly."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from accounts import client
from accounts.models import ApiToken, User


@dataclass(frozen=True)
class Actor:
    user: User | None
    source: str  # web, api, task, command
    token: ApiToken | None = None
    task: str = ""
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    client_ip: str = ""
    # An inbound monitoring integration (incidents.integrations): a machine with no user.
    integration_id: int | None = None

    @classmethod
    def from_request(cls, request, *, source: str = "web") -> Actor:
        token = request.auth if isinstance(getattr(request, "auth", None), ApiToken) else None
        return cls(
            user=request.user,
            source="api" if token else source,
            token=token,
            request_id=getattr(request, "request_id", "") or uuid.uuid4().hex,
            client_ip=client.client_ip(request),
        )

    @classmethod
    def system(cls, task: str, *, source: str = "task") -> Actor:
        return cls(user=None, source=source, task=task)

    @classmethod
    def for_integration(cls, request, *, pk: int, name: str) -> Actor:
        return cls(
            user=None,
            source="api",
            task=f"integration {name}",
            integration_id=pk,
            request_id=getattr(request, "request_id", "") or uuid.uuid4().hex,
            client_ip=client.client_ip(request),
        )

    @classmethod
    def command(cls, user: User | None, name: str) -> Actor:
        return cls(user=user, source="command", task=name)

    @property
    def kind(self) -> str:
        if self.user is None:
            return "integration" if self.integration_id is not None else "system"
        return "token" if self.token else "user"

    @property
    def name(self) -> str:
        if self.user is None:
            return self.task or "system"
        return self.user.username

    @property
    def roles(self) -> list[str]:
        return sorted(self.user.roles) if self.user else []
