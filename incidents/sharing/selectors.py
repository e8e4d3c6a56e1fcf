"""Reads of shares and the register, through the incident's visibility (incidents.selectors)."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from accounts.roles import Role
from incidents.models import Incident, Share, SharingRecipient
from incidents.selectors import visible_through_q

# Sharing sends an incident outside: commanders and leadership decide it.
SHARER_ROLES = (Role.INCIDENT_COMMANDER, Role.LEADERSHIP)


def may_share(user: User) -> bool:
    return user.has_role(*SHARER_ROLES)


def recipients_active() -> QuerySet[SharingRecipient]:
    return SharingRecipient.objects.filter(active=True).order_by("name")


def shares_for(*, incident: Incident) -> QuerySet[Share]:
    """An incident's shares, newest first (the caller has found the incident visible). The package
    texts stay in the table: the list does not show them."""
    return (
        Share.objects.filter(incident=incident)
        .select_related("recipient", "shared_by", "incident")
        .defer("package", "stix")
        .order_by("-shared_at", "-id")
    )


def share_get_for(*, user: User, ref: str, pk: int) -> Share | None:
    return (
        Share.objects.filter(visible_through_q(user, path="incident"), incident__ref=ref, pk=pk)
        .select_related("recipient", "shared_by", "incident")
        .first()
    )
