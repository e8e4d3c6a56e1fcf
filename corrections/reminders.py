"""Reminders of correction deadlines (issue 11 §4), each sent once (incidents.reminders):

- a pending request's approvers, at half its time to live and 15 minutes before it lapses;
- a break-glass correction's ratifiers, half-way to the ratification deadline and an hour before it
  (12 h and 23 h with the default 24 h).

Who is reminded is who could decide now: members of the roles the request's policy snapshot names
whose approval (or ratification) would still count (corrections.selectors.can_decide: not the
requester nor an editor, not someone whose slot is filled). About a restricted incident,
notify() tells those who may not see it only that it needs an approval. The requester hears when
a request lapses from corrections.services.decisions.lapse_if_due, in the lapse's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from accounts.actor import Actor
from accounts.models import User
from corrections import policy
from corrections.models import RATIFIABLE_STATES, Approval, Correction, State
from corrections.selectors import can_decide
from incidents.notifications import Need, incident_url
from incidents.reminders import Stage, already_sent, latest_due, reminder_send

FINAL_APPROVAL_REMINDER = timedelta(minutes=15)
FINAL_RATIFICATION_REMINDER = timedelta(hours=1)


def _deciders(correction: Correction) -> list[User]:
    roles = policy.eligible_roles(correction.policy_at_request.requirements)
    people = User.objects.filter(groups__name__in=roles, is_active=True).distinct().prefetch_related("groups")
    return [user for user in people.order_by("username") if can_decide(user, correction)]


def _open_corrections() -> QuerySet[Correction]:
    return Correction.objects.select_related("incident", "requested_by", "deployment", "model").prefetch_related(
        Prefetch(
            "approvals", queryset=Approval.objects.select_related("approver").prefetch_related("approver__groups")
        ),
        "editors",
    )


def _when(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC"


def approvals_remind(*, actor: Actor, now: datetime) -> int:
    pending = _open_corrections().filter(state=State.PENDING_APPROVAL, pending_until__gt=now).order_by("pending_until")

    def stages(correction: Correction, deadline: datetime) -> tuple[Stage, ...]:
        return (
            Stage("half", correction.requested_at + (deadline - correction.requested_at) / 2),
            Stage("15min", deadline - FINAL_APPROVAL_REMINDER),
        )

    def message(correction: Correction, deadline: datetime) -> tuple[str, str]:
        ref = correction.incident.ref
        return (
            f"Reminder: approval needed before {_when(deadline)}: {correction.type} on {correction.target_name} "
            f"({ref})",
            f"{correction.requested_by.username}'s request for {correction.type} on {correction.target_name} "
            f"still waits for sign-off and lapses at {_when(deadline)}.\nRationale: {correction.rationale}\n\n"
            f"{incident_url(ref)}",
        )

    return _remind_once(
        actor=actor, now=now, corrections=pending, deadline_of=lambda c: c.pending_until, stages=stages,
        kind="approve", needs=Need.APPROVAL, message=message, what="approval",
    )  # fmt: skip


def ratifications_remind(*, actor: Actor, now: datetime) -> int:
    waiting = _open_corrections().filter(
        break_glass=True, ratified_at__isnull=True, state__in=RATIFIABLE_STATES, ratification_due_at__gt=now
    )

    def stages(correction: Correction, deadline: datetime) -> tuple[Stage, ...]:
        window = timedelta(hours=correction.policy_at_request.ratification_hours)
        return (Stage("half", deadline - window / 2), Stage("1h", deadline - FINAL_RATIFICATION_REMINDER))

    def message(correction: Correction, deadline: datetime) -> tuple[str, str]:
        ref = correction.incident.ref
        return (
            f"Reminder: ratify break glass before {_when(deadline)}: {correction.type} on "
            f"{correction.target_name} ({ref})",
            f"{correction.requested_by.username} broke glass: {correction.break_glass_justification}\n"
            f"The normal policy must ratify it by {_when(deadline)}, or it is flagged overdue on every "
            f"dashboard.\n\n{incident_url(ref)}",
        )

    return _remind_once(
        actor=actor, now=now, corrections=waiting.order_by("ratification_due_at"),
        deadline_of=lambda c: c.ratification_due_at, stages=stages, kind="ratify", needs=Need.LEADERSHIP,
        message=message, what="ratification",
    )  # fmt: skip


def _remind_once(
    *,
    actor: Actor,
    now: datetime,
    corrections: QuerySet[Correction],
    deadline_of: Callable[[Correction], datetime | None],
    stages: Callable[[Correction, datetime], tuple[Stage, ...]],
    kind: str,
    needs: Need,
    message: Callable[[Correction, datetime], tuple[str, str]],
    what: str,
) -> int:
    """The one loop both reminders share: the latest stage due of each correction's deadline, keyed
    so it is sent once (incidents.reminders), to whoever could still decide."""
    due: list[tuple[Correction, datetime, Stage, str]] = []
    for correction in corrections:
        deadline = deadline_of(correction)
        assert deadline is not None  # filtered by the caller
        stage = latest_due(stages(correction, deadline), now)
        if stage is not None:
            key = f"correction:{correction.pk}:{deadline.isoformat()}:{kind}-{stage.name}"
            due.append((correction, deadline, stage, key))
    done = already_sent(key for *_, key in due)
    sent = 0
    for correction, deadline, stage, key in due:
        if key in done:
            continue
        subject, body = message(correction, deadline)
        sent += reminder_send(
            actor=actor, key=key, now=now, obj=correction, incident=correction.incident,
            users=_deciders(correction), needs=needs, subject=subject, body=body,
            what=f"{what} before {_when(deadline)} ({stage.name})",
        )  # fmt: skip
    return sent


def corrections_remind(*, actor: Actor, now: datetime | None = None) -> int:
    """Every correction reminder due now; returns how many were sent."""
    now = now or timezone.now()
    return approvals_remind(actor=actor, now=now) + ratifications_remind(actor=actor, now=now)
