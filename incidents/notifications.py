"""Telling people: notifications as data, delivered after the change commits (issue 11 §1).

Every outgoing message goes through notify(). It writes a Notification and one Delivery per
recipient and channel in the caller's transaction (so a change that rolls back tells nobody), then,
on commit, hands each delivery to Celery by task name; incidents.delivery does the sending, with
retries, and a beat relay resends whatever the broker never got. Nothing is sent from the request.

Visibility (DESIGN §7) is decided here, when the rows are written, by one rule (`may_see`): about
a restricted incident, only people who may see it get the details; anyone else, and every address
that is no person (a role's Slack channel, a webhook endpoint: nobody knows who reads it), learns at
most that a restricted incident, by its ref, needs someone.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.outbox import send_by_name
from accounts.roles import Role
from incidents.channels import base as channels
from incidents.channels import routing
from incidents.drills import subject_for
from incidents.models import Incident
from incidents.models.notifications import URGENT_EVENTS, Delivery, DeliveryState, Event, Notification
from incidents.preferences import PERSONAL_CHANNELS, Preferences, preferences_for
from incidents.selectors import viewers_among

log = logging.getLogger(__name__)

__all__ = [
    "REDACTED", "Address", "Event", "Need", "Notice", "incident_url", "may_see", "members_of", "message_for", "notify",
    "notify_many", "notify_rows",
]  # fmt: skip

# Appended to the username of someone who got the generic message (usernames hold no spaces).
REDACTED = " (redacted)"
DELIVER_TASK = "incidents.deliver_notification"
SUBJECT_MAX = 300


class Need(StrEnum):
    """What a restricted incident needs, as told to those who may not see it: fixed words, no details."""

    RESPONDER = "a responder"
    INCIDENT_COMMANDER = "an incident commander"
    LEADERSHIP = "leadership"
    APPROVAL = "an approval"
    ATTENTION = "attention"

    @classmethod
    def of(cls, role: Role) -> Need:
        return cls.__members__.get(role.name, cls.ATTENTION)


@dataclass(frozen=True)
class Address:
    """A destination that is no person: a channel's own address (a Slack channel, a webhook endpoint id)."""

    channel: str
    address: str


@dataclass(frozen=True)
class Content:
    subject: str
    text: str
    redacted: bool


def members_of(role: Role) -> list[User]:
    return list(User.objects.filter(groups__name=role, is_active=True).order_by("username"))


# --- the one recipient filter ------------------------------------------------------------------------


def may_see(*, incident: Incident | None, users: Iterable[User] = (), others: bool = True) -> tuple[set[int], bool]:
    """Who among `users` may read the details of a message about `incident`, and whether an address
    that is no person may: (ids of those users, True/False for every other address).

    Read from the database, not from the object passed in, so a stale copy cannot widen the audience:
    people by incidents.selectors.viewers_among; other addresses only if the incident is not
    restricted (`others=False` skips that query and answers False). Slack and webhook channels that
    address anyone outside notify() use this same function.
    """
    people = list(users)
    if incident is None:
        return {user.pk for user in people}, True
    viewers = viewers_among(incident=incident, users=people) if people else set()
    unrestricted = others and Incident.objects.filter(pk=incident.pk, restricted=False).exists()
    return viewers, unrestricted


def message_for(
    *, incident: Incident | None, allowed: bool, subject: str, body: str, needs: Need, ack_url: str = ""
) -> Content:
    """The full message for someone allowed to see it; otherwise the generic one: the ref, what it
    needs and, for a page, the acknowledge link (it names nothing: a page's number)."""
    if allowed or incident is None:
        return Content(subject[:SUBJECT_MAX], body, redacted=False)
    acknowledge = f"\n\nAcknowledge the page: {ack_url}" if ack_url else ""
    # A drill says so even to those who may not see it: being paged for a rehearsal is not an emergency.
    return Content(
        subject_for(incident, f"{'PAGE: a' if ack_url else 'A'} restricted incident needs {needs}"),
        f"The restricted incident {incident.ref} needs {needs}. You have no access to its details; "
        f"ask leadership for access.{acknowledge}\n\n{incident_url(incident.ref)}",
        redacted=True,
    )


def incident_url(ref: str) -> str:
    return f"{settings.FAILSAFE_BASE_URL.rstrip('/')}/incidents/{ref}/"


# --- routing by preferences ---------------------------------------------------------------------------


def routes_for(user: User, prefs: Preferences, *, event: str, urgent: bool) -> list[tuple[str, str]]:
    """(channel, address) pairs one person gets `event` on. Urgent events reach them even if switched
    off: on the channels they chose for it, else by email."""
    registered = set(channels.names())
    addresses = {"email": user.email, "slack": prefs.slack_member_id}
    usable = [c for c in PERSONAL_CHANNELS if c in registered and addresses[c]]
    chosen = [(c, addresses[c]) for c in usable if event in prefs.events_on(c)]
    if not chosen and urgent and "email" in usable:
        chosen = [("email", addresses["email"])]
    return chosen


def addresses_for(*, event: str | None, roles: Iterable[Role], incident: Incident | None) -> list[Address]:
    """The addresses that are no person a notification also goes to: the Slack channels of the roles
    it addresses (and the incident's own channel), when it names roles; the webhooks subscribed to
    its event. Only channels that are installed (a deployment without Slack writes no Slack rows)."""
    registered = set(channels.names())
    found: list[Address] = []
    roles = list(roles)
    if roles and "slack" in registered:
        found += [Address("slack", c) for c in routing.chat_addresses_for(roles=roles, incident=incident)]
    if event is not None and "webhook" in registered:
        found += [Address("webhook", e) for e in routing.webhook_addresses_for(event=event)]
    return found


# --- notify -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """One notification to write (notify()'s arguments), for notify_many."""

    incident: Incident | None
    users: Sequence[User]
    subject: str
    body: str
    needs: Need = Need.ATTENTION
    event: Event = Event.GENERAL
    urgent: bool = False
    ack_url: str = ""
    to: Sequence[Address] = ()
    roles: Sequence[Role] = ()


def notify(
    *,
    incident: Incident | None,
    users: Iterable[User],
    subject: str,
    body: str,
    needs: Need = Need.ATTENTION,
    event: Event = Event.GENERAL,
    urgent: bool = False,
    ack_url: str = "",
    to: Iterable[Address] = (),
    roles: Iterable[Role] = (),
) -> list[str]:
    """Write the notification and its deliveries in the current transaction; returns the usernames told.

    `incident` is what the message is about (None only for a message about no incident). Those who
    may not see it get a generic message naming only its ref and what it `needs` (fixed words, so no
    detail can leak through them); their usernames come back with REDACTED appended, so the ledger
    says who got the full message and who the generic one. `to` adds addresses that are no person;
    about an incident that is restricted they always get the generic message. `roles` names the
    roles the message addresses: their Slack channels (and the incident's own channel) get it too.
    Every webhook endpoint subscribed to `event` gets it, once per call. `urgent` (and the events
    SEV1, break glass and page, always) ignores quiet hours and switched-off events. About a drill,
    every subject starts with "[DRILL]" (incidents.drills), whoever wrote it.
    """
    notice = Notice(
        incident=incident, users=list(users), subject=subject, body=body, needs=needs, event=event, urgent=urgent,
        ack_url=ack_url, to=list(to), roles=list(roles),
    )  # fmt: skip
    return notify_many([notice])[0]


def notify_many(notices: Iterable[Notice]) -> list[list[str]]:
    """notify() for many notifications at once (the same rules, in fewer queries: preferences for
    everyone at once, webhooks once per event, the rows in bulk, one hand-over to the broker after
    commit); for each notice, the usernames told."""
    return [told for told, _ in _write(notices, broadcast=True)]


def notify_rows(
    *, incident: Incident | None, subject: str, body: str, to: Iterable[Address], event: Event = Event.GENERAL
) -> Notification | None:
    """A message to these addresses only (no people, no role channels, no webhooks: e.g. a customer's
    notice, written for them), with the same rows and delivery; returns the Notification written."""
    notice = Notice(incident=incident, users=[], subject=subject, body=body, event=event, to=list(to))
    return _write([notice], broadcast=False)[0][1]


def _write(notices: Iterable[Notice], *, broadcast: bool) -> list[tuple[list[str], Notification | None]]:
    webhooks: dict[str, list[Address]] = {}
    plans: list[tuple[Notice, list[User], list[Address]]] = []
    everyone: dict[int, User] = {}
    for notice in notices:
        notice = replace(notice, subject=subject_for(notice.incident, notice.subject))  # [DRILL], in one place
        people = list({user.pk: user for user in notice.users}.values())
        if notice.event not in webhooks:
            webhooks[notice.event] = addresses_for(event=notice.event, roles=(), incident=None) if broadcast else []
        chat = addresses_for(event=None, roles=notice.roles, incident=notice.incident) if notice.roles else []
        plans.append((notice, people, list(dict.fromkeys([*notice.to, *chat, *webhooks[notice.event]]))))
        everyone.update((user.pk, user) for user in people)
    prefs = preferences_for(users=everyone.values()) if everyone else {}
    now = timezone.now()
    told: list[tuple[list[str], Notification | None]] = []
    with transaction.atomic(savepoint=False):  # the caller's transaction, or its own outside one
        written: list[tuple[Notification, list[tuple[User | None, Content]], list[Address], Notice]] = []
        for notice, people, addresses in plans:
            if not people and not addresses:
                told.append(([], None))
                continue
            urgent = notice.urgent or notice.event in URGENT_EVENTS
            viewers, others_may_see = may_see(incident=notice.incident, users=people, others=bool(addresses))
            # Each distinct message once: the full one and the generic one.
            full, generic = (_content(notice, allowed=True), _content(notice, allowed=False))
            contents: list[tuple[User | None, Content]] = [
                (user, full if user.pk in viewers else generic) for user in people
            ]
            if addresses:
                contents.append((None, full if others_may_see else generic))
            notification = Notification(
                event=notice.event, incident=notice.incident, urgent=urgent, subject=notice.subject[:SUBJECT_MAX],
                body=notice.body, ack_url=notice.ack_url, needs=notice.needs.value,
            )  # fmt: skip
            names = [user.username + (REDACTED if c.redacted else "") for user, c in contents if user is not None]
            told.append((names, notification))
            written.append((notification, contents, addresses, notice))
        Notification.objects.bulk_create([w[0] for w in written])
        rows: list[Delivery] = []
        for notification, contents, addresses, notice in written:
            for user, content in contents:
                if user is None:
                    rows += [_delivery(notification, content, where.channel, where.address, user=None,
                                       deferred_until=None) for where in addresses]  # fmt: skip
                    continue
                routes = routes_for(user, prefs[user.pk], event=notice.event, urgent=notification.urgent)
                if not routes:
                    log.info("notification %s: %s gets nothing (no address, or the event is off)", notification.pk,
                             user.username)  # fmt: skip
                quiet_until = None if notification.urgent else prefs[user.pk].quiet_until(now)
                for channel, address in routes:
                    rows.append(_delivery(notification, content, channel, address, user=user,
                                          deferred_until=quiet_until))  # fmt: skip
        Delivery.objects.bulk_create(rows, batch_size=1000)
    due = [row.pk for row in rows if row.state == DeliveryState.PENDING]
    if due:
        transaction.on_commit(lambda: send(due))
    return told


def _content(notice: Notice, *, allowed: bool) -> Content:
    return message_for(
        incident=notice.incident, allowed=allowed, subject=notice.subject, body=notice.body, needs=notice.needs,
        ack_url=notice.ack_url,
    )  # fmt: skip


def _delivery(
    notification: Notification,
    content: Content,
    channel: str,
    address: str,
    *,
    user: User | None,
    deferred_until: datetime | None,
) -> Delivery:
    # Unique per notification, recipient and channel: the channel sees the same key on every retry.
    recipient = f"u{user.pk}" if user is not None else "a" + hashlib.sha256(address.encode()).hexdigest()[:24]
    return Delivery(
        notification=notification,
        user=user,
        channel=channel,
        address=address,
        redacted=content.redacted,
        subject=content.subject,
        text=content.text,
        state=DeliveryState.DEFERRED if deferred_until else DeliveryState.PENDING,
        next_attempt_at=deferred_until,
        idempotency_key=f"ntf-{notification.pk}-{channel}-{recipient}"[:100],
    )


def send(delivery_ids: list[int]) -> int:
    """Hand deliveries to the broker; an outage leaves them for the relay (incidents.delivery)."""
    return send_by_name(Delivery, DELIVER_TASK, delivery_ids)
