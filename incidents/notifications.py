"""Telling people: email through Django's mail backend, sent only after the change commits."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from accounts.models import User
from accounts.roles import Role

log = logging.getLogger(__name__)


def members_of(role: Role) -> list[User]:
    return list(User.objects.filter(groups__name=role, is_active=True).order_by("username"))


def notify(*, users: Iterable[User], subject: str, body: str) -> list[str]:
    """Queue one email per user for after commit; returns the usernames notified."""
    recipients = [(u.username, u.email) for u in users]
    if not recipients:
        return []

    def send() -> None:
        for username, email in recipients:
            if not email:
                log.warning("notification for %s not sent: no email address", username)
                continue
            try:
                send_mail(f"[Failsafe] {subject}", body, settings.DEFAULT_FROM_EMAIL, [email])
            except Exception:  # a mail outage must not undo or hide the change itself
                log.exception("notification to %s failed", username)

    transaction.on_commit(send)
    return [username for username, _ in recipients]


def incident_url(ref: str) -> str:
    return f"{settings.FAILSAFE_BASE_URL.rstrip('/')}/incidents/{ref}/"
