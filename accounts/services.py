"""Writes to accounts: enrolling second factors for tier 4 (an authenticator app's TOTP, passkeys),
API tokens, and an admin clearing a sign-in lockout.

Each change is one transaction with its ledger event. The secret never enters the ledger. A code
is checked before the transaction opens, so a wrong code's throttling (django-otp counts failures
on the device row) is not rolled back with the refusal.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any

from axes.models import AccessAttempt
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from accounts import ledger, lockout, passkeys
from accounts.actor import Actor
from accounts.events import AccountEvent
from accounts.models import ApiToken, User
from accounts.roles import Role
from config.errors import DomainError

DEVICE_NAME = "Authenticator app"
PASSKEY_NAME_MAX_LENGTH = 64


def _user(actor: Actor) -> User:
    if actor.user is None:
        raise DomainError("This action needs a person.", code="forbidden")
    return actor.user


def _check_code(actor: Actor, devices: list[TOTPDevice], code: str) -> TOTPDevice:
    """The device the current code belongs to, or a refusal naming the code field.

    A wrong code also counts towards the sign-in lockout, which refuses every code while it lasts.
    """
    code = (code or "").replace(" ", "").strip()
    if not code:
        raise DomainError.invalid_field("code", "Enter the 6-digit code your authenticator app shows now.")
    for device in devices:
        allowed, detail = device.verify_is_allowed()
        if not allowed:
            wait = max(1, math.ceil((detail["locked_until"] - timezone.now()).total_seconds()))
            raise DomainError.invalid_field("code", f"Too many wrong codes. Wait {wait} s, then try again.")
    device = lockout.second_factor_verify(actor=actor, devices=devices, code=code, field="code")
    if device is None:
        raise DomainError.invalid_field("code", "That code is not right. Enter the one your app shows now.")
    return device


def _confirmed(user: User) -> list[TOTPDevice]:
    return list(TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id"))


def _record(actor: Actor, verb: AccountEvent, device: TOTPDevice, *, after: dict[str, Any]) -> None:
    ledger.record(actor=actor, verb=verb, obj=device, after={"user": device.user.username, **after})


def _prove_a_factor(actor: Actor, user: User, *, purpose: str, code: str, answer: str) -> None:
    """Changing one's second factors needs one of them, fresh: a passkey's answer if given (or if
    passkeys are all the person holds), else the app's code. Someone with none has nothing to prove."""
    totp = _confirmed(user)
    if answer:
        passkeys.passkey_verify(actor=actor, purpose=purpose, answer=answer)
    elif totp:
        _check_code(actor, totp, code)
    elif passkeys.has_passkey(user):
        raise DomainError.invalid_field(passkeys.ANSWER_FIELD, "Confirm with one of your passkeys first.")


def otp_device_start(*, actor: Actor, code: str = "", passkey: str = "") -> TOTPDevice:
    """Create an unconfirmed device (a fresh secret). Someone holding a factor (a confirmed app, a
    passkey) proves it first: otherwise a borrowed session could add its own second factor."""
    user = _user(actor)
    existing = _confirmed(user)
    _prove_a_factor(actor, user, purpose="add", code=code, answer=passkey)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # one enrolment change at a time
        discarded = TOTPDevice.objects.filter(user=user, confirmed=False).delete()[0]
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
        after = {"device": device.pk, "replacing": bool(existing), "unconfirmed_discarded": discarded}
        _record(actor, AccountEvent.OTP_DEVICE_STARTED, device, after=after)
    return device


def otp_device_confirm(*, actor: Actor, code: str) -> TOTPDevice:
    """Confirm the device being set up with a current code; it then replaces any earlier device."""
    user = _user(actor)
    pending = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if pending is None:
        raise DomainError("There is no authenticator being set up. Start again.", code="conflict")
    _check_code(actor, [pending], code)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        device = TOTPDevice.objects.filter(pk=pending.pk, confirmed=False).first()
        if device is None:
            raise DomainError("This set-up was replaced or finished elsewhere. Start again.", code="conflict")
        replaced = TOTPDevice.objects.filter(user=user, confirmed=True).delete()[0]
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        _record(actor, AccountEvent.OTP_DEVICE_CONFIRMED, device, after={"device": device.pk, "replaced": replaced})
    return device


def otp_device_remove(*, actor: Actor, code: str = "") -> int:
    """Remove the user's authenticator (a current code is needed), or abandon a set-up not yet confirmed."""
    user = _user(actor)
    existing = _confirmed(user)
    if existing:
        device = _check_code(actor, existing, code)
    else:
        device = TOTPDevice.objects.filter(user=user).order_by("-id").first()
        if device is None:
            raise DomainError("You have no authenticator to remove.", code="conflict")
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        removed: int = TOTPDevice.objects.filter(user=user).delete()[0]  # django_otp is untyped
        after = {"device": device.pk, "was_confirmed": bool(existing), "removed": removed}
        _record(actor, AccountEvent.OTP_DEVICE_REMOVED, device, after=after)
    return removed


def passkey_registration_begin(*, actor: Actor, code: str = "", passkey: str = "") -> dict[str, Any]:
    """Options for the browser to create a passkey, once the actor proved a factor they hold."""
    user = _user(actor)
    _prove_a_factor(actor, user, purpose="add", code=code, answer=passkey)
    return passkeys.registration_options(user)


def passkey_registration_complete(*, actor: Actor, answer: str, name: str = "") -> WebAuthnCredential:
    """Keep the passkey the browser created for the actor's registration challenge."""
    user = _user(actor)
    challenge, data = passkeys.registration_answer(user, answer)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # one enrolment change at a time
        device = passkeys.registration_save(user, challenge, data)
        count = passkeys.passkeys_of(user).count()
        device.name = " ".join((name or "").split())[:PASSKEY_NAME_MAX_LENGTH] or f"Passkey {count}"
        device.save(update_fields=["name"])
        _record_passkey(actor, AccountEvent.PASSKEY_REGISTERED, device, after={"passkeys": count})
    return device


def passkey_remove(*, actor: Actor, passkey_id: int, code: str = "", passkey: str = "") -> None:
    """Remove one of the actor's passkeys, once they proved a factor (that passkey included)."""
    user = _user(actor)
    if not passkeys.passkeys_of(user).filter(pk=passkey_id).exists():
        raise DomainError("You have no such passkey.", code="not_found")
    _prove_a_factor(actor, user, purpose="remove", code=code, answer=passkey)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        device = passkeys.passkeys_of(user).filter(pk=passkey_id).first()
        if device is None:
            raise DomainError("This passkey was removed already.", code="conflict")
        remaining = passkeys.passkeys_of(user).count() - 1
        _record_passkey(actor, AccountEvent.PASSKEY_REMOVED, device, after={"passkeys": remaining})
        device.delete()


def _record_passkey(actor: Actor, verb: AccountEvent, device: WebAuthnCredential, *, after: dict[str, Any]) -> None:
    after = {"user": device.user.username, "passkey": device.pk, "name": device.name, **after}
    ledger.record(actor=actor, verb=verb, obj=device, after=after)


@transaction.atomic
def api_token_issue(*, actor: Actor) -> str:
    """Create an API token for the acting user and return its key, shown once; only its hash is kept."""
    user = _user(actor)
    key = ApiToken.new_key()
    token = ApiToken.objects.create(user=user, prefix=key[: ApiToken.PREFIX_LENGTH], key_hash=ApiToken.hash_key(key))
    ledger.record(actor=actor, verb=AccountEvent.API_TOKEN_ISSUED, obj=token, after={"prefix": token.prefix})
    return key


def lockout_clear(*, actor: Actor, username: str = "", ip_address: str = "", reason: str = "") -> int:
    """Clear the sign-in lockout of a username (from every address) and/or of an address (for every
    username): an admin's decision, recorded on the ledger. Returns the number of failures forgiven."""
    user = _user(actor)
    if not (user.is_superuser or user.has_role(Role.ADMIN)):
        raise DomainError("Only an administrator can clear a sign-in lockout.", code="forbidden")
    username = (username or "").strip()
    ip_address = (ip_address or "").strip()
    if not username and not ip_address:
        raise DomainError("Name a username or an address to unlock.", code="invalid",
                          fields={"username": ["Name a username or an address to unlock."]})  # fmt: skip
    if len(username) > 255:
        raise DomainError.invalid_field("username", "That is longer than any username.")
    if ip_address:
        try:
            ip_address = str(ipaddress.ip_address(ip_address))
        except ValueError:
            raise DomainError.invalid_field("ip_address", "Enter an IPv4 or IPv6 address.") from None
    matching = Q(pk__in=[])
    if username:
        matching |= Q(username=username)
    if ip_address:
        matching |= Q(ip_address=ip_address)
    with transaction.atomic():
        attempts = list(AccessAttempt.objects.select_for_update().filter(matching).order_by("pk"))
        failures: int = sum(attempt.failures_since_start for attempt in attempts)  # axes is untyped
        AccessAttempt.objects.filter(pk__in=[attempt.pk for attempt in attempts]).delete()
        account = User.objects.filter(username=username).first() if username else None
        ledger.record(
            actor=actor,
            verb=AccountEvent.LOCKOUT_CLEARED,
            obj=account,
            object_type="" if account else "axes.accessattempt",
            before={"username": username, "ip_address": ip_address, "failures": failures},
            after={"attempts_cleared": len(attempts)},
            reason=reason,
        )
    return failures
