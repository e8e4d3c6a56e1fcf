"""Each person's notification preferences: which events on which channel, quiet hours, Slack id.

`Preferences` is the frozen value every reader uses (notify() routes by it); the defaults (no row
yet) send every event by email and nothing to Slack, at any hour. `preferences_update` is the
person's own writer: it validates every field with a message per field (the page and the API show
them) and records a ledger event.

A person's Slack member id has one store, SlackIdentity (incidents.models.chat: unique, so no two
people share one and a DM or an invite to a restricted incident's channel cannot reach the wrong
person; admins also set it). Preferences read it from there and the person's own change writes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.db import IntegrityError, transaction

from accounts import ledger
from accounts.actor import Actor
from accounts.models import User
from config.errors import DomainError
from incidents import locks
from incidents.events import IncidentEvent
from incidents.models.chat import SlackIdentity
from incidents.models.notifications import Event, NotificationPreference

# The channels a person chooses events for, each with where their address comes from.
PERSONAL_CHANNELS = ("email", "slack")
ALL_EVENTS = frozenset(Event.values)
FIELDS = frozenset({"email_events", "slack_events", "slack_member_id", "quiet_start", "quiet_end", "time_zone"})
SLACK_MEMBER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}\Z")  # as incidents.channels.services


@dataclass(frozen=True)
class Preferences:
    email_events: frozenset[str] = ALL_EVENTS
    slack_events: frozenset[str] = frozenset()
    slack_member_id: str = ""
    quiet_start: time | None = None
    quiet_end: time | None = None
    time_zone: str = "UTC"
    saved: bool = field(default=False, compare=False)  # False: the defaults, no row yet

    def events_on(self, channel: str) -> frozenset[str]:
        return self.email_events if channel == "email" else self.slack_events if channel == "slack" else frozenset()

    def as_data(self) -> dict[str, Any]:
        """The API's representation (also what the ledger records)."""
        data = asdict(self)
        data.pop("saved")
        data["email_events"] = sorted(self.email_events)
        data["slack_events"] = sorted(self.slack_events)
        data["quiet_start"] = self.quiet_start.strftime("%H:%M") if self.quiet_start else None
        data["quiet_end"] = self.quiet_end.strftime("%H:%M") if self.quiet_end else None
        return data

    def quiet_until(self, now: datetime) -> datetime | None:
        """When the quiet hours that `now` falls in end (an aware datetime), or None if `now` is not in them."""
        if self.quiet_start is None or self.quiet_end is None or self.quiet_start == self.quiet_end:
            return None
        zone = ZoneInfo(self.time_zone)
        local = now.astimezone(zone)
        t = local.time().replace(tzinfo=None)
        start, end = self.quiet_start, self.quiet_end
        quiet = start <= t < end if start < end else (t >= start or t < end)  # the second wraps past midnight
        if not quiet:
            return None
        day = local.date() if t < end else local.date() + timedelta(days=1)
        return datetime.combine(day, end, tzinfo=zone)


DEFAULTS = Preferences()


def _from_row(row: NotificationPreference, member_id: str) -> Preferences:
    return Preferences(
        email_events=frozenset(row.email_events) & ALL_EVENTS,
        slack_events=frozenset(row.slack_events) & ALL_EVENTS,
        slack_member_id=member_id,
        quiet_start=row.quiet_start,
        quiet_end=row.quiet_end,
        time_zone=row.time_zone,
        saved=True,
    )


def preferences_for(*, users: Iterable[User]) -> dict[int, Preferences]:
    """Each user's preferences (the defaults for those who saved none), two queries for all."""
    ids = [user.pk for user in users]
    if not ids:
        return {}
    members = dict(SlackIdentity.objects.filter(user_id__in=ids).values_list("user_id", "member_id"))
    rows = {
        row.user_id: _from_row(row, members.get(row.user_id, ""))
        for row in NotificationPreference.objects.filter(user_id__in=ids)
    }
    return {pk: rows.get(pk) or replace(DEFAULTS, slack_member_id=members.get(pk, "")) for pk in ids}


def preferences_of(user: User) -> Preferences:
    return preferences_for(users=[user])[user.pk]


# --- validation -------------------------------------------------------------------------------------


def _events(name: str, value: Any, errors: dict[str, list[str]]) -> frozenset[str]:
    if isinstance(value, str):  # "sev1,page" from a form or a hand-written call
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple | set | frozenset) or not all(isinstance(v, str) for v in value):
        errors[name] = ["Give a list of event names."]
        return frozenset()
    unknown = sorted(set(value) - ALL_EVENTS)
    if unknown:
        errors[name] = [f"Unknown event {', '.join(repr(u) for u in unknown)}; choose from: {', '.join(Event.values)}."]
    return frozenset(value) & ALL_EVENTS


def _time(name: str, value: Any, errors: dict[str, list[str]]) -> time | None:
    if value in (None, ""):
        return None
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    if isinstance(value, str) and re.fullmatch(r"\d{2}:\d{2}", value):
        hours, minutes = int(value[:2]), int(value[3:])
        if hours < 24 and minutes < 60:
            return time(hours, minutes)
    errors[name] = ["Give a time as HH:MM (24-hour), e.g. 22:00."]
    return None


def validate(data: Mapping[str, Any], *, current: Preferences) -> Preferences:
    """New preferences from `data` (fields left out keep their current value); DomainError naming each bad field."""
    errors: dict[str, list[str]] = {}
    unknown = sorted(str(name) for name in set(data) - FIELDS)
    for name in unknown:
        if name.endswith("_events"):
            channel = name.removesuffix("_events")
            errors[name] = [f"Unknown channel {channel!r}; the channels are: {', '.join(PERSONAL_CHANNELS)}."]
        else:
            errors[name] = [f"Unknown field; the fields are: {', '.join(sorted(FIELDS))}."]
    email = _events("email_events", data["email_events"], errors) if "email_events" in data else current.email_events
    slack = _events("slack_events", data["slack_events"], errors) if "slack_events" in data else current.slack_events
    member = data.get("slack_member_id", current.slack_member_id)
    if not isinstance(member, str):
        errors["slack_member_id"] = ["Give the Slack member id as text, e.g. U024BE7LH."]
        member = ""
    member = member.strip()
    if member and not SLACK_MEMBER_ID.match(member):
        errors["slack_member_id"] = ["A Slack member id looks like U024BE7LH (Slack: profile → ⋮ → Copy member ID)."]
    if slack and not member and "slack_member_id" not in errors:
        errors["slack_member_id"] = ["Give your Slack member id to get events on Slack."]
    start = _time("quiet_start", data["quiet_start"], errors) if "quiet_start" in data else current.quiet_start
    end = _time("quiet_end", data["quiet_end"], errors) if "quiet_end" in data else current.quiet_end
    if "quiet_start" not in errors and "quiet_end" not in errors:
        if (start is None) != (end is None):
            errors["quiet_end" if end is None else "quiet_start"] = ["Give both ends of the quiet hours, or neither."]
        elif start is not None and start == end:
            errors["quiet_end"] = ["The quiet hours must end at another time than they start."]
    zone = data.get("time_zone", current.time_zone)
    if not isinstance(zone, str) or not _known_zone(zone):
        errors["time_zone"] = ["Unknown time zone; give an IANA name such as Europe/London or America/New_York."]
        zone = "UTC"
    if errors:
        raise DomainError("Some preferences are not valid.", code="invalid", fields=errors)
    return Preferences(email, slack, member, start, end, zone, saved=True)


def _known_zone(name: str) -> bool:
    if name not in available_timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@transaction.atomic
def preferences_update(*, actor: Actor, user: User, data: Mapping[str, Any]) -> Preferences:
    """Save `user`'s preferences (only they change their own); the change is a ledger event."""
    if actor.user is None or actor.user.pk != user.pk:
        raise DomainError("You can change only your own notification preferences.", code="forbidden")
    current = preferences_of(user)
    new = validate(data, current=current)
    if new.slack_member_id != current.slack_member_id:
        _member_id_set(user, new.slack_member_id)
    NotificationPreference.objects.update_or_create(
        user=user,
        defaults={
            "email_events": sorted(new.email_events),
            "slack_events": sorted(new.slack_events),
            "quiet_start": new.quiet_start,
            "quiet_end": new.quiet_end,
            "time_zone": new.time_zone,
        },
    )
    before, after = current.as_data(), new.as_data()
    changed = [k for k in after if before[k] != after[k]]
    ledger.record(
        actor=actor,
        verb=IncidentEvent.NOTIFICATION_PREFERENCES_CHANGED,
        object_type="incidents.notificationpreference",
        object_id=user.pk,
        before={k: before[k] for k in changed},
        after={k: after[k] for k in changed},
    )
    return new


def _member_id_set(user: User, member_id: str) -> None:
    """Write the person's SlackIdentity (the one store of member ids); "" removes it."""
    taken = SlackIdentity.objects.filter(member_id=member_id).exclude(user=user).exists() if member_id else False
    if taken:
        raise DomainError(
            "Some preferences are not valid.", code="invalid",
            fields={"slack_member_id": ["Another person already has this Slack member id; ask an admin."]},
        )  # fmt: skip
    identity = locks.lock_slack_identity(user.pk)
    if not member_id:
        if identity is not None:
            identity.delete()
        return
    identity = identity or SlackIdentity(user=user)
    identity.member_id = member_id
    try:
        with transaction.atomic():
            identity.save()
    except IntegrityError as error:  # someone claimed it meanwhile
        raise DomainError(
            "Some preferences are not valid.",
            code="invalid",
            fields={"slack_member_id": ["Another person already has this Slack member id; ask an admin."]},
        ) from error
