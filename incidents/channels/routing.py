"""Which chat channels and webhook endpoints a notification also goes to (the notify path calls these).

Addresses only: what goes to them about a restricted incident is the caller's redacted message,
and the channels themselves check (incidents.channels.slack.chat_safe, webhooks._check_visibility).
"""

from __future__ import annotations

from collections.abc import Iterable

from incidents.models import Incident
from incidents.models.chat import EVENT_NAMES, IncidentChatChannel, SlackRoleChannel, WebhookEndpoint


def chat_addresses_for(*, roles: Iterable[str], incident: Incident | None) -> list[str]:
    """The Slack channels of these roles, then the incident's own channel; no repeats."""
    addresses = list(
        SlackRoleChannel.objects.filter(role__in=[str(r) for r in roles])
        .order_by("role")
        .values_list("channel_id", flat=True)
    )
    if incident is not None:
        addresses += IncidentChatChannel.objects.filter(incident=incident).values_list("channel_id", flat=True)
    return list(dict.fromkeys(addresses))


def webhook_addresses_for(*, event: str) -> list[str]:
    """The ids (as text) of the active endpoints subscribed to `event`; ValueError for an unknown event."""
    if event not in EVENT_NAMES:
        raise ValueError(f"unknown event {event!r}")
    # A few rows: filtered here, since SQLite cannot look inside a JSON list.
    endpoints = WebhookEndpoint.objects.filter(active=True).order_by("pk").values_list("pk", "events")
    return [str(pk) for pk, events in endpoints if event in (events or [])]
