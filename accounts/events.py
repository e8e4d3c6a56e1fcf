"""The ledger's vocabulary: one enumeration of verbs per app, each verb with its phrase.

An app declares its verbs as a `LedgerVerb` enumeration and registers it (`@register_verbs`),
then passes members, never string literals, to `ledger.record(verb=...)`. The audit narrative
reads each event's phrase from here, and tests check that every verb recorded anywhere is a
member of a registered enumeration. The machinery lives here, in the lowest app, so every app can
declare its verbs; accounts' own are `AccountEvent` below, incidents' are `incidents.events.IncidentEvent`,
corrections' `corrections.events.CorrectionEvent`.

A phrase says what happened in plain text, after the actor's name: "escalated the incident to
SEV1". A member without its own phrase reads as its verb: "signal 12: received".
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from accounts.models import LedgerEvent

Phrase = Callable[["LedgerEvent"], str]
E = TypeVar("E", bound=type[StrEnum])


def generic_phrase(verb: str, object_id: str) -> str:
    """How a verb with no phrase of its own reads: "correction 12: approval given"."""
    noun, _, action = verb.partition(".")
    return f"{noun.replace('_', ' ')} {object_id}: {action.replace('_', ' ')}".strip()


class LedgerVerb(StrEnum):
    """Base of every app's verbs. A member is declared as `NAME = "noun.action", phrase` (the
    phrase optional); it is the verb string itself wherever a string is expected."""

    _phrase: Phrase | None

    def __new__(cls, value: str, phrase: Phrase | None = None):
        member = str.__new__(cls, value)
        member._value_ = value
        member._phrase = phrase
        return member

    def phrase(self, event: LedgerEvent) -> str:
        if self._phrase is not None:
            return self._phrase(event)
        return generic_phrase(self.value, event.object_id)


# --- the registry of every app's verbs ----------------------------------------------------------------

_ENUMS: list[type[StrEnum]] = []
_BY_VERB: dict[str, StrEnum] = {}


def register_verbs(enum: E) -> E:
    """Add an app's verb enumeration to the ledger's vocabulary (usable as a class decorator).
    A verb may belong to one enumeration only."""
    if enum in _ENUMS:
        return enum
    clashes = sorted(member.value for member in enum if member.value in _BY_VERB)
    if clashes:
        raise ValueError(f"{enum.__name__} repeats verbs already registered: {', '.join(clashes)}")
    _ENUMS.append(enum)
    _BY_VERB.update({member.value: member for member in enum})
    return enum


def registered_enums() -> list[type[StrEnum]]:
    return list(_ENUMS)


def registered_verbs() -> set[str]:
    return set(_BY_VERB)


def verb_member(verb: str) -> StrEnum | None:
    """The registered member for a verb string, or None if no app declares it."""
    return _BY_VERB.get(verb)


# --- accounts' verbs -----------------------------------------------------------------------------


@register_verbs
class AccountEvent(LedgerVerb):
    """Sign-in factors, API tokens, roles and lockouts."""

    OTP_DEVICE_STARTED = "otp.device_started"
    OTP_DEVICE_CONFIRMED = "otp.device_confirmed"
    OTP_DEVICE_REMOVED = "otp.device_removed"
    PASSKEY_REGISTERED = "passkey.registered", lambda e: f"added a passkey ({(e.after or {}).get('name', '')})"
    PASSKEY_REMOVED = "passkey.removed", lambda e: f"removed a passkey ({(e.after or {}).get('name', '')})"
    API_TOKEN_ISSUED = "accounts.api_token_issued"
    ROLES_CHANGED = "accounts.roles_changed"
    LOCKOUT_CLEARED = "accounts.lockout_cleared"
    # Single sign-on (accounts.sso): accounts made and kept in step with the identity provider.
    SSO_ACCOUNT_CREATED = (
        "accounts.sso_account_created",
        lambda e: "signed in through single sign-on for the first time",
    )
    SSO_PROFILE_UPDATED = "accounts.sso_profile_updated", lambda e: "had their name or email updated by single sign-on"
    SSO_SIGN_IN_REFUSED = "accounts.sso_sign_in_refused", lambda e: f"was refused single sign-on: {e.reason}"
    SSO_IDENTITY_LINKED = "accounts.sso_identity_linked"
