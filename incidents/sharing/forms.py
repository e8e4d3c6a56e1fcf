"""The share form: it parses input only; every rule is incidents.sharing.services."""

from __future__ import annotations

from django import forms

from config.forms import OneShotForm
from incidents.models import Tlp
from incidents.sharing.fields import share_fields
from incidents.sharing.selectors import recipients_active
from incidents.sharing.services import PURPOSE_MAX


class ShareForm(OneShotForm):
    """`include` is the service's `fields` (a form field cannot be called `fields`)."""

    field_for_error = staticmethod(lambda name: "include" if name == "fields" else name)

    recipient = forms.ModelChoiceField(
        label="Recipient", queryset=recipients_active(), empty_label="Choose…",
        help_text="From the register of recipients, kept by admins.",
        error_messages={"required": "Choose who receives it.", "invalid_choice": "Choose an active recipient."},
    )  # fmt: skip
    tlp = forms.ChoiceField(
        label="Traffic light (TLP 2.0)", choices=[("", "Choose…"), *Tlp.choices],
        error_messages={"required": "Choose a TLP level."},
    )  # fmt: skip
    include = forms.MultipleChoiceField(
        label="Fields to include",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The package carries the incident's reference and exactly these; nothing else.",
    )
    purpose = forms.CharField(
        label="Purpose", max_length=PURPOSE_MAX, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why it is shared, and why with them. Kept in the record.",
        error_messages={"required": "Say why this is shared."},
    )  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["recipient"].queryset = recipients_active()
        self.fields["include"].choices = [(f.key, f"{f.label} — {f.help}") for f in share_fields()]

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {"recipient_id": data["recipient"].pk, "tlp": data["tlp"], "fields": data["include"],
                "purpose": data["purpose"]}  # fmt: skip
