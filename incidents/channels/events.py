"""The channels' ledger verbs: Slack routing, an incident's own Slack channel, webhook endpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from accounts.events import LedgerVerb, register_verbs

if TYPE_CHECKING:
    from accounts.models import LedgerEvent


def _a(event: LedgerEvent, key: str, default: Any = "") -> Any:
    return (event.after or {}).get(key, default) if isinstance(event.after, dict) else default


def _b(event: LedgerEvent, key: str, default: Any = "") -> Any:
    return (event.before or {}).get(key, default) if isinstance(event.before, dict) else default


@register_verbs
class ChannelEvent(LedgerVerb):
    CHAT_CHANNEL_OPENED = (
        "incident.chat_channel_opened",
        lambda e: f"opened the incident's Slack channel #{_a(e, 'name')}",
    )
    SLACK_ROLE_CHANNEL_SET = (
        "channels.slack_role_channel_set",
        lambda e: f"sent {_a(e, 'role')} notifications to Slack channel {_a(e, 'channel_id')}",
    )
    SLACK_ROLE_CHANNEL_REMOVED = (
        "channels.slack_role_channel_removed",
        lambda e: f"stopped sending {_b(e, 'role')} notifications to Slack channel {_b(e, 'channel_id')}",
    )
    SLACK_IDENTITY_SET = (
        "channels.slack_identity_set",
        lambda e: f"set {_a(e, 'user')}'s Slack member id to {_a(e, 'member_id')}",
    )
    SLACK_IDENTITY_REMOVED = (
        "channels.slack_identity_removed",
        lambda e: f"removed {_b(e, 'user')}'s Slack member id",
    )
    WEBHOOK_CREATED = (
        "webhook.created",
        lambda e: f"added the webhook endpoint “{_a(e, 'name')}” ({_a(e, 'url')}) for {', '.join(_a(e, 'events', []))}",
    )
    WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated", lambda e: f"rotated the secret of webhook “{_a(e, 'name')}”"
    WEBHOOK_DISABLED = "webhook.disabled", lambda e: f"disabled the webhook endpoint “{_a(e, 'name')}”"
