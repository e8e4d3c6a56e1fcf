"""The form that starts a drill: the scenario, as the new-incident form asks it, plus its team; or a
playbook, which fills in whatever of the scenario is left blank (corrections.drills.services)."""

from __future__ import annotations

from django import forms

from config.forms import OneShotForm
from corrections.models import DrillSchedule, Playbook
from incidents.forms import IncidentForm
from incidents.models import Severity


class DrillForm(OneShotForm):
    playbook = forms.ModelChoiceField(
        queryset=Playbook.objects.none(),
        required=False,
        empty_label="No playbook: a scenario of my own",
        help_text="Rehearse this playbook: its current version is attached (checklist, recommended corrections) "
        "and fills in the title, category, risk domain and severity you leave blank.",
    )
    title = IncidentForm.base_fields["title"]
    summary = IncidentForm.base_fields["summary"]
    severity = IncidentForm.base_fields["severity"]
    category = IncidentForm.base_fields["category"]
    risk_domain = IncidentForm.base_fields["risk_domain"]
    deployments = forms.ModelMultipleChoiceField(
        queryset=IncidentForm.base_fields["deployments"].queryset,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Where the scenario plays out. Their actuators are called with dry_run: nothing is enforced.",
    )
    detected_at = IncidentForm.base_fields["detected_at"]
    restricted = IncidentForm.base_fields["restricted"]
    schedule = forms.ModelChoiceField(
        queryset=DrillSchedule.objects.none(),
        required=False,
        label="Team",
        empty_label="No schedule",
        help_text="The drill schedule this drill counts for.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["deployments"].queryset = IncidentForm().fields["deployments"].queryset
        self.fields["schedule"].queryset = DrillSchedule.objects.filter(active=True).order_by("team")
        self.fields["playbook"].queryset = Playbook.objects.filter(versions__is_current=True).order_by("title")
        for name in ("title", "category", "risk_domain", "severity"):  # a playbook may fill them in
            self.fields[name].required = False
            self.fields[name].help_text = "Optional with a playbook."
        self.fields["severity"].choices = [("", "The playbook's minimum severity"), *Severity.choices]
        self.fields["severity"].initial = ""
