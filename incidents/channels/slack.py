"""Slack: notifications posted with the Web API's chat.postMessage by the real slack_sdk client.

Configured by FAILSAFE_SLACK_BOT_TOKEN (unset: the channel is off, every delivery fails for good
with a message that says so) and FAILSAFE_SLACK_API_URL (the local stand-in, incidents.channels.
local_slack, in development and tests). An address is a Slack channel id (C…, G…) or a member id
(U…, W…: a direct message).

Slack is a third party that keeps what it is sent, and a channel's members are not a list we
filter (DESIGN §7): a message about a restricted incident goes out as its ref and a link only,
whatever the caller passed.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from incidents.channels.base import DeliveryError, Message
from incidents.models import Incident

log = logging.getLogger(__name__)

NOT_CONFIGURED = (
    "Slack is not configured: set FAILSAFE_SLACK_BOT_TOKEN (and FAILSAFE_SLACK_API_URL for a local server)."
)
# Errors Slack answers that a later try may not get (everything else, e.g. channel_not_found,
# invalid_auth, not_in_channel, is permanent).
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "service_unavailable", "fatal_error", "internal_error", "request_timeout"}
)
# Slack's limits: header text 150 characters, section text 3,000, button text 75.
HEADER_MAX, SECTION_MAX, BUTTON_MAX = 150, 3000, 75


def configured() -> bool:
    return bool(settings.FAILSAFE_SLACK_BOT_TOKEN)


def client() -> WebClient:
    """The Web API client; DeliveryError (permanent) when Slack is not configured."""
    if not configured():
        raise DeliveryError(NOT_CONFIGURED, transient=False)
    base_url = settings.FAILSAFE_SLACK_API_URL
    return WebClient(
        token=settings.FAILSAFE_SLACK_BOT_TOKEN,
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        timeout=int(max(1, settings.FAILSAFE_SLACK_TIMEOUT)),
        retry_handlers=[],  # the delivery's own retries (with backoff) decide, not a hidden loop here
    )


def call(method: str, **kwargs: Any) -> dict[str, Any]:
    """Call one Web API method (e.g. "chat_postMessage"); its answer's data, or DeliveryError."""
    web = client()
    try:
        response = getattr(web, method)(**kwargs)
    except SlackApiError as exc:
        raise _delivery_error(exc) from exc
    except SlackClientError as exc:  # a request the client itself refuses to make: it will not improve
        raise DeliveryError(f"Slack request refused: {exc}", transient=False) from exc
    except (OSError, TimeoutError) as exc:  # refused, reset, DNS, timeout: urllib's errors are OSErrors
        raise DeliveryError(f"Slack unreachable: {exc}", transient=True) from exc
    data = response.data
    return data if isinstance(data, dict) else {}


def _delivery_error(exc: SlackApiError) -> DeliveryError:
    response = exc.response
    status = getattr(response, "status_code", 0) or 0
    data = getattr(response, "data", None)
    error = str(data.get("error", "")) if isinstance(data, dict) else ""
    retry_after = None
    headers = getattr(response, "headers", None) or {}
    for name, value in dict(headers).items():
        if name.lower() == "retry-after":
            try:
                retry_after = float(value[0] if isinstance(value, list) else value)
            except (TypeError, ValueError):
                retry_after = None
    transient = status == 429 or status >= 500 or error in TRANSIENT_ERRORS
    detail = error or f"HTTP {status}"
    return DeliveryError(f"Slack refused: {detail}", transient=transient, retry_after=retry_after)


def _escape(text: str) -> str:
    """Slack's mrkdwn treats &, < and > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def chat_safe(message: Message) -> Message:
    """The message as it may go to Slack: about a restricted incident, its ref and a link only."""
    if not message.incident_ref or message.redacted:
        return message
    if not Incident.objects.filter(ref=message.incident_ref, restricted=True).exists():
        return message
    return Message(
        event=message.event,
        subject=f"Restricted incident {message.incident_ref}",
        text=f"The restricted incident {message.incident_ref} has news. Open it in Failsafe to read it.",
        url=message.url,
        incident_ref=message.incident_ref,
        ack_url=message.ack_url,
        redacted=True,
    )


def blocks_for(message: Message) -> list[dict[str, Any]]:
    """Block Kit: the subject as a header, the body, then link buttons to the page and to acknowledge."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(message.subject or "Failsafe", HEADER_MAX)}},
    ]
    if message.text:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip(_escape(message.text), SECTION_MAX)}}
        )
    buttons = []
    if message.url:
        label = f"Open {message.incident_ref}" if message.incident_ref else "Open in Failsafe"
        buttons.append(
            {
                "type": "button",
                "text": {"type": "plain_text", "text": _clip(label, BUTTON_MAX)},
                "url": message.url,
                "action_id": "open",
            }
        )
    if message.ack_url:
        buttons.append(
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "url": message.ack_url,
                "style": "primary",
                "action_id": "acknowledge",
            }
        )
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return blocks


class SlackChannel:
    name = "slack"

    def send(self, *, address: str, message: Message, idempotency_key: str) -> None:
        if not address:
            raise DeliveryError("No Slack channel or member id to send to.", transient=False)
        message = chat_safe(message)
        fallback = message.subject + (f"\n{message.text}" if message.text else "")
        call(
            "chat_postMessage",
            channel=address,
            text=_clip(_escape(fallback), SECTION_MAX),
            blocks=blocks_for(message),
            unfurl_links=False,
            # Slack has no idempotency key; the metadata lets a reader spot a repeat after a lost answer.
            metadata={
                "event_type": "failsafe_notification",
                "event_payload": {"idempotency_key": idempotency_key, "event": message.event},
            },
        )
