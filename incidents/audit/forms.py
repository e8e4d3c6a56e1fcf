"""Forms of the auditor pages: the incident search and the restricted-incident grant (the history's
filters are incidents.audit.filters.AuditEventFilter)."""

from __future__ import annotations

from django import forms

from accounts.models import User


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
