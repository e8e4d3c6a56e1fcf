"""The metrics filters, one parser for the page, the CSV export and the API."""

from __future__ import annotations

import datetime as dt

from django import forms

from incidents.metrics.selectors import MAX_MONTHS, MetricFilters
from incidents.models import Category, Severity

EARLIEST = dt.date(1970, 1, 1)
LATEST = dt.date(9998, 12, 31)  # the end of the range is the next day's midnight: keep it a date


class MetricsFilterForm(forms.Form):
    since = forms.DateField(
        required=False, label="From", help_text="UTC; default: the first day of the month 11 months ago",
        widget=forms.DateInput(attrs={"type": "date"}),
    )  # fmt: skip
    until = forms.DateField(
        required=False, label="To", help_text="UTC, inclusive; default: today",
        widget=forms.DateInput(attrs={"type": "date"}),
    )  # fmt: skip
    severity = forms.ChoiceField(choices=[("", "Every severity"), *Severity.choices], required=False)
    category = forms.ChoiceField(choices=[("", "Every category"), *Category.choices], required=False)

    def clean(self):
        data = super().clean()
        for name in ("since", "until"):
            value = data.get(name)
            if value is not None and not EARLIEST <= value <= LATEST:
                self.add_error(name, f"Must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}.")
        if self.errors:
            return data
        since, until = data.get("since"), data.get("until")
        if since is None or until is None:
            default = MetricFilters.default(today=until)
            since, until = since or default.since, until or default.until
        if since > until:
            self.add_error("until", "Must not be before the start.")
        elif (until.year - since.year) * 12 + until.month - since.month >= MAX_MONTHS:
            self.add_error("until", f"At most {MAX_MONTHS} months at a time.")
        data["since"], data["until"] = since, until
        return data

    def to_filters(self) -> MetricFilters | None:
        """The filters, or None when they do not parse (the errors are on the form)."""
        if not self.is_bound:
            return MetricFilters.default()
        if not self.is_valid():
            return None
        data = self.cleaned_data
        return MetricFilters(
            since=data["since"], until=data["until"], severity=data["severity"], category=data["category"]
        )
