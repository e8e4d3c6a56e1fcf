"""Forms of the auditor pages: the history filters (GET) and the restricted-incident grant."""

from __future__ import annotations

import re

from django import forms

from accounts.models import User
from incidents import audit

_REF = re.compile(r"^[A-Za-z0-9-]{1,20}$")


class EventFilterForm(forms.Form):
    incident = forms.RegexField(_REF, required=False, max_length=20, label="Incident", help_text="e.g. INC-2026-0001")
    actor = forms.CharField(required=False, max_length=150, label="Actor", help_text="username or task name")
    verb = forms.CharField(
        required=False, max_length=64, label="Verb", help_text='exact, or a prefix ending in "." (incident.)'
    )
    object_type = forms.CharField(required=False, max_length=64, label="Object type", help_text="incidents.incident")
    object_id = forms.CharField(required=False, max_length=64, label="Object id")
    since = forms.DateTimeField(
        required=False, label="From", help_text="UTC", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = forms.DateTimeField(
        required=False, label="Before", help_text="UTC", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["verb"].widget.attrs["list"] = "known-verbs"

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            self.add_error("until", "Must be after the start.")
        return data

    def to_filters(self) -> audit.EventFilters:
        """The filters that parsed (an unparsable one is ignored and shown as an error)."""
        if not self.is_bound:
            return audit.EventFilters()
        self.is_valid()
        # Times without a zone are read as UTC (TIME_ZONE), the zone the pages show.
        values = {name: value for name, value in getattr(self, "cleaned_data", {}).items() if value}
        if "until" in self.errors:
            values.pop("until", None)
        return audit.EventFilters(**values)


class IncidentSearchForm(forms.Form):
    """The audit incident list's search box. A CharField refuses a NUL byte, which PostgreSQL
    would otherwise turn into a server error; the page then answers 400 with the message."""

    q = forms.CharField(required=False, max_length=200, label="Ref or title")

    def query(self) -> str:
        return self.cleaned_data["q"] if self.is_bound and self.is_valid() else ""


class GrantAccessForm(forms.Form):
    user = forms.ModelChoiceField(queryset=User.objects.none(), label="Person", empty_label="Choose someone")
    reason = forms.CharField(
        max_length=2000, widget=forms.Textarea(attrs={"rows": 3}), help_text="Recorded in the ledger with the grant."
    )

    def __init__(self, *args, candidates, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = candidates
        self.fields["user"].label_from_instance = lambda user: f"{user.display_name} ({user.username})"


class RevokeAccessForm(forms.Form):
    user = forms.ModelChoiceField(queryset=User.objects.none(), widget=forms.HiddenInput)
    reason = forms.CharField(max_length=2000, label="Reason for revoking")

    def __init__(self, *args, granted, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = granted
