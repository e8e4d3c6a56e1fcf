"""The audit event filters: one FilterSet for the history page, the audit API's event list and
both exports, so a query means the same wherever it is sent.

A value that does not parse is a field error: the API answers 400 naming the parameter; the
page answers 400 showing the message beside the field and lists events with the filters that
did parse. Text fields refuse NUL bytes (Django's CharField does), which PostgreSQL would
otherwise turn into a server error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from accounts import ledger
from accounts.models import LedgerEvent
from config.converters import REF_REGEX
from config.forms import UTCDateTimeField


class AuditEventFilterForm(forms.Form):
    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            self.add_error("until", "Must be after the start (since).")
        return data


class RefFilter(django_filters.CharFilter):
    field_class = forms.RegexField


class UTCDateTimeFilter(django_filters.DateTimeFilter):
    field_class = UTCDateTimeField


def _time_widget() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"})


class _Conditions:
    """Stands in for a queryset to collect what the filters would apply as one Q (the exports
    test every event of the chain against it, to verify the whole chain and write the matches)."""

    def __init__(self) -> None:
        self.q = Q()

    def filter(self, *args: Any, **kwargs: Any) -> _Conditions:
        self.q &= Q(*args, **kwargs)
        return self

    def exclude(self, *args: Any, **kwargs: Any) -> _Conditions:
        self.q &= ~Q(*args, **kwargs)
        return self

    def distinct(self) -> _Conditions:
        return self


class AuditEventFilter(django_filters.FilterSet):
    incident = RefFilter(
        field_name="incident_ref", regex=rf"^{REF_REGEX}\Z", max_length=20, label="Incident",
        help_text="e.g. INC-2026-0001",
    )  # fmt: skip
    actor = django_filters.CharFilter(
        field_name="actor_name", max_length=150, label="Actor", help_text="username or task name"
    )
    verb = django_filters.CharFilter(
        method="filter_verb", max_length=64, label="Verb", help_text='exact, or a prefix ending in "." (incident.)',
        widget=forms.TextInput(attrs={"list": "known-verbs"}),
    )  # fmt: skip
    object_type = django_filters.CharFilter(max_length=64, label="Object type", help_text="incidents.incident")
    object_id = django_filters.CharFilter(max_length=64, label="Object id")
    # Times without a zone are read as UTC (TIME_ZONE), the zone the pages show.
    since = UTCDateTimeFilter(
        field_name="at", lookup_expr="gte", label="From", help_text="UTC; events at or after (ISO 8601)",
        widget=_time_widget(),
    )  # fmt: skip
    until = UTCDateTimeFilter(
        field_name="at", lookup_expr="lt", label="Before", help_text="UTC; events before (ISO 8601)",
        widget=_time_widget(),
    )  # fmt: skip

    class Meta:
        model = LedgerEvent
        fields: list[str] = []
        form = AuditEventFilterForm

    def __init__(self, data=None, *args: Any, **kwargs: Any) -> None:
        # An empty query string is no filtering, not a form to validate.
        super().__init__(data or None, *args, **kwargs)

    def filter_verb(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(verb__startswith=value) if value.endswith(".") else queryset.filter(verb=value)

    def applied(self) -> dict[str, Any]:
        """The filters that parsed, by name (a bad one is left out and reported in `errors`)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return {name: value for name, value in self.form.cleaned_data.items() if value not in (None, "")}

    def q(self) -> Q:
        """The filters that parsed, as one condition."""
        conditions = _Conditions()
        for name, value in self.applied().items():
            self.filters[name].filter(conditions, value)
        return conditions.q

    def as_dict(self) -> dict[str, str]:
        """For the exports' header: each applied filter, times in the ledger's canonical form."""
        return {
            name: ledger.format_time(value) if isinstance(value, datetime) else value
            for name, value in self.applied().items()
        }

    @property
    def filtering(self) -> bool:
        return bool(self.applied())

    def error_dict(self) -> dict[str, list[str]]:
        """`errors` as plain lists of messages, by parameter (the API's `errors`)."""
        return {name: [str(message) for message in messages] for name, messages in self.errors.items()}
