"""What a shared package may carry: an allowlist of fields, each with the function that builds it.

A package holds the incident's ref, and exactly the fields chosen from this list, nothing else.
Builders read from the incident as the sharer sees it (the service has checked they may see it)
and return JSON-ready data; none of them names the people involved. Other apps add fields from
their AppConfig.ready() without this package importing them:

    sharing_fields.register(ShareField("corrections", "Corrections taken", "...", build))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accounts import ledger
from accounts.models import User
from incidents.models import Evidence, Incident, TimelineEntry


@dataclass(frozen=True)
class ShareField:
    key: str
    label: str
    help: str
    build: Callable[[Incident, User], Any]


def _time(value) -> str | None:
    return ledger.format_time(value) if value else None


def _dates(incident: Incident, _user: User) -> dict[str, str | None]:
    names = ("occurred", "detected", "reported", "acknowledged", "contained", "resolved", "closed")
    return {name: _time(getattr(incident, f"{name}_at")) for name in names}


def _models_deployments(incident: Incident, _user: User) -> dict[str, Any]:
    deployments = sorted(incident.deployments.select_related("model"), key=lambda d: d.slug)
    return {
        "models": sorted({d.model.name for d in deployments}),
        "deployments": [
            {"slug": d.slug, "name": d.name, "model": d.model.name, "surface": d.surface, "region": d.region}
            for d in deployments
        ],
    }


def _timeline_excerpt(incident: Incident, _user: User) -> list[dict[str, Any]]:
    """The human entries (notes and decisions, with options and rationale), without their authors."""
    return [
        {"at": _time(e.occurred_at), "kind": e.kind, "text": e.body}
        | ({"options_considered": e.options_considered, "rationale": e.rationale} if e.kind == "decision" else {})
        for e in TimelineEntry.objects.filter(incident=incident).order_by("occurred_at", "id")
    ]


def _evidence_hashes(incident: Incident, _user: User) -> list[dict[str, Any]]:
    return [
        {"name": e.name, "kind": e.kind, "size": e.size, "sha256": e.sha256, "added_at": _time(e.uploaded_at)}
        for e in Evidence.objects.filter(incident=incident).order_by("uploaded_at", "id")
    ]


def _attribute(name: str) -> Callable[[Incident, User], Any]:
    return lambda incident, _user: getattr(incident, name)


_FIELDS: dict[str, ShareField] = {
    f.key: f
    for f in (
        ShareField("title", "Title", "The incident's title.", _attribute("title")),
        ShareField("summary", "Summary", "The incident's written summary.", _attribute("summary")),
        ShareField("category", "Category", "e.g. dangerous capability, misuse.", _attribute("category")),
        ShareField("risk_domain", "Risk domain", "e.g. CBRN, cyber.", _attribute("risk_domain")),
        ShareField("severity", "Severity", "SEV1 to SEV4.", _attribute("severity")),
        ShareField("status", "Status", "Where the response stands.", _attribute("status")),
        ShareField("dates", "Dates", "Occurred, detected, reported, acknowledged, contained, resolved, closed.",
                   _dates),
        ShareField("models_deployments", "Models and deployments", "Which models and deployments are involved.",
                   _models_deployments),
        ShareField("timeline_excerpt", "Timeline excerpt", "Notes and decisions (without who wrote them).",
                   _timeline_excerpt),
        ShareField("evidence_hashes", "Evidence hashes", "Each evidence file's name, kind, size and SHA-256 "
                   "(never the files).", _evidence_hashes),
    )
}  # fmt: skip


def register(field: ShareField) -> None:
    """Add a field (from another app's AppConfig.ready()); it goes after the built-in ones."""
    _FIELDS[field.key] = field


def share_fields() -> list[ShareField]:
    return list(_FIELDS.values())


def field_keys() -> list[str]:
    return list(_FIELDS)
