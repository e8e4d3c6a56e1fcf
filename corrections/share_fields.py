"""The "corrections taken" field a shared package may carry (incidents.sharing.fields).

What ran and where, with its times: no rationale, parameters or names of people (they stay inside).
"""

from __future__ import annotations

from typing import Any

from accounts import ledger
from accounts.models import User
from corrections.catalogue import TYPES
from corrections.models import Correction
from incidents.models import Incident
from incidents.sharing import fields


def _time(value) -> str | None:
    return ledger.format_time(value) if value else None


def corrections_taken(incident: Incident, _user: User) -> list[dict[str, Any]]:
    rows = Correction.objects.filter(incident=incident).select_related("deployment", "model").order_by("requested_at")
    return [
        {
            "type": c.type,
            "family": TYPES[c.type].family if c.type in TYPES else "",
            "target": c.deployment.slug if c.deployment_id else c.model.name,
            "state": c.state,
            "requested_at": _time(c.requested_at),
            "activated_at": _time(c.activated_at),
            "lifted_at": _time(c.lifted_at),
        }
        for c in rows
    ]


def register() -> None:
    fields.register(
        fields.ShareField(
            "corrections", "Corrections taken", "Each correction's type, target, state and times.", corrections_taken
        )
    )
