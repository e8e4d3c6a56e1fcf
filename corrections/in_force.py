"""What is in force (DESIGN §8a): every correction now active, partly active, applying, lifting,
expiring within a day, awaiting ratification, or failed and not yet resolved, per model and
deployment; drills' corrections (dry runs, enforced nowhere) are left out. Selectors: a fixed
number of queries whatever the number of corrections.

Everyone with a role sees that something is in force on a deployment (its type, state, since and
until); why — incident, rationale, who asked and who approved — only those who may see the incident.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from corrections.models import (
    RATIFIABLE_STATES,
    Approval,
    Correction,
    CorrectionTarget,
    State,
    TargetState,
    needs_ratification,
)
from corrections.targets import IN_FORCE, rollup
from incidents.models import Incident
from incidents.selectors import incidents_visible_to

EXPIRING_WITHIN = timedelta(hours=24)
SHOWN_STATES = (
    State.APPROVED, State.QUEUED, State.APPLYING, State.ACTIVE, State.PARTLY_ACTIVE, State.LIFTING, State.EXPIRED,
    State.FAILED,
)  # fmt: skip
STATUS_OF = {
    State.APPROVED: "applying", State.QUEUED: "applying", State.APPLYING: "applying", State.ACTIVE: "active",
    State.PARTLY_ACTIVE: "partly active", State.LIFTING: "lifting", State.EXPIRED: "lifting", State.FAILED: "failed",
}  # fmt: skip
# The query twins of needs_ratification() and of what this page shows: one definition for the list and the counts.
AWAITING_RATIFICATION = Q(break_glass=True, ratified_at__isnull=True, state__in=RATIFIABLE_STATES)
# A drill's corrections are dry runs: recorded at the edge, restricting no one, so never "in force" here.
SHOWN = (Q(state__in=SHOWN_STATES) | AWAITING_RATIFICATION) & Q(incident__is_drill=False)


@dataclass(frozen=True)
class Why:
    """What only those who may see the incident learn."""

    incident: Incident
    rationale: str
    requested_by: str
    approved_by: list[str]


@dataclass(frozen=True)
class Entry:
    """One correction on one deployment (or, with no deployment, on its whole model)."""

    correction: Correction
    model: str
    deployment: str | None
    target_state: str | None
    status: str
    progress: str
    expiring: bool
    awaiting_ratification: bool
    since: datetime | None
    until: datetime | None
    why: Why | None  # None: the incident is restricted and this person may not see it

    @property
    def restricted(self) -> bool:
        return self.why is None

    @property
    def type(self) -> str:
        return self.correction.type

    @property
    def tier(self) -> int:
        return self.correction.tier

    @property
    def state(self) -> str:
        return self.correction.state


@dataclass
class Group:
    model: str
    deployment: str | None
    entries: list[Entry] = field(default_factory=list)


def _corrections(model: str | None, deployment: str | None) -> QuerySet[Correction]:
    qs = Correction.objects.filter(SHOWN)
    if model:
        qs = qs.filter(model__name=model)
    if deployment:
        qs = qs.filter(Q(deployment__slug=deployment) | Q(targets__deployment__slug=deployment)).distinct()
    return (
        qs.select_related("incident", "model", "deployment", "requested_by")
        .prefetch_related(
            Prefetch("targets", queryset=CorrectionTarget.objects.select_related("deployment").order_by("id")),
            Prefetch(
                "approvals",
                queryset=Approval.objects.select_related("approver").filter(
                    decision=Approval.Decision.APPROVE, voided_at__isnull=True
                ),
            ),
        )
        .order_by("model__name", "-requested_at", "-id")
    )


def in_force_for(*, user: User, model: str | None = None, deployment: str | None = None) -> list[Entry]:
    """Every entry this person may know of, model by model, deployment by deployment, newest first."""
    now = timezone.now()
    corrections = list(_corrections(model, deployment))
    incident_ids = {c.incident_id for c in corrections}
    visible = set(incidents_visible_to(user).filter(pk__in=incident_ids).values_list("pk", flat=True))
    entries = []
    for c in corrections:
        why = None
        if c.incident_id in visible:
            why = Why(
                c.incident, c.rationale, c.requested_by.username, [a.approver.username for a in c.approvals.all()]
            )
        targets = list(c.targets.all())
        summary = rollup(t.state for t in targets)
        in_force = c.state in (State.ACTIVE, State.PARTLY_ACTIVE)
        common = {
            "correction": c,
            "model": c.model.name,
            "status": STATUS_OF.get(State(c.state), c.get_state_display().lower()),
            "progress": summary.label() if len(targets) > 1 or summary.manual_pending else "",
            "expiring": bool(in_force and c.expires_at and c.expires_at <= now + EXPIRING_WITHIN),
            "awaiting_ratification": needs_ratification(c),
            "since": c.activated_at or c.approved_at,
            "until": c.expires_at,
            "why": why,
        }
        if not targets:
            slug = c.deployment.slug if c.deployment_id else None
            entries.append(Entry(deployment=slug, target_state=None, **common))
            continue
        for t in targets:
            if t.state == TargetState.LIFTED or (deployment and t.deployment.slug != deployment):
                continue
            entries.append(Entry(deployment=t.deployment.slug, target_state=t.state, **common))
    return sorted(entries, key=lambda e: (e.model, e.deployment or "", -(e.correction.pk or 0)))


def grouped(entries: list[Entry]) -> list[Group]:
    groups: dict[tuple[str, str | None], Group] = {}
    for entry in entries:
        key = (entry.model, entry.deployment)
        groups.setdefault(key, Group(entry.model, entry.deployment)).entries.append(entry)
    return list(groups.values())


def dashboard_counts() -> dict[str, int]:
    """The dashboard panel, in one aggregate query: how many corrections per status and flag.

    Counts only, so it may be shown to anyone: it says nothing of which incidents they serve."""
    now = timezone.now()
    by_status = {
        status: Count("pk", filter=Q(state__in=[s for s, named in STATUS_OF.items() if named == status]))
        for status in set(STATUS_OF.values())
    }
    found = Correction.objects.filter(SHOWN).aggregate(
        total=Count("pk"),
        expiring=Count(
            "pk", filter=Q(state__in=(State.ACTIVE, State.PARTLY_ACTIVE), expires_at__lte=now + EXPIRING_WITHIN)
        ),
        awaiting=Count("pk", filter=AWAITING_RATIFICATION),
        **{f"status_{i}": count for i, count in enumerate(by_status.values())},
    )
    counts = {status: found[f"status_{i}"] for i, status in enumerate(by_status)}
    return counts | {"total": found["total"], "expiring": found["expiring"], "awaiting ratification": found["awaiting"]}


def target_in_force_q(prefix: str = "") -> Q:
    """A target counts as in force on its deployment: the one rule of the badge and the admin's column."""
    return Q(
        **{
            f"{prefix}state__in": IN_FORCE,
            f"{prefix}correction__state__in": SHOWN_STATES,
            f"{prefix}correction__incident__is_drill": False,  # a dry run restricts no one
        }
    )


def in_force_by_deployment() -> dict[str, int]:
    """For the badge beside a deployment's name: how many corrections are in force on it (one query).

    Counts only, so it may be shown to anyone: it says nothing of why.
    """
    rows = CorrectionTarget.objects.filter(target_in_force_q()).values_list("deployment__slug", flat=True).order_by()
    return dict(Counter(rows))
