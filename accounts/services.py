"""Writes to a person's own account: enrolling a TOTP authenticator (the second factor of tier 4).

Each change is one transaction with its ledger event. The secret never enters the ledger. A code
is checked before the transaction opens, so a wrong code's throttling (django-otp counts failures
on the device row) is not rolled back with the refusal.
"""

from __future__ import annotations

import math

from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.actor import Actor
from accounts.models import ApiToken, User
from config.errors import DomainError
from incidents import ledger

DEVICE_NAME = "Authenticator app"


def _user(actor: Actor) -> User:
    if actor.user is None:
        raise DomainError("This action needs a person.", code="forbidden")
    return actor.user


def _check_code(devices: list[TOTPDevice], code: str) -> TOTPDevice:
    """The device the current code belongs to, or a refusal naming the code field."""
    code = (code or "").replace(" ", "").strip()
    if not code:
        raise DomainError.invalid_field("code", "Enter the 6-digit code your authenticator app shows now.")
    for device in devices:
        allowed, detail = device.verify_is_allowed()
        if not allowed:
            wait = max(1, math.ceil((detail["locked_until"] - timezone.now()).total_seconds()))
            raise DomainError.invalid_field("code", f"Too many wrong codes. Wait {wait} s, then try again.")
    if code.isdigit():
        for device in devices:
            if device.verify_token(code):
                return device
    raise DomainError.invalid_field("code", "That code is not right. Enter the one your app shows now.")


def _confirmed(user: User) -> list[TOTPDevice]:
    return list(TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id"))


def _record(actor: Actor, verb: str, device: TOTPDevice, *, after: dict) -> None:
    ledger.record(actor=actor, verb=verb, obj=device, after={"user": device.user.username, **after})


def otp_device_start(*, actor: Actor, code: str = "") -> TOTPDevice:
    """Create an unconfirmed device (a fresh secret). Replacing a confirmed one needs its current code."""
    user = _user(actor)
    existing = _confirmed(user)
    if existing:
        _check_code(existing, code)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # one enrolment change at a time
        discarded = TOTPDevice.objects.filter(user=user, confirmed=False).delete()[0]
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
        after = {"device": device.pk, "replacing": bool(existing), "unconfirmed_discarded": discarded}
        _record(actor, "otp.device_started", device, after=after)
    return device


def otp_device_confirm(*, actor: Actor, code: str) -> TOTPDevice:
    """Confirm the device being set up with a current code; it then replaces any earlier device."""
    user = _user(actor)
    pending = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if pending is None:
        raise DomainError("There is no authenticator being set up. Start again.", code="conflict")
    _check_code([pending], code)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        device = TOTPDevice.objects.filter(pk=pending.pk, confirmed=False).first()
        if device is None:
            raise DomainError("This set-up was replaced or finished elsewhere. Start again.", code="conflict")
        replaced = TOTPDevice.objects.filter(user=user, confirmed=True).delete()[0]
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        _record(actor, "otp.device_confirmed", device, after={"device": device.pk, "replaced": replaced})
    return device


def otp_device_remove(*, actor: Actor, code: str = "") -> int:
    """Remove the user's authenticator (a current code is needed), or abandon a set-up not yet confirmed."""
    user = _user(actor)
    existing = _confirmed(user)
    if existing:
        device = _check_code(existing, code)
    else:
        device = TOTPDevice.objects.filter(user=user).order_by("-id").first()
        if device is None:
            raise DomainError("You have no authenticator to remove.", code="conflict")
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        removed = TOTPDevice.objects.filter(user=user).delete()[0]
        after = {"device": device.pk, "was_confirmed": bool(existing), "removed": removed}
        _record(actor, "otp.device_removed", device, after=after)
    return removed


@transaction.atomic
def api_token_issue(*, actor: Actor) -> str:
    """Create an API token for the acting user and return its key, shown once; only its hash is kept."""
    user = _user(actor)
    key = ApiToken.new_key()
    token = ApiToken.objects.create(user=user, prefix=key[: ApiToken.PREFIX_LENGTH], key_hash=ApiToken.hash_key(key))
    ledger.record(actor=actor, verb="accounts.api_token_issued", obj=token, after={"prefix": token.prefix})
    return key
