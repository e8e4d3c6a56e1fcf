"""The playbook forms of the pages: a new playbook or a new version, and leadership's approval of a
version's pre-authorisation. Fields are typed here only (lists as checkboxes, the checklist one step a
line, criteria and recommendations as JSON); corrections.playbooks.content checks the rest, as for the
API, and its field-level messages are shown next to these fields (`bind_playbook_error`)."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from config.errors import DomainError
from config.forms import OneShotForm, bind_domain_error
from corrections.catalogue import TYPES
from corrections.models import PlaybookVersion
from corrections.playbooks.content import MAX_CRITERIA, MAX_RECOMMENDATIONS, MAX_STEPS
from incidents.models import Category, RiskDomain, Severity

JSON_MAX = 20000

CRITERIA_HELP = (
    'A JSON list, e.g. [{"text": "SEV1 if uplift is confirmed in CBRN", "risk_domain": "cbrn", '
    '"signal": "uplift_confirmed", "severity": "SEV1"}]. Empty: none.'
)
RECOMMENDATIONS_HELP = (
    'A JSON list, e.g. [{"type": "disable_capability", "params": {"capability": "tool_use"}, '
    '"duration_minutes": 4320, "note": "Cut the tool path."}]; each is checked by the catalogue. Empty: none.'
)


def _json_list(value: str, field: str, limit: int) -> list[Any]:
    value = (value or "").strip()
    if not value:
        return []
    try:
        parsed = json.loads(value)
    except ValueError as error:
        raise forms.ValidationError(
            f"Not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})."
        ) from None
    if not isinstance(parsed, list):
        raise forms.ValidationError("Give a JSON list ([...]).")
    if len(parsed) > limit:
        raise forms.ValidationError(f"At most {limit} {field}.")
    return parsed


class PlaybookForm(OneShotForm):
    """What one version says. `with_slug` for a new playbook (its version 1)."""

    slug = forms.SlugField(max_length=64, help_text="A short name: letters, digits, - and _.")
    title = forms.CharField(max_length=200)
    active = forms.BooleanField(required=False, initial=True, help_text="Inactive: kept, but matches no incident.")
    categories = forms.MultipleChoiceField(
        choices=Category.choices, required=False, widget=forms.CheckboxSelectMultiple, help_text="None ticked: any."
    )
    risk_domains = forms.MultipleChoiceField(
        choices=RiskDomain.choices, required=False, widget=forms.CheckboxSelectMultiple, help_text="None ticked: any."
    )
    min_severity = forms.ChoiceField(
        choices=Severity.choices, initial=Severity.SEV4, label="Minimum severity", help_text="Matches this and worse."
    )
    priority = forms.IntegerField(initial=100, help_text="0 to 1000; higher wins when several playbooks match.")
    steps = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=JSON_MAX,
        label="Checklist",
        help_text="One step a line; copied onto every matching incident.",
    )
    escalation_criteria = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}),
        max_length=JSON_MAX,
        required=False,
        help_text=CRITERIA_HELP,
    )
    recommendations = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "class": "mono"}),
        max_length=JSON_MAX,
        required=False,
        label="Recommended corrections",
        help_text=RECOMMENDATIONS_HELP,
    )
    preauthorised_type = forms.ChoiceField(
        choices=[("", "None"), *((key, ctype.label) for key, ctype in TYPES.items())],
        required=False,
        label="Pre-authorise",
        help_text="One recommended correction that runs at tier 1 on matching incidents once leadership approves "
        "this version (never tier 4, never destroy_weights).",
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), max_length=JSON_MAX, required=False, help_text="Why this version."
    )

    def __init__(self, *args, with_slug: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not with_slug:
            del self.fields["slug"]

    def clean_steps(self) -> list[str]:
        steps = [line.strip() for line in self.cleaned_data["steps"].splitlines() if line.strip()]
        if len(steps) > MAX_STEPS:
            raise forms.ValidationError(f"At most {MAX_STEPS} steps.")
        return steps

    def clean_escalation_criteria(self) -> list[Any]:
        return _json_list(self.cleaned_data["escalation_criteria"], "criteria", MAX_CRITERIA)

    def clean_recommendations(self) -> list[Any]:
        return _json_list(self.cleaned_data["recommendations"], "recommendations", MAX_RECOMMENDATIONS)

    def content(self) -> dict[str, Any]:
        """What the playbook services take (the API's body, less the slug)."""
        return {name: value for name, value in self.cleaned_data.items() if name != "slug"}

    @classmethod
    def initial_from(cls, version: PlaybookVersion) -> dict[str, Any]:
        """A new version starts as the current one says (the note is this version's own)."""
        return {
            "title": version.playbook.title, "active": version.active, "categories": version.categories,
            "risk_domains": version.risk_domains, "min_severity": version.min_severity, "priority": version.priority,
            "steps": "\n".join(version.steps),
            "escalation_criteria": json.dumps(version.escalation_criteria, indent=2, ensure_ascii=False)
            if version.escalation_criteria else "",
            "recommendations": json.dumps(version.recommendations, indent=2, ensure_ascii=False)
            if version.recommendations else "",
            "preauthorised_type": version.preauthorised_type,
        }  # fmt: skip


def _where(path: str) -> str:
    """ "0.params.capability" → "item 1, params.capability" (the part of a JSON list a message is about)."""
    head, _, rest = path.partition(".")
    if head.isdigit():
        return f"item {int(head) + 1}" + (f", {rest}" if rest else "")
    return path


def bind_playbook_error(form: forms.Form, error: DomainError) -> None:
    """The content checker names fields like "recommendations.0.params.capability" or "steps.2": the
    message goes next to the form's field (recommendations, steps), saying which item it is about."""
    fields: dict[str, list[str]] = {}
    for key, messages in error.fields.items():
        base, _, rest = key.partition(".")
        name = base if base in form.fields else key
        fields.setdefault(name, []).extend(f"{_where(rest)}: {m}" if rest else m for m in messages)
    bind_domain_error(form, DomainError(error.message, code=error.code, fields=fields))


class PreauthApproveForm(forms.Form):
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=JSON_MAX,
        required=False,
        help_text="Optional: kept with the approval in the ledger.",
    )
    confirm = forms.BooleanField(
        label="I have read what this version pre-authorises and approve it for every matching incident.",
        error_messages={"required": "Tick to confirm: this lowers the sign-off of real corrections."},
    )
