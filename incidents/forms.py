"""Page forms. They parse and type-check input only; every rule lives in incidents.services.

A DomainError from a service is put back on the form with `bind_domain_error`, so the person
sees the message next to the field it is about.
"""

from __future__ import annotations

from django import forms
from django.db.models import Q

from accounts.models import User
from config.forms import OneShotForm, UTCDateTimeField
from incidents.models import (
    SEVERITY_RANK,
    Category,
    Deployment,
    Incident,
    RiskDomain,
    Severity,
    Source,
    Status,
    TimelineEntry,
)
from incidents.services import COMMANDER_ROLES

# What a datetime-local input sends and expects back.
LOCAL_INPUT_FORMAT = "%Y-%m-%dT%H:%M"
REASON_MAX = 2000


def _datetime_field(label: str, help_text: str = "") -> forms.DateTimeField:
    return UTCDateTimeField(
        label=label,
        required=False,
        help_text=help_text,
        input_formats=[LOCAL_INPUT_FORMAT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_INPUT_FORMAT),
    )


def _reason_field(help_text: str) -> forms.CharField:
    # The service enforces the reason too; asking here lets the browser say so before a round trip.
    return forms.CharField(
        label="Reason",
        max_length=REASON_MAX,
        help_text=help_text,
        error_messages={"required": "A reason is required for this change."},
        widget=forms.Textarea(attrs={"rows": 2}),
    )


def _to_minute(value):
    """What a datetime-local input shows, so an untouched field does not count as changed."""
    return value.replace(second=0, microsecond=0) if value else value


class _DetailPageForm(forms.Form):
    """One of several forms on the incident page: element ids carry the form's name so they stay unique."""

    id_prefix = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"{self.id_prefix}-%s")
        super().__init__(*args, **kwargs)


class IncidentForm(OneShotForm):
    """The new-incident form."""

    title = forms.CharField(max_length=Incident._meta.get_field("title").max_length)
    summary = forms.CharField(
        required=False,
        max_length=Incident._meta.get_field("summary").max_length,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="What happened, where, and what is known so far.",
    )
    severity = forms.ChoiceField(choices=Severity.choices, initial=Severity.SEV3, widget=forms.RadioSelect)
    category = forms.ChoiceField(choices=[("", "Choose…"), *Category.choices])
    risk_domain = forms.ChoiceField(choices=[("", "Choose…"), *RiskDomain.choices], label="Risk domain")
    source = forms.ChoiceField(choices=Source.choices, initial=Source.INTERNAL_MONITORING)
    deployments = forms.ModelMultipleChoiceField(
        queryset=Deployment.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Which deployments are affected, if known.",
    )
    occurred_at = _datetime_field("Occurred at (UTC)", "When it happened, if earlier than now.")
    detected_at = _datetime_field("Detected at (UTC)", "Leave empty for now.")
    restricted = forms.BooleanField(
        required=False,
        label="Restricted",
        help_text="The details are themselves hazardous: only people granted access (and leadership) will see it.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["deployments"].queryset = Deployment.objects.filter(active=True).order_by("slug")


class IncidentDetailsForm(_DetailPageForm):
    """Edit the descriptive fields (triage a promoted signal: set its category and risk domain)."""

    id_prefix = "details"

    title = forms.CharField(max_length=Incident._meta.get_field("title").max_length)
    summary = forms.CharField(
        required=False,
        max_length=Incident._meta.get_field("summary").max_length,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    category = forms.ChoiceField(choices=Category.choices)
    risk_domain = forms.ChoiceField(choices=RiskDomain.choices, label="Risk domain")
    source = forms.ChoiceField(choices=Source.choices)
    deployments = forms.ModelMultipleChoiceField(
        queryset=Deployment.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    occurred_at = _datetime_field("Occurred at (UTC)")
    detected_at = _datetime_field("Detected at (UTC)")
    reason = forms.CharField(
        required=False,
        max_length=REASON_MAX,
        label="Note for the record",
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, incident: Incident, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                **{name: getattr(incident, name) for name in ("title", "summary", "category", "risk_domain", "source")},
                "occurred_at": _to_minute(incident.occurred_at),
                "detected_at": _to_minute(incident.detected_at),
                "deployments": list(incident.deployments.all()),
            },
        )
        super().__init__(*args, **kwargs)
        # Active deployments, plus any inactive one already on the incident.
        current = [d.pk for d in incident.deployments.all()]
        self.fields["deployments"].queryset = Deployment.objects.filter(Q(active=True) | Q(pk__in=current)).order_by(
            "slug"
        )

    def changes(self) -> dict:
        """Only what the person changed, so the ledger records just that."""
        return {name: self.cleaned_data[name] for name in self.changed_data if name != "reason"}


class TimelineEntryForm(_DetailPageForm, OneShotForm):
    id_prefix = "entry"

    kind = forms.ChoiceField(
        choices=TimelineEntry.Kind.choices, initial=TimelineEntry.Kind.NOTE, widget=forms.RadioSelect, label="Type"
    )
    body = forms.CharField(
        max_length=TimelineEntry._meta.get_field("body").max_length,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Note, or what was decided",
    )
    options_considered = forms.CharField(
        required=False,
        max_length=TimelineEntry._meta.get_field("options_considered").max_length,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Options considered",
        help_text="For a decision: the alternatives weighed.",
    )
    rationale = forms.CharField(
        required=False,
        max_length=TimelineEntry._meta.get_field("rationale").max_length,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Rationale",
        help_text="Required for a decision: why this option.",
    )
    occurred_at = _datetime_field("Occurred at (UTC)", "Optional: backdate an observation.")


class SeverityForm(_DetailPageForm):
    id_prefix = "severity"

    severity = forms.ChoiceField(choices=Severity.choices)
    reason = _reason_field("Why the severity changes.")

    def __init__(self, *args, incident: Incident, **kwargs):
        kwargs.setdefault("initial", {"severity": incident.severity})
        super().__init__(*args, **kwargs)


class StatusForm(_DetailPageForm):
    """Accepts any status (so the service can explain a refused transition); offers only allowed ones."""

    id_prefix = "status"

    status = forms.ChoiceField(choices=Status.choices, label="New status")
    reason = _reason_field("Why the status changes.")
    closing_exception = forms.CharField(
        required=False,
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Exception (commander)",
        help_text="Only to close despite what the Closing card lists as open to an exception: say why. "
        "It is recorded on the incident, in the ledger and in the audit bundle.",
    )

    def __init__(self, *args, statuses: list[str], exception: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        labels = dict(Status.choices)
        self.fields["status"].widget.choices = [(s, labels[s]) for s in statuses]
        if not exception:
            del self.fields["closing_exception"]


class ChecklistTickForm(_DetailPageForm):
    """Ticking a step: the step is in the URL; a refusal is shown on the checklist."""

    id_prefix = "checklist"


class EscalateForm(_DetailPageForm):
    id_prefix = "escalate"

    severity = forms.ChoiceField(
        choices=[("", "Keep current severity"), *Severity.choices], required=False, label="Raise severity to"
    )
    reason = _reason_field("What makes this more urgent.")

    def __init__(self, *args, incident: Incident, **kwargs):
        super().__init__(*args, **kwargs)
        current = SEVERITY_RANK[incident.severity]
        self.fields["severity"].widget.choices = [
            ("", f"Keep {incident.severity}"),
            *((value, label) for value, label in Severity.choices if SEVERITY_RANK[value] < current),
        ]


class AssignCommanderForm(_DetailPageForm):
    id_prefix = "assign"

    commander = forms.ModelChoiceField(queryset=User.objects.none(), empty_label="Choose…")

    def __init__(self, *args, incident: Incident, **kwargs):
        kwargs.setdefault("initial", {"commander": incident.commander_id})
        super().__init__(*args, **kwargs)
        self.fields["commander"].queryset = (
            User.objects.filter(is_active=True, groups__name__in=COMMANDER_ROLES).distinct().order_by("username")
        )
        self.fields["commander"].label_from_instance = lambda user: f"{user.display_name} ({user.username})"


class DismissSignalForm(forms.Form):
    reason = _reason_field("Why this is not an incident.")
