"""Reading playbooks: the list, one with its versions, which one fits an incident, and what a
request may be pre-authorised by. A fixed number of queries each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.db.models import Prefetch, QuerySet
from django.urls import reverse

from corrections import policy
from corrections.catalogue import TYPES
from corrections.models import IncidentPlaybook, Playbook, PlaybookVersion
from incidents.models import Incident

PARAM_PREFIX = "param_"  # the request form's field names (corrections.forms.PARAM_PREFIX)


def playbook_list() -> QuerySet[Playbook]:
    """Every playbook with its current version (one query, two with the prefetch)."""
    current = PlaybookVersion.objects.filter(is_current=True).select_related("created_by", "preauth_approved_by")
    return Playbook.objects.prefetch_related(Prefetch("versions", queryset=current, to_attr="current")).order_by("slug")


def playbook_get(pk: int) -> Playbook | None:
    versions = PlaybookVersion.objects.select_related("created_by", "preauth_approved_by").order_by("-number")
    return (
        Playbook.objects.prefetch_related(Prefetch("versions", queryset=versions, to_attr="all_versions"))
        .filter(pk=pk)
        .first()
    )


def current_version_of(playbook_id: int) -> PlaybookVersion | None:
    return PlaybookVersion.objects.select_related("playbook").filter(playbook_id=playbook_id, is_current=True).first()


def current_versions(*, active_only: bool = True) -> QuerySet[PlaybookVersion]:
    versions = PlaybookVersion.objects.filter(is_current=True).select_related("playbook")
    return versions.filter(active=True) if active_only else versions


def matcher_of(version: PlaybookVersion) -> policy.Matcher:
    return policy.Matcher(
        frozenset(version.categories), frozenset(version.risk_domains), version.min_severity, version.priority
    )


def profile_of(incident: Incident, *, deployments: bool = False) -> policy.IncidentProfile:
    slugs = frozenset(incident.deployments.values_list("slug", flat=True)) if deployments else frozenset()
    return policy.IncidentProfile(incident.category, incident.risk_domain, incident.severity, slugs)


def best_version_for(incident: Incident) -> PlaybookVersion | None:
    """The current version of the best matching active playbook (highest priority), or None."""
    versions = list(current_versions().order_by("playbook__slug"))
    return policy.best_match([(v, matcher_of(v)) for v in versions], profile_of(incident))


def playbook_for(incident: Incident) -> PlaybookVersion | None:
    """The playbook version last attached to this incident (when it was created or escalated), or None."""
    attached = (
        IncidentPlaybook.objects.filter(incident=incident)
        .select_related("version__playbook", "version__preauth_approved_by")
        .order_by("-attached_at", "-id")
        .first()
    )
    return attached.version if attached else None


def preauthorisations_for(incident: Incident) -> list[policy.PreAuthorisation]:
    """Every current, approved pre-authorisation of an active playbook (one query); policy decides."""
    versions = current_versions().filter(preauth_approved_at__isnull=False).exclude(preauthorised_type="")
    found = []
    for version in versions.order_by("-priority", "playbook__slug"):
        named = next((r for r in version.recommendations if r.get("type") == version.preauthorised_type), None)
        if named is None:
            continue
        found.append(
            policy.PreAuthorisation(
                version_id=version.pk, label=version.label, matcher=matcher_of(version), type=named["type"],
                params=named.get("params") or {}, duration_minutes=named.get("duration_minutes"),
                approved=version.preauthorised,
            )
        )  # fmt: skip
    return found


@dataclass(frozen=True)
class RequestLink:
    deployment: str
    url: str


@dataclass(frozen=True)
class RecommendationRow:
    """A recommended correction as the incident page shows it: a one-click link per target."""

    type: str
    label: str
    params: dict[str, Any]
    duration_minutes: int | None
    note: str
    preauthorised: bool
    links: list[RequestLink]

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type, "label": self.label, "params": self.params, "duration_minutes": self.duration_minutes,
            "note": self.note, "preauthorised": self.preauthorised,
            "requests": [{"deployment": link.deployment, "form_url": link.url,
                          "body": request_body(self, link.deployment)} for link in self.links],
        }  # fmt: skip


def request_body(row: RecommendationRow, deployment: str) -> dict[str, Any]:
    """What POST /api/v1/incidents/{ref}/corrections/ takes to request this recommendation."""
    body: dict[str, Any] = {"type": row.type, "params": row.params, "rationale": row.note or row.label}
    if deployment:
        body["deployment"] = deployment
    if row.duration_minutes is not None:
        body["duration_minutes"] = row.duration_minutes
    return body


def _form_query(recommendation: dict[str, Any], deployment: str, rationale: str) -> str:
    pairs: list[tuple[str, str]] = [("type", recommendation["type"])]
    if deployment:
        pairs.append(("deployment", deployment))
    kinds = {p.name: p.kind for p in TYPES[recommendation["type"]].params}
    for name, value in (recommendation.get("params") or {}).items():
        values = value if isinstance(value, list) else [value]
        if kinds.get(name) == "list":  # a text area of comma-separated items, not one field per item
            values = [", ".join(str(v) for v in values)]
        pairs.extend((PARAM_PREFIX + name, str(v)) for v in values)
    if recommendation.get("duration_minutes") is not None:
        pairs.append(("duration_minutes", str(recommendation["duration_minutes"])))
    pairs.append(("rationale", rationale))
    return urlencode(pairs)


def recommendations_for(incident: Incident, version: PlaybookVersion | None) -> list[RecommendationRow]:
    """The version's recommended corrections, each with a link to the request form filled in per deployment."""
    if version is None:
        return []
    deployments = [d.slug for d in incident.deployments.all()]
    new = reverse("correction-new", args=[incident.ref])
    rows = []
    for rec in version.recommendations:
        ctype = TYPES.get(rec.get("type", ""))
        if ctype is None:
            continue
        rationale = f"Recommended by playbook {version.label}" + (f": {rec['note']}" if rec.get("note") else ".")
        targets = deployments if ctype.target_kind == "deployment" and deployments else [""]
        links = [RequestLink(d, f"{new}?{_form_query(rec, d, rationale)}") for d in targets]
        rows.append(
            RecommendationRow(
                type=ctype.key, label=ctype.label, params=rec.get("params") or {},
                duration_minutes=rec.get("duration_minutes"), note=rec.get("note", ""),
                preauthorised=version.preauthorised and version.preauthorised_type == ctype.key, links=links,
            )
        )  # fmt: skip
    return rows


# --- what changed between versions (the detail page) ------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One field that differs from the version before: removed and added items for lists, else before → after."""

    field: str
    before: str = ""
    after: str = ""
    removed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()


def _criterion(item: dict[str, Any]) -> str:
    where = f" [{item.get('risk_domain')}]" if item.get("risk_domain") else ""
    return f"{item.get('text', '')} → {item.get('severity', '')}{where}"


def _recommendation(item: dict[str, Any]) -> str:
    params = ", ".join(f"{k}={v}" for k, v in sorted((item.get("params") or {}).items()))
    duration = f", {item['duration_minutes']} min" if item.get("duration_minutes") else ""
    return f"{item.get('type', '')} ({params}{duration})"


LIST_FIELDS: tuple[tuple[str, str, Any], ...] = (
    ("categories", "Categories", str),
    ("risk_domains", "Risk domains", str),
    ("steps", "Checklist", str),
    ("escalation_criteria", "Escalation criteria", _criterion),
    ("recommendations", "Recommended corrections", _recommendation),
)
VALUE_FIELDS: tuple[tuple[str, str], ...] = (
    ("active", "Active"),
    ("min_severity", "Minimum severity"),
    ("priority", "Priority"),
    ("preauthorised_type", "Pre-authorised"),
)


def version_changes(version: PlaybookVersion, previous: PlaybookVersion | None) -> list[Change]:
    """What this version changed from the one before (pure: no queries). Version 1 changes nothing."""
    if previous is None:
        return []
    changes = []
    for name, label in VALUE_FIELDS:
        before, after = getattr(previous, name), getattr(version, name)
        if before != after:
            changes.append(Change(label, before=str(before) if before != "" else "none", after=str(after) or "none"))
    for name, label, show in LIST_FIELDS:
        before_items = [show(i) for i in getattr(previous, name)]
        after_items = [show(i) for i in getattr(version, name)]
        if before_items != after_items:
            removed = tuple(i for i in before_items if i not in after_items)
            added = tuple(i for i in after_items if i not in before_items)
            if not removed and not added:
                changes.append(Change(label, before="same items", after="reordered"))
            else:
                changes.append(Change(label, removed=removed, added=added))
    return changes


@dataclass(frozen=True)
class VersionRow:
    version: PlaybookVersion
    changes: list[Change]


def version_rows(playbook: Playbook) -> list[VersionRow]:
    """Every version, newest first, each with what it changed (`playbook_get` prefetched them)."""
    versions: list[PlaybookVersion] = list(getattr(playbook, "all_versions", []))
    return [
        VersionRow(v, version_changes(v, versions[n + 1] if n + 1 < len(versions) else None))
        for n, v in enumerate(versions)
    ]
