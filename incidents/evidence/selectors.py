"""Reads of evidence, always through the incident's visibility (incidents.selectors)."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from incidents.models import Evidence, Incident
from incidents.selectors import may_add_evidence, visible_through_q  # noqa: F401 - may_add_evidence: one door


def evidence_for(*, incident: Incident) -> QuerySet[Evidence]:
    """An incident's evidence, newest first (the caller has already found the incident visible)."""
    return Evidence.objects.filter(incident=incident).select_related("uploaded_by").order_by("-uploaded_at", "-id")


def evidence_get_for(*, user: User, ref: str, pk: int) -> Evidence | None:
    """One evidence file of an incident the user may see; None otherwise (unknown and hidden alike)."""
    return (
        Evidence.objects.filter(visible_through_q(user, path="incident"), incident__ref=ref, pk=pk)
        .select_related("incident", "uploaded_by")
        .first()
    )
