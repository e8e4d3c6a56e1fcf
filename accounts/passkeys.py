"""Passkeys (WebAuthn, through django-otp-webauthn): the preferred second factor for tier-4
approvals and break-glass ratification, with the authenticator app's code as the fallback.

Every ceremony starts with a challenge issued here to one person for one purpose and stored as a
`PasskeyChallenge`: "add" or "remove" (proving an existing factor before changing them),
"register" (the new passkey's own ceremony), or "approve:<correction>:<content hash>". An answer
is accepted only for a challenge of THAT person and THAT purpose, once, while fresh: the challenge
is spent before the signature is checked, so a replay, an answer meant for another correction or
another person, or an old one finds nothing to spend. As with codes, an answer is checked outside
any transaction, and a refused one counts towards the sign-in lockout (accounts.lockout).

Passkeys are browser-only: the API keeps the authenticator app's code.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_otp_webauthn.exceptions import OTPWebAuthnApiError
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.models import WebAuthnCredential
from django_otp_webauthn.settings import app_settings
from webauthn import base64url_to_bytes
from webauthn.helpers.exceptions import WebAuthnException

from accounts import lockout
from accounts.actor import Actor
from accounts.models import PasskeyChallenge, User
from config.errors import DomainError

ANSWER_FIELD = "passkey"
MAX_ANSWER_LENGTH = 16_000
REFUSED = "Your passkey's answer was not accepted (it was for something else, already used, or too old). Try again."
# What a malformed or forged answer can raise on its way through py_webauthn and the package.
_BAD_ANSWER = (WebAuthnException, OTPWebAuthnApiError, ValueError, KeyError, TypeError)


def passkeys_of(user: User) -> QuerySet[WebAuthnCredential]:
    passkeys: QuerySet[WebAuthnCredential] = WebAuthnCredential.objects.filter(user=user, confirmed=True)
    return passkeys.order_by("created_at", "id")


def has_passkey(user: User) -> bool:
    return passkeys_of(user).exists()


def approval_purpose(correction_pk: int, content_hash: str) -> str:
    """What an approval's answer is bound to: this correction as its approver reviewed it."""
    return f"approve:{correction_pk}:{content_hash}"


def _helper() -> WebAuthnHelper:
    return WebAuthnCredential.get_webauthn_helper(request=None)


def _fresh_since() -> datetime:
    return timezone.now() - timedelta(seconds=app_settings.OTP_WEBAUTHN_TIMEOUT_SECONDS)


def _issue(user: User, purpose: str, options: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    now = timezone.now()
    # Spent and expired challenges of this person are of no further use.
    PasskeyChallenge.objects.filter(user=user, created_at__lt=_fresh_since()).delete()
    PasskeyChallenge.objects.create(user=user, purpose=purpose, challenge=options["challenge"], state=state,
                                    created_at=now)  # fmt: skip
    return options


def _parse(answer: str) -> tuple[dict[str, Any], str] | None:
    """The answer as JSON and the challenge its client data echoes, or None if it is not one."""
    if not answer or len(answer) > MAX_ANSWER_LENGTH:
        return None
    try:
        data = json.loads(answer)
        client_data = json.loads(base64url_to_bytes(data["response"]["clientDataJSON"]))
        challenge = client_data["challenge"]
    except _BAD_ANSWER:
        return None
    if not isinstance(data, dict) or not isinstance(challenge, str):
        return None
    return data, challenge


def _spend(user: User, purpose: str, challenge: str) -> PasskeyChallenge | None:
    """Mark the matching fresh challenge used; None if there is none (or a concurrent answer won)."""
    candidates = PasskeyChallenge.objects.filter(
        user=user, purpose=purpose, challenge=challenge, used_at__isnull=True, created_at__gte=_fresh_since()
    )
    row = candidates.first()
    if row is None or candidates.filter(pk=row.pk).update(used_at=timezone.now()) != 1:
        return None
    return row


def _person(actor: Actor) -> User:
    if actor.user is None:
        raise DomainError("This action needs a person.", code="forbidden")
    return actor.user


def passkey_challenge_issue(*, actor: Actor, purpose: str) -> dict[str, Any]:
    """Options for navigator.credentials.get(): a fresh challenge for one of the actor's passkeys."""
    user = _person(actor)
    if not has_passkey(user):
        raise DomainError("You have no passkey. Add one on your second-factor page.", code="conflict")
    options, state = _helper().authenticate_begin(user=user, require_user_verification=False)
    return _issue(user, purpose, options, state)


def registration_options(user: User) -> dict[str, Any]:
    """Options for navigator.credentials.create(), with a "register" challenge issued for them."""
    options, state = _helper().register_begin(user=user)
    return _issue(user, "register", options, state)


def registration_answer(user: User, answer: str) -> tuple[PasskeyChallenge, dict[str, Any]]:
    """Spend the user's "register" challenge this answer echoes (call it outside any transaction,
    so it stays spent whatever follows); refused if there is none."""
    parsed = _parse(answer)
    row = _spend(user, "register", parsed[1]) if parsed else None
    if parsed is None or row is None:
        raise DomainError("This passkey set-up is out of date or was finished already. Start again.", code="conflict")
    return row, parsed[0]


def registration_save(user: User, challenge: PasskeyChallenge, data: dict[str, Any]) -> WebAuthnCredential:
    """Verify the new passkey against its challenge and save it (inside the caller's transaction)."""
    try:
        with transaction.atomic():  # a savepoint: a duplicate passkey leaves the caller's transaction usable
            return _helper().register_complete(user=user, state=challenge.state, data=data)
    except (*_BAD_ANSWER, IntegrityError) as error:
        raise DomainError("The browser's new passkey could not be verified. Try again.", code="invalid") from error


def _answer_check(user: User, purpose: str, answer: str) -> WebAuthnCredential | None:
    parsed = _parse(answer)
    if parsed is None:
        return None
    data, challenge = parsed
    row = _spend(user, purpose, challenge)
    if row is None:
        return None
    try:
        # Verifies the signature, the origin, the relying party and that the passkey is this person's.
        device = _helper().authenticate_complete(user=user, state=row.state, data=data)
    except _BAD_ANSWER:
        return None
    if not device.confirmed or device.user_id != user.pk:
        return None
    return device


def passkey_verify(*, actor: Actor, purpose: str, answer: str, field: str = ANSWER_FIELD) -> WebAuthnCredential:
    """The passkey that answered the actor's challenge for `purpose`, or a refusal on `field`.

    Refused while the actor is locked out; a refused answer counts towards that lockout. Call it
    outside any transaction, so the spent challenge and the counted failure are kept.
    """
    user = _person(actor)
    lockout.second_factor_allowed(actor=actor, field=field)
    device = _answer_check(user, purpose, answer)
    if device is None:
        lockout.second_factor_failed(actor=actor)
        raise DomainError.invalid_field(field, REFUSED)
    return device
