"""Which ledger events, filtered how (incidents.audit.filters): the audit page, the API and the exports."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.models import LedgerEvent, User
from incidents.audit.access import visible_events_q
from incidents.audit.filters import AuditEventFilter


def events_for(*, user: User, filters: AuditEventFilter | None = None) -> QuerySet[LedgerEvent]:
    """The ledger as `user` may read it, oldest first, with the filters that parsed."""
    condition = filters.q() if filters is not None else Q()
    return LedgerEvent.objects.filter(visible_events_q(user), condition).order_by("seq")


def known_verbs() -> list[str]:
    return list(LedgerEvent.objects.order_by("verb").values_list("verb", flat=True).distinct())
