"""Telling people: email through Django's mail backend, sent only after the change commits.

Every outgoing message goes through notify(), which addresses it by the same visibility the pages
use (DESIGN §7): about a restricted incident, only people who may see it get the details; anyone
else learns at most that a restricted incident (by its ref) needs their role.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from enum import StrEnum

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from accounts.models import User
from accounts.roles import Role
from incidents.drills import subject_for
from incidents.models import Incident
from incidents.selectors import viewers_among

log = logging.getLogger(__name__)

# Appended to the username of someone who got the generic message (usernames hold no spaces).
REDACTED = " (redacted)"


class Need(StrEnum):
    """What a restricted incident needs, as told to those who may not see it: fixed words, no details."""

    RESPONDER = "a responder"
    INCIDENT_COMMANDER = "an incident commander"
    LEADERSHIP = "leadership"
    APPROVAL = "an approval"
    ATTENTION = "attention"

    @classmethod
    def of(cls, role: Role) -> Need:
        return cls.__members__.get(role.name, cls.ATTENTION)


def members_of(role: Role) -> list[User]:
    return list(User.objects.filter(groups__name=role, is_active=True).order_by("username"))


def notify(
    *,
    incident: Incident | None,
    users: Iterable[User],
    subject: str,
    body: str,
    needs: Need = Need.ATTENTION,
) -> list[str]:
    """Queue one email per user for after commit; returns the usernames notified.

    `incident` is what the message is about (None only for a message about no incident). Those
    who may not see it get a generic message naming only its ref and what it `needs` (fixed
    words, so no detail can leak through them); their usernames come back with REDACTED
    appended, so the ledger says who got the full message and who the generic one. About a drill,
    every subject starts with "[DRILL]" (incidents.drills), whoever wrote it.
    """
    people = list({user.pk: user for user in users}.values())
    if not people:
        return []
    full = (subject_for(incident, subject), body)
    if incident is None:
        outgoing = [(user.username, user.email, *full) for user in people]
    else:
        viewers = viewers_among(incident=incident, users=people)
        generic = _generic(incident, needs)
        outgoing = [
            (user.username, user.email, *full)
            if user.pk in viewers
            else (user.username + REDACTED, user.email, *generic)
            for user in people
        ]

    def send() -> None:
        for username, email, message_subject, message_body in outgoing:
            if not email:
                log.warning("notification for %s not sent: no email address", username)
                continue
            try:
                send_mail(f"[Failsafe] {message_subject}", message_body, settings.DEFAULT_FROM_EMAIL, [email])
            except Exception:  # a mail outage must not undo or hide the change itself
                log.exception("notification to %s failed", username)

    transaction.on_commit(send)
    return [username for username, *_ in outgoing]


def _generic(incident: Incident, needs: Need) -> tuple[str, str]:
    """What someone who may not see the incident is told: its ref and what it needs, nothing else."""
    # A drill says so even to those who may not see it: being paged for a rehearsal is not an emergency.
    return (
        subject_for(incident, f"A restricted incident needs {needs}"),
        f"The restricted incident {incident.ref} needs {needs}. You have no access to its details; "
        f"ask leadership for access.\n\n{incident_url(incident.ref)}",
    )


def incident_url(ref: str) -> str:
    return f"{settings.FAILSAFE_BASE_URL.rstrip('/')}/incidents/{ref}/"
