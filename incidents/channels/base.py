"""The one interface every notification channel implements, and the registry that finds them.

A channel gets a Message already addressed and already filtered for visibility (DESIGN §7: the
caller decides what each recipient may read), an address in the channel's own terms (an email
address, a Slack channel or member id, a webhook endpoint's id) and an idempotency key that is the
same on every retry of one delivery. It either returns (delivered) or raises DeliveryError; a
transient error is retried with backoff, a permanent one fails the delivery for good.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Message:
    """What one recipient gets, in every channel's terms."""

    event: str  # the Event value that caused it, e.g. "sev1", "page", "approval_needed"
    subject: str
    text: str  # plain text body; channels that render richer content start from it
    url: str = ""  # the page it is about (absolute)
    incident_ref: str = ""  # "" for a message about no incident
    ack_url: str = ""  # a page's acknowledge link, when the message is a page
    redacted: bool = False  # True: the generic message for someone who may not see the incident
    data: dict[str, str] = field(default_factory=dict)  # extra machine-readable fields (webhooks)


class DeliveryError(Exception):
    """The channel could not deliver. transient=True: try again later; False: give up."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after  # seconds the far end asked us to wait (e.g. Slack's Retry-After)


class Channel(Protocol):
    name: str

    def send(self, *, address: str, message: Message, idempotency_key: str) -> None: ...


_CHANNELS: dict[str, Channel] = {}


def register(channel: Channel) -> Channel:
    _CHANNELS[channel.name] = channel
    return channel


def get(name: str) -> Channel:
    """The channel called `name`; KeyError for an unknown one (callers turn it into a clear error)."""
    return _CHANNELS[name]


def names() -> list[str]:
    return sorted(_CHANNELS)
