"""Outgoing webhooks signed per the Standard Webhooks specification (https://www.standardwebhooks.com/).

An address is a WebhookEndpoint's id. Each delivery is one POST of JSON
`{"type": <event>, "timestamp": <ISO 8601>, "data": {...}}` with the headers `webhook-id` (the
delivery's idempotency key: the same on every retry, so a receiver dedupes), `webhook-timestamp`
(Unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` under the
endpoint's `whsec_…` secret). A receiver verifies with any Standard Webhooks library, e.g.
`standardwebhooks.Webhook(secret).verify(body, headers)`.

5xx, 408, 429, timeouts and connection errors are transient; any other 4xx is permanent, as are
a disabled or unknown endpoint and an event it does not subscribe to.

An endpoint is a third party (DESIGN §7): about a restricted incident only a redacted message may
go out, and a redacted message carries no data beyond its ref, event and what it needs. The
channel checks both rather than trust its caller.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import requests
from django.conf import settings
from standardwebhooks import Webhook

from incidents.channels.base import DeliveryError, Message
from incidents.models import Incident
from incidents.models.chat import WebhookEndpoint

# The only data keys a redacted message may carry.
REDACTED_DATA_KEYS = frozenset({"ref", "event", "needs"})
TRANSIENT_STATUSES = frozenset({408, 429})
USER_AGENT = "Failsafe-Webhooks/1"


def payload_for(message: Message, *, at: datetime) -> dict[str, Any]:
    """The JSON body: Standard Webhooks' {type, timestamp, data}."""
    data: dict[str, Any] = {
        "subject": message.subject,
        "text": message.text,
        "url": message.url,
        "incident_ref": message.incident_ref,
        "redacted": message.redacted,
    }
    data.update({key: value for key, value in message.data.items() if key not in data})
    return {"type": message.event, "timestamp": at.isoformat().replace("+00:00", "Z"), "data": data}


def _check_visibility(message: Message) -> None:
    if message.redacted:
        extra = sorted(set(message.data) - REDACTED_DATA_KEYS)
        if extra:
            raise DeliveryError(
                f"A redacted message may carry only {', '.join(sorted(REDACTED_DATA_KEYS))}; "
                f"it had {', '.join(extra)}.",
                transient=False,
            )
        return
    if message.incident_ref and Incident.objects.filter(ref=message.incident_ref, restricted=True).exists():
        raise DeliveryError(
            f"{message.incident_ref} is restricted: only its redacted message may go to a webhook.", transient=False
        )


def _endpoint(address: str) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=int(address)).first() if address.isdigit() else None
    if endpoint is None:
        raise DeliveryError(f"No webhook endpoint {address!r}.", transient=False)
    if not endpoint.active:
        raise DeliveryError(f"The webhook endpoint “{endpoint.name}” is disabled.", transient=False)
    return endpoint


class WebhookChannel:
    name = "webhook"

    def send(self, *, address: str, message: Message, idempotency_key: str) -> None:
        endpoint = _endpoint(address)
        if message.event not in endpoint.events:
            raise DeliveryError(f"“{endpoint.name}” does not subscribe to {message.event!r}.", transient=False)
        _check_visibility(message)
        at = datetime.now(UTC)
        body = json.dumps(payload_for(message, at=at), separators=(",", ":"), ensure_ascii=False)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": idempotency_key,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(endpoint.secret).sign(idempotency_key, at, body),
        }
        timeout = (settings.FAILSAFE_WEBHOOK_CONNECT_TIMEOUT, settings.FAILSAFE_WEBHOOK_READ_TIMEOUT)
        try:
            response = requests.post(
                endpoint.url, data=body.encode(), headers=headers, timeout=timeout, allow_redirects=False
            )
        except requests.Timeout as exc:
            raise DeliveryError(f"{endpoint.name}: timed out", transient=True) from exc
        except requests.ConnectionError as exc:
            raise DeliveryError(f"{endpoint.name}: could not connect", transient=True) from exc
        except requests.RequestException as exc:  # an invalid URL and the like: retrying will not help
            raise DeliveryError(f"{endpoint.name}: {exc.__class__.__name__}", transient=False) from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        retry_after = _seconds(response.headers.get("Retry-After"))
        transient = status >= 500 or status in TRANSIENT_STATUSES
        raise DeliveryError(f"{endpoint.name} answered HTTP {status}", transient=transient, retry_after=retry_after)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
