"""Writes about where notifications go: Slack routing (a channel per role, people's member ids), an
incident's own Slack channel, and webhook endpoints. Admin-only except opening an incident's
channel (commanders). Each change is one transaction with its ledger event; secrets never enter
the ledger."""

from __future__ import annotations

import logging
import re
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import ledger
from accounts.actor import Actor
from accounts.models import User
from accounts.roles import Role
from config.errors import DomainError
from incidents import locks
from incidents.channels import slack
from incidents.channels.base import DeliveryError
from incidents.channels.events import ChannelEvent
from incidents.models import Incident
from incidents.models.chat import (
    EVENT_NAMES,
    IncidentChatChannel,
    SlackIdentity,
    SlackRoleChannel,
    WebhookEndpoint,
    new_webhook_secret,
)
from incidents.selectors import viewers_among

log = logging.getLogger(__name__)

# Who may open an incident's channel: those who run incidents (incidents.services.COMMANDER_ROLES,
# not imported: the notification path imports this package).
CHAT_OPENER_ROLES = (Role.INCIDENT_COMMANDER, Role.LEADERSHIP, Role.ADMIN)
SLACK_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,30}\Z")
SLACK_MEMBER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}\Z")
SUMMARY_MAX = 1500


def _person(actor: Actor, roles: tuple[Role, ...], refusal: str) -> User:
    """The acting person, if they hold one of `roles` (configuration is done by people, not tasks)."""
    if actor.user is None or not actor.user.has_role(*roles):
        raise DomainError(refusal, code="forbidden")
    return actor.user


def _require_admin(actor: Actor, what: str) -> User:
    return _person(actor, (Role.ADMIN,), f"Only an admin may {what}.")


# --- Slack routing ------------------------------------------------------------------------------


@transaction.atomic
def slack_role_channel_set(*, actor: Actor, role: str, channel_id: str) -> SlackRoleChannel:
    admin = _require_admin(actor, "route notifications to Slack")
    if role not in Role.__members__.values():
        raise DomainError.invalid_field("role", f"Unknown role {role!r}; one of {', '.join(Role)}.")
    channel_id = channel_id.strip()
    if not SLACK_CHANNEL_ID.match(channel_id):
        raise DomainError.invalid_field("channel_id", "A Slack channel id looks like C0123456789 (or G… if private).")
    row = locks.lock_slack_role_channel(role)
    before = {"role": role, "channel_id": row.channel_id} if row else None
    if row is None:
        row = SlackRoleChannel(role=role)
    row.channel_id = channel_id
    row.updated_by = admin
    row.updated_at = timezone.now()
    row.save()
    ledger.record(
        actor=actor,
        verb=ChannelEvent.SLACK_ROLE_CHANNEL_SET,
        obj=row,
        before=before,
        after={"role": role, "channel_id": channel_id},
    )
    return row


@transaction.atomic
def slack_role_channel_remove(*, actor: Actor, role: str) -> None:
    _require_admin(actor, "route notifications to Slack")
    row = locks.lock_slack_role_channel(role)
    if row is None:
        return
    before = {"role": row.role, "channel_id": row.channel_id}
    ledger.record(actor=actor, verb=ChannelEvent.SLACK_ROLE_CHANNEL_REMOVED, obj=row, before=before)
    row.delete()


@transaction.atomic
def slack_identity_set(*, actor: Actor, user: User, member_id: str) -> SlackIdentity | None:
    """Set (or with "" remove) a person's Slack member id."""
    _require_admin(actor, "set people's Slack ids")
    member_id = member_id.strip()
    if member_id and not SLACK_MEMBER_ID.match(member_id):
        raise DomainError.invalid_field("member_id", "A Slack member id looks like U0123456789.")
    if member_id and SlackIdentity.objects.filter(member_id=member_id).exclude(user=user).exists():
        raise DomainError.invalid_field("member_id", "Another person already has this Slack member id.")
    identity = locks.lock_slack_identity(user.pk)
    before = {"user": user.username, "member_id": identity.member_id} if identity else None
    if not member_id:
        if identity is not None:
            ledger.record(actor=actor, verb=ChannelEvent.SLACK_IDENTITY_REMOVED, obj=identity, before=before)
            identity.delete()
        return None
    identity = identity or SlackIdentity(user=user)
    identity.member_id = member_id
    identity.save()
    ledger.record(
        actor=actor,
        verb=ChannelEvent.SLACK_IDENTITY_SET,
        obj=identity,
        before=before,
        after={"user": user.username, "member_id": member_id},
    )
    return identity


# --- an incident's own channel --------------------------------------------------------------------


def chat_channel_name(ref: str) -> str:
    """INC-2026-0042 → inc-2026-0042 (Slack names: lower case, no spaces or dots, 80 characters)."""
    return re.sub(r"[^a-z0-9_-]", "-", ref.lower())[:80]


def _link(incident: Incident) -> str:
    return f"{settings.FAILSAFE_BASE_URL.rstrip('/')}/incidents/{incident.ref}/"


def _summary(incident: Incident) -> tuple[str, str]:
    """(topic, first message): the ref and a link only for a restricted incident (DESIGN §7)."""
    link = _link(incident)
    if incident.restricted:
        return (
            f"{incident.ref} (restricted) {link}",
            f"Channel for the restricted incident {incident.ref}. Details are in Failsafe only: {link}",
        )
    summary = incident.summary if len(incident.summary) <= SUMMARY_MAX else incident.summary[:SUMMARY_MAX] + "…"
    topic = f"{incident.ref} {incident.severity}: {incident.title}"[:250]
    status = incident.get_status_display().lower()
    text = f"{incident.ref}, {incident.severity}, {status}: {incident.title}\n\n{summary}\n\n{link}"
    return topic, text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _invitees(incident: Incident) -> list[str]:
    """Slack member ids of the incident's people who may see it (reporter, commander, participants)."""
    people = {user.pk: user for user in incident.participants.all()}
    for user in (incident.reporter, incident.commander):
        if user is not None:
            people[user.pk] = user
    may_see = viewers_among(incident=incident, users=people.values())
    return sorted(SlackIdentity.objects.filter(user_id__in=may_see).values_list("member_id", flat=True))


def _slack(method: str, **kwargs: object) -> dict[str, object]:
    try:
        return slack.call(method, **kwargs)
    except DeliveryError as exc:
        hint = " Try again in a moment." if exc.transient else ""
        raise DomainError(f"Slack did not open the channel: {exc}.{hint}", code="conflict") from exc


@transaction.atomic
def incident_open_chat_channel(*, actor: Actor, incident: Incident) -> tuple[IncidentChatChannel, bool]:
    """Open the incident's own Slack channel, invite its people whose Slack ids are known and post
    the summary; (channel, True). A second call returns the existing one: (channel, False).

    The incident row is locked while Slack is called (a few seconds at most, bounded by the client's
    timeout), so two commanders pressing the button at once open one channel, not two."""
    opener = _person(
        actor, CHAT_OPENER_ROLES, "Only an incident commander or leadership may open the incident's channel."
    )
    if not slack.configured():
        raise DomainError(slack.NOT_CONFIGURED, code="conflict")
    incident = locks.lock_incident(incident.pk)
    existing = IncidentChatChannel.objects.filter(incident=incident).first()
    if existing is not None:
        return existing, False
    name = chat_channel_name(incident.ref)
    try:
        created = slack.call("conversations_create", name=name, is_private=incident.restricted)
    except DeliveryError as exc:
        if "name_taken" not in str(exc):
            raise DomainError(f"Slack did not open the channel: {exc}.", code="conflict") from exc
        # A channel by that name exists (an earlier attempt whose answer was lost, or someone's own):
        # open a fresh one rather than post the incident into a channel we did not make.
        name = f"{name[:72]}-{secrets.token_hex(3)}"
        created = _slack("conversations_create", name=name, is_private=incident.restricted)
    channel_id = str(created.get("channel", {}).get("id", ""))
    if not channel_id:
        raise DomainError("Slack did not say which channel it opened.", code="conflict")
    # The channel exists now: keep it whatever follows, so a retry does not open a second one. What
    # Slack refuses from here on is recorded on the ledger event and can be done by hand in Slack.
    topic, text = _summary(incident)
    invitees = _invitees(incident)
    steps: list[tuple[str, dict[str, object]]] = [
        ("conversations_setTopic", {"channel": channel_id, "topic": topic}),
        ("chat_postMessage", {"channel": channel_id, "text": text, "unfurl_links": False}),
    ]
    if invitees:
        steps.insert(0, ("conversations_invite", {"channel": channel_id, "users": ",".join(invitees)}))
    problems = []
    for method, arguments in steps:
        try:
            slack.call(method, **arguments)
        except DeliveryError as exc:
            log.warning("%s: opening its Slack channel, %s failed: %s", incident.ref, method, exc)
            problems.append(f"{method}: {exc}")
    chat = IncidentChatChannel.objects.create(incident=incident, channel_id=channel_id, name=name, created_by=opener)
    after: dict[str, object] = {"channel_id": channel_id, "name": name, "invited": len(invitees),
                                "private": incident.restricted}  # fmt: skip
    if problems:
        after["problems"] = problems
    ledger.record(actor=actor, verb=ChannelEvent.CHAT_CHANNEL_OPENED, obj=chat, incident_ref=incident.ref, after=after)
    return chat, True


# --- webhook endpoints -----------------------------------------------------------------------------


def _events(events: list[str]) -> list[str]:
    if not isinstance(events, list) or not events:
        raise DomainError.invalid_field("events", f"Subscribe to at least one event: {', '.join(EVENT_NAMES)}.")
    unknown = sorted({str(e) for e in events} - set(EVENT_NAMES))
    if unknown:
        raise DomainError.invalid_field(
            "events", f"Unknown event {', '.join(map(repr, unknown))}; the events are {', '.join(EVENT_NAMES)}."
        )
    return [e for e in EVENT_NAMES if e in events]  # the canonical order, no repeats


def webhook_url_checked(url: str) -> str:
    """The URL, stripped; DomainError (field `url`) unless https (or http with FAILSAFE_WEBHOOK_ALLOW_HTTP)."""
    url = url.strip()
    if not re.match(r"^https?://[^\s/]+", url):
        raise DomainError.invalid_field("url", "The endpoint's URL must start with https:// (or http://).")
    if not settings.FAILSAFE_WEBHOOK_ALLOW_HTTP and not url.startswith("https://"):
        raise DomainError.invalid_field("url", "Webhooks carry incident news: the URL must use https://.")
    return url


@transaction.atomic
def webhook_endpoint_create(*, actor: Actor, name: str, url: str, events: list[str]) -> WebhookEndpoint:
    """A new endpoint with a fresh secret (returned on the object: show it once)."""
    admin = _require_admin(actor, "manage webhooks")
    name = name.strip()
    if not name:
        raise DomainError.invalid_field("name", "Name the endpoint (e.g. the system that receives it).")
    endpoint = WebhookEndpoint.objects.create(
        name=name[:100],
        url=webhook_url_checked(url),
        events=_events(events),
        secret=new_webhook_secret(),
        created_by=admin,
    )
    ledger.record(
        actor=actor,
        verb=ChannelEvent.WEBHOOK_CREATED,
        obj=endpoint,
        after={"name": endpoint.name, "url": endpoint.url, "events": endpoint.events},
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_rotate_secret(*, actor: Actor, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret at once (the old one stops signing); returned on the object: show it once."""
    _require_admin(actor, "manage webhooks")
    endpoint = locks.lock_webhook_endpoint(endpoint.pk)
    endpoint.secret = new_webhook_secret()
    endpoint.secret_rotated_at = timezone.now()
    endpoint.save(update_fields=["secret", "secret_rotated_at"])
    ledger.record(actor=actor, verb=ChannelEvent.WEBHOOK_SECRET_ROTATED, obj=endpoint, after={"name": endpoint.name})
    return endpoint


@transaction.atomic
def webhook_endpoint_disable(*, actor: Actor, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    _require_admin(actor, "manage webhooks")
    endpoint = locks.lock_webhook_endpoint(endpoint.pk)
    if not endpoint.active:
        return endpoint
    endpoint.active = False
    endpoint.disabled_at = timezone.now()
    endpoint.save(update_fields=["active", "disabled_at"])
    ledger.record(
        actor=actor,
        verb=ChannelEvent.WEBHOOK_DISABLED,
        obj=endpoint,
        before={"active": True},
        after={"name": endpoint.name, "active": False},
    )
    return endpoint
