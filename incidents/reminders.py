"""Reminders of deadlines (issue 11 §4), each sent once.

A reminder is claimed by inserting its key into SentReminder in the transaction that queues the
message and records it on the ledger: a rerun finds the key and sends nothing, and a second beat
running at the same moment waits on the unique key and then finds it too. Keys carry the deadline
they remind of, so a moved deadline (a follow-up given a new due date) is reminded afresh.

Follow-up actions are reminded here (48 h and 24 h before they fall due: a due date is the end of
that UTC day); corrections.reminders reminds approvers and leadership through reminder_send.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import ledger
from accounts.actor import Actor
from accounts.models import User
from incidents.events import IncidentEvent
from incidents.models import Incident
from incidents.models.integrations import SentReminder
from incidents.models.reviews import FollowUpAction, FollowUpStatus
from incidents.notifications import Event, Need, incident_url, notify


@dataclass(frozen=True)
class Stage:
    """One reminder of a deadline: its name (part of the key) and when it is due."""

    name: str
    at: datetime


def latest_due(stages: Iterable[Stage], now: datetime) -> Stage | None:
    """The last stage (in the order given: most urgent last) already due: only it is sent, so a
    sweep that missed the earlier one (beat was down) never sends two reminders at once."""
    due = [stage for stage in stages if stage.at <= now]
    return due[-1] if due else None


def already_sent(keys: Iterable[str]) -> set[str]:
    """Which of these reminders went out already: a sweep skips them before working out recipients."""
    return set(SentReminder.objects.filter(key__in=list(keys)).values_list("key", flat=True))


def reminder_claim(*, key: str, now: datetime) -> bool:
    """True if this reminder is ours to send; False if it went out already (or is going out now).

    Must run inside the transaction that sends it, so a rollback un-claims it."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("reminder_claim must run inside the transaction that sends the reminder")
    try:
        with transaction.atomic():
            SentReminder.objects.create(key=key, sent_at=now)
    except IntegrityError:
        return False
    return True


@transaction.atomic
def reminder_send(
    *,
    actor: Actor,
    key: str,
    now: datetime,
    obj: Any,
    incident: Incident,
    users: Iterable[User],
    subject: str,
    body: str,
    what: str,
    needs: Need = Need.ATTENTION,
) -> bool:
    """Send one reminder once (see the module); True if it was sent by this call."""
    if not reminder_claim(key=key, now=now):
        return False
    people = [user for user in users if user.is_active]
    if people:
        to = notify(incident=incident, users=people, subject=subject, body=body, needs=needs, event=Event.REMINDER)
        ledger.record(
            actor=actor, verb=IncidentEvent.REMINDER_SENT, obj=obj, incident_ref=incident.ref,
            after={"what": what, "key": key, "to": to},
        )  # fmt: skip
    return True


# --- follow-up actions ----------------------------------------------------------------------------

FOLLOW_UP_STAGES = (("48h", timedelta(hours=48)), ("24h", timedelta(hours=24)))


def follow_up_due_at(due_date: date) -> datetime:
    """A follow-up is due by the end of its due date (UTC)."""
    return datetime.combine(due_date + timedelta(days=1), time.min, tzinfo=UTC)


def follow_ups_remind(*, actor: Actor, now: datetime | None = None) -> int:
    """Remind owners of open follow-up actions 48 h and 24 h before they fall due; returns how many sent."""
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    candidates = (
        FollowUpAction.objects.filter(
            status=FollowUpStatus.OPEN, due_date__gte=today, due_date__lte=today + timedelta(days=2)
        )
        .select_related("owner", "review__incident")
        .order_by("due_date", "id")
    )
    sent = 0
    for action in candidates:
        due_at = follow_up_due_at(action.due_date)
        stage = latest_due((Stage(name, due_at - before) for name, before in FOLLOW_UP_STAGES), now)
        if stage is None or now >= due_at:
            continue
        incident = action.review.incident
        sent += reminder_send(
            actor=actor,
            key=f"follow_up:{action.pk}:{action.due_date.isoformat()}:{stage.name}",
            now=now,
            obj=action,
            incident=incident,
            users=[action.owner],
            subject=f"Follow-up due {action.due_date:%Y-%m-%d}: {action.title} ({incident.ref})",
            body=f"Your follow-up action “{action.title}” from the review of {incident.ref} is due by the end of "
            f"{action.due_date:%Y-%m-%d} (UTC). Mark it done, or record why it won't be.\n\n"
            f"{incident_url(incident.ref)}review/",
            what=f"follow-up due {action.due_date.isoformat()} ({stage.name} before)",
        )
    return sent
