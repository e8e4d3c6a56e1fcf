"""Reads. Every queryset here is already filtered to what the user may see."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connections
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Value

from accounts.models import LedgerEvent, User
from accounts.roles import Role
from incidents.models import (
    OPEN_STATUSES,
    ChecklistItem,
    Deployment,
    Incident,
    IncidentUserObjectPermission,
    Severity,
    Signal,
    TimelineEntry,
)

VIEW_RESTRICTED = "view_restricted_incident"


def sees_all_restricted(user: User) -> bool:
    return user.has_role(Role.LEADERSHIP)


def incidents_visible_to(user: User) -> QuerySet[Incident]:
    """Every incident the user may see; restricted ones only with a grant (or leadership)."""
    if not user.is_authenticated or not user.roles:
        return Incident.objects.none()
    qs = Incident.objects.all()
    if sees_all_restricted(user):
        return qs
    return qs.filter(_visible_q(user))


def _visible_q(user: User, prefix: str = "") -> Q:
    """Unrestricted, or one of the user's grants. The grants are a small hashed set of ids, not a
    correlated EXISTS: the planner then walks the list's index and stops after a page, and joins
    from other tables (signals) never hash every visible incident."""
    granted = IncidentUserObjectPermission.objects.filter(user=user, permission__codename=VIEW_RESTRICTED)
    return Q(**{f"{prefix}restricted": False}) | Q(**{f"{prefix}pk__in": granted.values("content_object_id")})


def visible_through_q(user: User, *, path: str) -> Q:
    """incidents_visible_to's rule as a filter on rows that belong to an incident (`path` names
    the foreign key, e.g. "incident"), applied through the join: for leadership no condition at
    all, rather than an IN over every incident (the metrics page's correction phases)."""
    if not user.is_authenticated or not user.roles:
        return Q(pk__in=[])
    if sees_all_restricted(user):
        return Q()
    return _visible_q(user, prefix=f"{path}__")


def can_view_incident(user: User, incident: Incident) -> bool:
    return incidents_visible_to(user).filter(pk=incident.pk).exists()


# Who adds evidence (incidents.evidence) besides the incident's own people.
EVIDENCE_ADDER_ROLES = (Role.INCIDENT_COMMANDER, Role.LEADERSHIP)


def may_add_evidence(user: User, incident: Incident) -> bool:
    """The incident's people (reporter, commander, participants) with a writing role, commanders
    and leadership. Auditors read only. (Here, not in incidents.evidence: the detail page asks too.)"""
    if not user.can_write:
        return False
    if user.has_role(*EVIDENCE_ADDER_ROLES):
        return True
    if user.pk in (incident.reporter_id, incident.commander_id):
        return True
    return incident.participants.filter(pk=user.pk).exists()


def viewers_among(*, incident: Incident, users: Iterable[User]) -> set[int]:
    """The ids of those users who may see the incident: incidents_visible_to's rule, one query for all.

    Whether the incident is restricted is read from the database, not from the object passed in,
    so a stale copy cannot widen the audience.
    """
    ids = {user.pk for user in users}
    if not ids:
        return set()
    membership = User.groups.through.objects.filter(user=OuterRef("pk"))
    unrestricted = Incident.objects.filter(pk=incident.pk, restricted=False)
    granted = IncidentUserObjectPermission.objects.filter(
        content_object=incident.pk, user=OuterRef("pk"), permission__codename=VIEW_RESTRICTED
    )
    return set(
        User.objects.filter(pk__in=ids, is_active=True)
        .filter(Exists(membership))  # no role, no incidents (incidents_visible_to)
        # Leadership sees every restricted incident (sees_all_restricted); others need a grant.
        .filter(Exists(unrestricted) | Exists(membership.filter(group__name=Role.LEADERSHIP)) | Exists(granted))
        .values_list("pk", flat=True)
    )


# The list's order, which the incident_list_order index walks (so a page stops after its rows).
LIST_ORDER = ("severity", "-reported_at", "-id")


def incident_list_for(*, user: User) -> QuerySet[Incident]:
    """The incident list, most severe first; incidents.filters.IncidentFilter narrows it."""
    return (
        incidents_visible_to(user)
        .select_related("reporter", "commander")
        .prefetch_related("deployments")
        .defer(*LIST_DEFERRED)
        .order_by(*LIST_ORDER)
    )


# What no list shows: left in the table (a summary can be 20,000 characters).
LIST_DEFERRED = ("summary", "search_vector")


def incident_search(qs: QuerySet[Incident], *, text: str) -> QuerySet[Incident]:
    """Narrow an incident list to those matching `text`, best match first, then the list's order."""
    return _search(qs, text).order_by("-search_rank", *LIST_ORDER)


def _search(qs: QuerySet[Incident], text: str) -> QuerySet[Incident]:
    """Full-text search, best match first (PostgreSQL: stemmed English over the stored vector,
    title weighted above summary); elsewhere substrings. A ref matches itself either way."""
    ref = Q(ref=text.upper())  # refs are stored upper-case (services._next_ref)
    if connections[qs.db].vendor != "postgresql":
        return qs.filter(Q(title__icontains=text) | Q(summary__icontains=text) | ref).annotate(search_rank=Value(0.0))
    query = SearchQuery(text, config="english", search_type="websearch")
    return qs.filter(Q(search_vector=query) | ref).annotate(search_rank=SearchRank(F("search_vector"), query))


def incident_get_for(*, user: User, ref: str) -> Incident | None:
    return (
        incidents_visible_to(user)
        .select_related("reporter", "commander")
        .prefetch_related("deployments", "participants")
        .filter(ref=ref)
        .first()
    )


def dashboard_for(*, user: User) -> dict[str, Any]:
    visible = incidents_visible_to(user)
    # count(*), not count(id): the open-incidents index then answers without reading the table.
    counts = visible.filter(status__in=OPEN_STATUSES).values("severity").annotate(n=Count("*"))
    by_severity = {sev: 0 for sev in Severity.values}
    for row in counts:
        by_severity[row["severity"]] = row["n"]
    open_incidents = list(
        visible.filter(status__in=OPEN_STATUSES)
        .select_related("commander")
        .prefetch_related("deployments")
        .order_by("severity", "-updated_at")[:20]
    )
    return {
        "by_severity": by_severity,
        "open_incidents": open_incidents,
        "recent_events": list(recent_events_for(user=user)[:15]),
        "open_signals": signals_for(user=user).filter(state=Signal.State.OPEN).count(),
    }


def recent_events_for(*, user: User) -> QuerySet[LedgerEvent]:
    """Ledger events about incidents the user may see (and none about the rest)."""
    refs = incidents_visible_to(user).values("ref")
    return LedgerEvent.objects.filter(incident_ref__in=refs).order_by("-seq")


@dataclass(frozen=True)
class TimelineItem:
    at: Any
    kind: str  # note, decision, event
    entry: TimelineEntry | None = None
    event: LedgerEvent | None = None


# Verbs whose story is already told by a human entry on the timeline.
_ENTRY_VERBS = {"timeline.note_added", "timeline.decision_recorded"}


def timeline_for(*, incident: Incident) -> list[TimelineItem]:
    """Human entries and ledger events, oldest first. Two queries whatever the length."""
    items = [
        TimelineItem(at=e.occurred_at, kind=e.kind, entry=e)
        for e in TimelineEntry.objects.filter(incident=incident).select_related("author")
    ]
    items += [
        TimelineItem(at=ev.at, kind="event", event=ev)
        for ev in LedgerEvent.objects.filter(incident_ref=incident.ref).exclude(verb__in=_ENTRY_VERBS)
    ]
    items.sort(key=lambda item: item.at)
    return items


def checklist_for(*, incident: Incident) -> QuerySet[ChecklistItem]:
    return ChecklistItem.objects.filter(incident=incident).select_related("ticked_by").order_by("position", "id")


def deployment_list() -> QuerySet[Deployment]:
    return Deployment.objects.select_related("model").order_by("slug")


def signals_for(*, user: User) -> QuerySet[Signal]:
    if not user.is_authenticated or not user.roles:
        return Signal.objects.none()
    signals = Signal.objects.all()
    if not sees_all_restricted(user):
        signals = signals.filter(Q(incident__isnull=True) | _visible_q(user, prefix="incident__"))
    return signals.select_related("deployment", "incident", "integration").order_by("-last_seen_at")
