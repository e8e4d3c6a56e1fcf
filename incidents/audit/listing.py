"""Which ledger events, filtered how: the event list of the audit page and API, and the exports."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from accounts.models import User
from incidents import ledger
from incidents.audit.access import visible_events_q
from incidents.models import LedgerEvent


@dataclass(frozen=True)
class EventFilters:
    incident: str = ""
    actor: str = ""
    verb: str = ""  # exact, or a prefix ending in "." ("correction.")
    object_type: str = ""
    object_id: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def q(self) -> Q:
        q = Q()
        if self.incident:
            q &= Q(incident_ref=self.incident)
        if self.actor:
            q &= Q(actor_name=self.actor)
        if self.verb:
            q &= Q(verb__startswith=self.verb) if self.verb.endswith(".") else Q(verb=self.verb)
        if self.object_type:
            q &= Q(object_type=self.object_type)
        if self.object_id:
            q &= Q(object_id=self.object_id)
        if self.since:
            q &= Q(at__gte=self.since)
        if self.until:
            q &= Q(at__lt=self.until)
        return q

    def as_dict(self) -> dict[str, str]:
        return {
            name: ledger.format_time(value) if isinstance(value, datetime) else value
            for name, value in asdict(self).items()
            if value
        }

    def __bool__(self) -> bool:
        return bool(self.as_dict())


def events_for(*, user: User, filters: EventFilters | None = None) -> QuerySet[LedgerEvent]:
    """The ledger as `user` may read it, oldest first."""
    filters = filters or EventFilters()
    return LedgerEvent.objects.filter(visible_events_q(user), filters.q()).order_by("seq")


def known_verbs() -> list[str]:
    return list(LedgerEvent.objects.order_by("verb").values_list("verb", flat=True).distinct())
