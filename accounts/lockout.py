"""The sign-in lockout (django-axes) as Failsafe uses it: one rule for passwords and second factors.

Too many failures for a username, or from a client address (accounts.client), lock the sign-in
page, the API token endpoint and the second factor (tier-4 approval, authenticator settings)
until the cool-off has passed or an admin clears it (accounts.services.lockout_clear).

Password failures reach axes through its authentication backend and Django's login-failed
signal. A second factor is checked inside a service, which has an Actor but no request, so its
failures are sent through the same signal with a request standing for the actor's address.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_parameters, get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.actor import Actor
from accounts.client import client_ip
from config.errors import DomainError

# Second-factor failures are kept apart from password failures (axes keys attempts by user agent
# too), so signing in again with the password never forgives wrong authenticator codes.
SECOND_FACTOR_AGENT = "(second factor)"


def locked_until(request: HttpRequest, credentials: dict | None = None) -> datetime:
    """When the lockout on this request's username or address ends (the latest, if both are locked).

    Axes counts the failures of the attempts whose last failure is within the cool-off; the lock
    lifts when the attempt that brought the count to the limit ages out of that window.
    """
    AxesProxyHandler.update_request(request)
    now = timezone.now()
    cool_off = get_cool_off(request)
    limit = get_failure_limit(request, credentials)
    username = get_client_username(request, credentials)
    ends = []
    for filters in get_client_parameters(
        username, request.axes_ip_address, request.axes_user_agent, request, credentials
    ):
        recent = (
            AccessAttempt.objects.filter(**filters, attempt_time__gte=now - cool_off)
            .order_by("-attempt_time")
            .values_list("attempt_time", "failures_since_start")
        )
        counted = 0
        for attempt_time, failures in recent:
            counted += failures
            if counted >= limit:
                ends.append(attempt_time + cool_off)
                break
    return max(ends, default=now + cool_off)


def _seconds_until(until: datetime) -> int:
    return max(1, math.ceil((until - timezone.now()).total_seconds()))


def lockout_message(until: datetime) -> str:
    minutes = math.ceil(_seconds_until(until) / 60)
    return (
        f"Too many failed sign-in attempts for this account or from this address. "
        f"Try again after {until:%H:%M} UTC (in {minutes} minute{'s' if minutes != 1 else ''}), "
        f"or ask an administrator to unlock it."
    )


def lockout_response(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    """What a locked-out sign-in gets (AXES_LOCKOUT_CALLABLE): 429, the time to come back, Retry-After."""
    until = locked_until(request, credentials)
    if request.path_info.startswith("/api/"):
        response = JsonResponse({"detail": lockout_message(until), "code": "locked_out"}, status=429)
    else:
        context = {"until": until, "message": lockout_message(until)}
        response = render(request, "accounts/locked_out.html", context, status=429)
    response["Retry-After"] = str(_seconds_until(until))
    return response


def _stand_in_request(actor: Actor) -> HttpRequest:
    """A request carrying only what axes keys attempts on: the actor's address, already resolved."""
    request = HttpRequest()
    request.method = "POST"
    request.path = request.path_info = "/second-factor"
    request.META = {"REMOTE_ADDR": actor.client_ip, "HTTP_USER_AGENT": SECOND_FACTOR_AGENT}
    return request


def second_factor_verify(*, actor: Actor, devices: Iterable[TOTPDevice], code: str, field: str) -> TOTPDevice | None:
    """The device `code` belongs to, or None; a wrong code counts towards the actor's lockout.

    Refused (DomainError on `field`) while the actor's username or address is locked out.
    Call it outside any transaction, so a failure is kept when the caller's refusal rolls back.
    """
    second_factor_allowed(actor=actor, field=field)
    code = (code or "").strip()
    if code.isdigit():
        for device in devices:
            if device.verify_token(code):
                return device
    second_factor_failed(actor=actor)
    return None


def second_factor_allowed(*, actor: Actor, field: str) -> None:
    """Refuse (DomainError on `field`) while the actor's username or address is locked out."""
    request = _stand_in_request(actor)
    credentials = {"username": actor.user.get_username()}
    if not AxesProxyHandler.is_allowed(request, credentials):
        raise DomainError.invalid_field(field, lockout_message(locked_until(request, credentials)))


def second_factor_failed(*, actor: Actor) -> None:
    """Count a wrong second factor (a code or a passkey answer) towards the actor's lockout."""
    credentials = {"username": actor.user.get_username()}
    user_login_failed.send(sender=__name__, credentials=credentials, request=_stand_in_request(actor))


def password_failures_forgive(*, request: HttpRequest, username: str) -> int:
    """After a successful password check: forget this username's password failures from this address.

    Only those: forgiving the whole address would let someone with one valid account reset the
    count of their guesses at other people's passwords by signing in between them.
    """
    address = client_ip(request)
    if not address:
        return 0
    attempts = AccessAttempt.objects.filter(username=username, ip_address=address)
    return attempts.exclude(user_agent=SECOND_FACTOR_AGENT).delete()[0]


@receiver(user_logged_in, dispatch_uid="accounts.lockout.forgive_on_sign_in")
def _forgive_on_sign_in(sender, request, user, **kwargs):
    if request is not None:
        password_failures_forgive(request=request, username=user.get_username())
