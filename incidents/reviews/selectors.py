"""Reads of reviews and follow-ups, filtered to what the user may see: a review follows its
incident's visibility everywhere (page, API, export, dashboard), in the query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from accounts.models import User
from accounts.roles import WRITER_ROLES
from incidents import audit
from incidents.audit import DiffLine, event_diff
from incidents.models import Incident
from incidents.models.reviews import (
    SECTIONS,
    FollowUpAction,
    FollowUpStatus,
    Review,
    ReviewApproval,
    ReviewVersion,
)
from incidents.selectors import incidents_visible_to, timeline_for, viewers_among


def review_published(incident: Incident) -> bool:
    """True when the incident's review has a published version (closing waits for one)."""
    return ReviewVersion.objects.filter(review__incident=incident, published_at__isnull=False).exists()


def _versions() -> Prefetch:
    approvals = ReviewApproval.objects.select_related("approver").order_by("created_at", "id")
    return Prefetch(
        "versions",
        queryset=ReviewVersion.objects.select_related("created_by", "published_by")
        .prefetch_related("editors", Prefetch("approvals", queryset=approvals))
        .order_by("number"),
    )


def reviews_visible_to(user: User) -> QuerySet[Review]:
    return Review.objects.filter(incident__in=incidents_visible_to(user))


def review_list_for(*, user: User) -> QuerySet[Review]:
    return (
        reviews_visible_to(user)
        .select_related("incident", "created_by")
        .prefetch_related(_versions())
        .order_by("-created_at", "-id")
    )


def review_for(*, incident: Incident) -> Review | None:
    """The incident's review with its versions, approvals and follow-ups (the caller checked the
    incident is visible: it came from incident_get_for)."""
    return (
        Review.objects.filter(incident=incident)
        .select_related("created_by")
        .prefetch_related(
            _versions(),
            Prefetch("follow_ups", queryset=FollowUpAction.objects.select_related("owner").order_by("due_date", "id")),
        )
        .first()
    )


def follow_ups_for(
    *, user: User, owner: User | None = None, overdue: bool = False, status: str = ""
) -> QuerySet[FollowUpAction]:
    """Follow-up actions of reviews the user may see."""
    qs = FollowUpAction.objects.filter(review__incident__in=incidents_visible_to(user))
    if owner is not None:
        qs = qs.filter(owner=owner)
    if overdue:
        qs = qs.filter(status=FollowUpStatus.OPEN, due_date__lt=today())
    elif status:
        qs = qs.filter(status=status)
    return qs.select_related("owner", "review__incident").order_by("due_date", "id")


def overdue_follow_ups_for(*, user: User) -> QuerySet[FollowUpAction]:
    """The user's own overdue open actions, on incidents they may (still) see."""
    return follow_ups_for(user=user, owner=user, overdue=True)


def today() -> date:
    return timezone.localdate()


def is_overdue(action: FollowUpAction) -> bool:
    return action.status == FollowUpStatus.OPEN and action.due_date < today()


# --- versions compared --------------------------------------------------------------------------


def _excerpt_lines(version: ReviewVersion) -> list[str]:
    return [f"{item.get('at', '')[:16].replace('T', ' ')} {item.get('actor', '')}: {item.get('text', '')}"
            for item in version.timeline_excerpt or []]  # fmt: skip


def comparable(version: ReviewVersion) -> dict[str, object]:
    """A version as field → value, for the audit diff helpers."""
    return {**{name: getattr(version, name) for name, _ in SECTIONS}, "timeline_excerpt": _excerpt_lines(version)}


def version_diff(older: ReviewVersion | None, newer: ReviewVersion) -> list[DiffLine]:
    if older is None:
        return []
    return event_diff(comparable(older), comparable(newer))


@dataclass(frozen=True)
class ExcerptChoice:
    kind: str  # event or entry
    id: int
    at: object
    actor: str
    text: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


def excerpt_choices(*, incident: Incident) -> list[ExcerptChoice]:
    """What can be picked into the timeline excerpt: this incident's notes, decisions and ledger
    events (review events left out: the review does not quote itself)."""
    choices = []
    for item in timeline_for(incident=incident):
        if item.entry is not None:
            entry = item.entry
            text = entry.body if entry.kind == "note" else f"Decision: {entry.body} (rationale: {entry.rationale})"
            choices.append(ExcerptChoice("entry", entry.pk, entry.occurred_at, entry.author.username, text))
        elif item.event is not None and not item.event.verb.startswith("review."):
            event = item.event
            choices.append(ExcerptChoice("event", event.seq, event.at, event.actor_name, audit.describe(event)))
    return choices


def owner_candidates(*, incident: Incident) -> QuerySet[User]:
    """Who may own a follow-up: active people with a writer role who may see the incident."""
    writers = list(User.objects.filter(is_active=True, groups__name__in=WRITER_ROLES).distinct())
    return User.objects.filter(pk__in=viewers_among(incident=incident, users=writers)).order_by("username")


def versions_of(*, incident: Incident) -> QuerySet[ReviewVersion]:
    return ReviewVersion.objects.filter(review__incident=incident).order_by("number")
