"""Reads for corrections, filtered to what the user may see, at a fixed number of queries."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from corrections import policy
from corrections.catalogue import get_type
from corrections.models import (
    CLOSED_INCIDENT,
    RATIFIABLE_STATES,
    Approval,
    ApprovalPolicy,
    Correction,
    CorrectionEditor,
    CorrectionTarget,
    LiftRequest,
    OutboxEntry,
    State,
    needs_ratification,
)
from incidents.models import Incident
from incidents.selectors import incidents_visible_to


def corrections_visible_to(user: User) -> QuerySet[Correction]:
    return (
        Correction.objects.filter(incident__in=incidents_visible_to(user).values("pk"))
        .select_related("incident", "deployment", "model", "requested_by")
        .prefetch_related(
            Prefetch(
                "approvals",
                queryset=Approval.objects.select_related("approver")
                .prefetch_related("approver__groups")
                .order_by("created_at"),
            ),
            Prefetch("editors", queryset=CorrectionEditor.objects.select_related("editor")),
            Prefetch(
                "lift_requests",
                queryset=LiftRequest.objects.filter(state=LiftRequest.State.PENDING).select_related("requested_by"),
                to_attr="pending_lifts",
            ),
            Prefetch(
                "targets",
                queryset=CorrectionTarget.objects.select_related(
                    "deployment", "deployment__actuator", "confirmed_by"
                ).order_by("id"),
            ),
        )
    )


def correction_get_for(*, user: User, pk: int) -> Correction | None:
    return corrections_visible_to(user).filter(pk=pk).first()


def corrections_for_incident(*, user: User, incident: Incident) -> QuerySet[Correction]:
    return corrections_visible_to(user).filter(incident=incident).order_by("-requested_at", "-id")


@dataclass(frozen=True)
class SignoffStatus:
    """What a correction's page shows about its sign-off."""

    live: list[Approval]
    voided: list[Approval]
    rejections: list[Approval]
    missing: list[dict]
    missing_text: str
    seconds_left: int | None  # before a pending request lapses, or an approved one misses its window
    ratification_overdue: bool


def signoff_status(correction: Correction) -> SignoffStatus:
    approvals = list(correction.approvals.all())  # prefetched
    live = [a for a in approvals if a.voided_at is None and a.decision == Approval.Decision.APPROVE]
    evaluated = policy.evaluate(
        correction.policy_at_request.requirements, [(a.approver_id, a.approver.roles) for a in live]
    )
    deciding = correction.state == State.PENDING_APPROVAL or needs_ratification(correction)
    now = timezone.now()
    deadline = {State.PENDING_APPROVAL: correction.pending_until, State.APPROVED: correction.execute_by}.get(
        correction.state
    )
    return SignoffStatus(
        live=live,
        voided=[a for a in approvals if a.voided_at is not None],
        rejections=[a for a in approvals if a.decision == Approval.Decision.REJECT],
        missing=evaluated.missing if deciding else [],
        missing_text=evaluated.describe_missing(),
        seconds_left=max(0, int((deadline - now).total_seconds())) if deadline else None,
        ratification_overdue=is_ratification_overdue(correction, now),
    )


def _ratifying(correction: Correction) -> bool:
    return correction.break_glass and correction.ratified_at is None


def is_ratification_overdue(correction: Correction, now=None) -> bool:
    now = now or timezone.now()
    return (
        _ratifying(correction) and correction.ratification_due_at is not None and correction.ratification_due_at < now
    )


def decision_facts(
    correction: Correction, *, approvals: list[Approval] | None = None, editor_ids: set[int] | None = None
) -> policy.Decision:
    """What the sign-off rule needs to know; approvals and editors default to the prefetched ones."""
    if approvals is None:
        approvals = [a for a in correction.approvals.all() if a.voided_at is None and a.decision == "approve"]
    if editor_ids is None:
        editor_ids = {e.editor_id for e in correction.editors.all()}
    return policy.Decision(
        tier=correction.tier,
        state_label=correction.get_state_display().lower(),
        open_for_approval=correction.state == State.PENDING_APPROVAL or needs_ratification(correction),
        pending=correction.state == State.PENDING_APPROVAL,
        requester_id=correction.requested_by_id,
        editor_ids=frozenset(editor_ids),
        requirements=correction.policy_at_request.requirements,
        approvals=[(a.approver_id, a.approver.roles) for a in approvals],
        closed_incident=closed_incident(correction.incident),
    )


def closed_incident(incident: Incident) -> str:
    """ "INC-2026-0005 is closed" when nothing may be approved on the incident, else ""."""
    return f"{incident.ref} is {incident.status}" if incident.status in CLOSED_INCIDENT else ""


def pending_lift_of(correction: Correction) -> LiftRequest | None:
    """The correction's lift awaiting approval (prefetched by corrections_visible_to, else one query)."""
    prefetched = getattr(correction, "pending_lifts", None)
    if prefetched is not None:
        return prefetched[0] if prefetched else None
    return (
        LiftRequest.objects.select_related("requested_by")
        .filter(correction=correction, state=LiftRequest.State.PENDING)
        .first()
    )


def lift_facts(correction: Correction, lift: LiftRequest) -> policy.LiftDecision:
    return policy.LiftDecision(
        tier=correction.tier,
        pending=lift.state == LiftRequest.State.PENDING,
        state_label=lift.get_state_display().lower(),
        requester_id=lift.requested_by_id,
        closed_incident=closed_incident(correction.incident),
    )


def can_decide_lift(user: User, correction: Correction, *, verb: str = "approve") -> bool:
    lift = pending_lift_of(correction)
    if lift is None or correction.state != State.ACTIVE:
        return False
    return policy.lift_decision_refusal(lift_facts(correction, lift), user.pk, user.roles, verb=verb) is None


def lifts_pending_for(*, user: User, among: QuerySet[Correction] | None = None) -> list[Correction]:
    """Corrections whose early lift waits for a decision this user could give (the inbox lists them).

    `among` narrows it as it does approvals_pending_for: intersected, it can only remove.
    """
    if not user.is_authenticated or not user.roles & policy.eligible_roles(policy.LIFT_REQUIREMENTS):
        return []
    candidates = (
        corrections_visible_to(user)
        .filter(
            state=State.ACTIVE,
            lift_requests__state=LiftRequest.State.PENDING,
            lift_requests__pending_until__gt=timezone.now(),
        )
        .order_by("id")
        .distinct()
    )
    if among is not None:
        candidates = candidates.filter(pk__in=among.values("pk"))
    return [c for c in candidates if can_decide_lift(user, c)]


def can_decide(user: User, correction: Correction) -> bool:
    """Would this user's approval count now? (Drives the page's approve/reject and the inbox.)"""
    return policy.approval_refusal(decision_facts(correction), user.pk, user.roles) is None


def inbox_candidates_for(*, user: User) -> QuerySet[Correction]:
    """What the inbox's filters narrow: requests to decide and early lifts to approve alike. Only a
    base for a FilterSet; approvals_pending_for and lifts_pending_for decide what is listed."""
    if not user.is_authenticated or not user.roles:
        return Correction.objects.none()
    return corrections_visible_to(user)


def approval_candidates_for(*, user: User) -> QuerySet[Correction]:
    """Corrections open for a decision, on incidents the user may see, that the user did not request,
    soonest to lapse first: what approvals_pending_for narrows to those the user could decide."""
    if not user.is_authenticated or not user.roles:
        return Correction.objects.none()
    return corrections_visible_to(user).filter(
        Q(state=State.PENDING_APPROVAL, pending_until__gt=timezone.now())
        | Q(break_glass=True, ratified_at__isnull=True, state__in=RATIFIABLE_STATES)
    ).exclude(requested_by=user).order_by("pending_until", "id")  # fmt: skip


def approvals_pending_for(*, user: User, among: QuerySet[Correction] | None = None) -> list[Correction]:
    """Corrections waiting for a decision this user could give: the approval inbox.

    `among` narrows it (a FilterSet over inbox_candidates_for); it is intersected with the
    candidates, so it can never add a correction the user may not see or decide.
    """
    candidates = approval_candidates_for(user=user)
    if among is not None:
        candidates = candidates.filter(pk__in=among.values("pk"))
    return [c for c in candidates if can_decide(user, c)]


def ratification_overdue_for(*, user: User) -> QuerySet[Correction]:
    """Break-glass corrections whose ratification is overdue: shown on every dashboard."""
    return corrections_visible_to(user).filter(
        break_glass=True, ratified_at__isnull=True, ratification_due_at__lt=timezone.now()
    )


def current_policies() -> QuerySet[ApprovalPolicy]:
    return ApprovalPolicy.objects.filter(is_current=True).order_by("tier")


def type_of(correction: Correction):
    return get_type(correction.type)


@dataclass(frozen=True)
class RetryStatus:
    """A dispatch that has met transient errors and is being tried again (corrections.dispatch)."""

    action: str
    failed_attempts: int
    last_error: str
    failing_since: datetime
    gives_up_after: datetime  # no new attempt is scheduled once the retry budget has run out
    in_progress: bool  # a worker holds the entry and is making an attempt now
    next_attempt_at: datetime | None
    seconds_to_next: int | None  # 0: due now (the worker or the relay picks it up)


def dispatch_retry_status(correction: Correction, now: datetime | None = None) -> RetryStatus | None:
    """The open outbox entry of a correction on its way, if it has failed at least once; one query."""
    now = now or timezone.now()
    entry = (
        OutboxEntry.objects.filter(
            correction_id=correction.pk,
            generation=correction.generation,
            done_at__isnull=True,
            failing_since__isnull=False,
        )
        .order_by("-created_at", "-id")
        .first()
    )
    if entry is None:
        return None
    in_progress = bool(entry.claimed_until and entry.claimed_until > now)
    seconds_to_next = None
    if not in_progress:
        due = entry.next_attempt_at or now
        seconds_to_next = max(0, math.ceil((due - now).total_seconds()))
    return RetryStatus(
        action=entry.action,
        failed_attempts=entry.attempt_count - (1 if in_progress else 0),
        last_error=entry.last_error,
        failing_since=entry.failing_since,
        gives_up_after=entry.failing_since + timedelta(seconds=settings.FAILSAFE_DISPATCH_RETRY_SECONDS),
        in_progress=in_progress,
        next_attempt_at=entry.next_attempt_at,
        seconds_to_next=seconds_to_next,
    )
