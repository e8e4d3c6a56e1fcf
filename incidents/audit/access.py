"""Who may read the audit trail, which events they see, and who holds a restricted-incident grant.

Visibility: an event is shown when it concerns no incident (signals, configuration) or an
incident the user may see (incidents.selectors.incidents_visible_to), so a restricted incident's
events appear only to leadership and to people granted it. The filter is part of every query,
never applied after the fact.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.models import User
from accounts.roles import AUDIT_ROLES, Role
from incidents.models import Incident, IncidentUserObjectPermission
from incidents.selectors import VIEW_RESTRICTED, incidents_visible_to

__all__ = [
    "AUDIT_ROLES",
    "access_grants_for",
    "audited_incidents_for",
    "can_audit",
    "grant_candidates_for",
    "visible_events_q",
]


def can_audit(user: User | None) -> bool:
    # Bulk reading and export is for review and oversight roles; responders see an incident's
    # own timeline on its page.
    return bool(user is not None and user.is_authenticated and user.roles & AUDIT_ROLES)


def visible_events_q(user: User) -> Q:
    """Events this user may read: none without an audit role; otherwise those about no incident
    or about an incident the user may see."""
    if not can_audit(user):
        return Q(pk__in=[])
    return Q(incident_ref="") | Q(incident_ref__in=incidents_visible_to(user).values("ref"))


def audited_incidents_for(*, user: User) -> QuerySet[Incident]:
    """Incidents whose history the user may read (restricted ones only when granted)."""
    if not can_audit(user):
        return Incident.objects.none()
    return incidents_visible_to(user).select_related("commander").order_by("-reported_at", "-id")


def access_grants_for(incident: Incident) -> QuerySet[User]:
    """People holding an object grant to see this restricted incident."""
    granted = IncidentUserObjectPermission.objects.filter(content_object=incident, permission__codename=VIEW_RESTRICTED)
    return User.objects.filter(pk__in=granted.values("user_id")).order_by("username")


def grant_candidates_for(incident: Incident) -> QuerySet[User]:
    """Who could be granted: active people with a role, not yet granted, not leadership (who see all)."""
    return (
        User.objects.filter(is_active=True, groups__isnull=False)
        .exclude(groups__name=Role.LEADERSHIP)
        .exclude(pk__in=access_grants_for(incident).values("pk"))
        .distinct()
        .order_by("username")
    )
