"""Page forms for regulator reports. The draft form is built from the regime's template; forms
parse and type-check only, every rule lives in incidents.reports.services, whose refusals come
back beside the field (bind_domain_error)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.utils import timezone

from config.forms import OneShotForm, UTCDateTimeField
from incidents.models.reports import Regime, ReportChannel, ReportKind, ReportVersion
from incidents.reports.regimes import Field, template_for

STALE_MESSAGE = "This page is out of date: reload it and read the report again."
TIME_FORMAT = "%Y-%m-%dT%H:%M"


class _HashMixin:
    def clean(self):
        data = super().clean()  # type: ignore[misc]
        if "content_hash" in self.errors:  # type: ignore[attr-defined]
            self.add_error(None, STALE_MESSAGE)  # type: ignore[attr-defined]
        return data

    def field_for_error(self, name: str) -> str:
        return "" if name == "content_hash" else name


class ReportStartForm(OneShotForm):
    regime = forms.ChoiceField(choices=Regime.choices)
    kind = forms.ChoiceField(choices=[("", "Initial (first version)"), *ReportKind.choices], required=False)
    reason = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why this version follows the last one (needed for an amendment).",
    )  # fmt: skip


def _form_field(f: Field) -> forms.Field:
    common: dict[str, Any] = {"label": f.label, "required": False, "help_text": f.help}
    if f.type == "text":
        return forms.CharField(max_length=f.max_length, **common)
    if f.type == "long":
        return forms.CharField(max_length=f.max_length, widget=forms.Textarea(attrs={"rows": 3}), **common)
    if f.type == "datetime":
        widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=TIME_FORMAT)
        return UTCDateTimeField(widget=widget, **common)
    if f.type == "choice":
        return forms.ChoiceField(choices=[("", "—"), *f.choices], **common)
    if f.type == "bool":
        return forms.NullBooleanField(widget=forms.NullBooleanSelect, **common)
    if f.type == "list":
        common["help_text"] = f.help or "One per line."
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), **common)
    raise ValueError(f.type)


def _initial(f: Field, value: Any) -> Any:
    if f.type == "datetime" and isinstance(value, str):
        try:
            return timezone.localtime(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return value
    if f.type == "list" and isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return value


class ReportDraftForm(_HashMixin, forms.Form):
    content_hash = forms.RegexField(r"^[0-9a-f]{64}$", widget=forms.HiddenInput)
    kind = forms.ChoiceField(choices=ReportKind.choices)
    refresh_facts = forms.BooleanField(
        required=False, label="Bring the corrections and decisions up to date from the incident"
    )

    def __init__(self, *args, regime: str, version: ReportVersion, **kwargs):
        self.template = template_for(regime)
        self.editable = [f for f in self.template.fields if f.type != "records"]
        initial = {f.name: _initial(f, version.fields.get(f.name)) for f in self.editable}
        initial |= {"content_hash": version.content_hash, "kind": version.kind}
        super().__init__(*args, initial=initial, **kwargs)
        if version.number == 1:
            self.fields["kind"].choices = [(ReportKind.INITIAL, ReportKind.INITIAL.label)]
        else:
            self.fields["kind"].choices = [(k, k.label) for k in ReportKind if k != ReportKind.INITIAL]
        for f in self.editable:
            field = _form_field(f)
            if f.required or f.required_in:
                needed = "the report" if f.required else f"a {' or '.join(f.required_in)} report"
                field.help_text = " ".join(filter(None, [field.help_text, f"Needed to submit {needed}."]))
            self.fields[f.name] = field

    def template_fields(self):
        return [self[f.name] for f in self.editable]

    def report_fields(self) -> dict[str, Any]:
        """The cleaned values in the service's shapes (times as ISO text, lists as lists)."""
        data = {}
        for f in self.editable:
            value = self.cleaned_data.get(f.name)
            if f.type == "datetime":
                value = value.isoformat() if value else None
            elif f.type == "list":
                value = [line.strip() for line in (value or "").splitlines() if line.strip()]
            data[f.name] = value
        return data


class ReportSubmitForm(_HashMixin, OneShotForm):
    content_hash = forms.RegexField(r"^[0-9a-f]{64}$", widget=forms.HiddenInput)
    channel = forms.ChoiceField(choices=ReportChannel.choices, label="Sent through")
    channel_reference = forms.CharField(
        required=False, max_length=500, label="Reference",
        help_text="The regulator's reference, the address written to, or how it was sent (needed for other).",
    )  # fmt: skip
