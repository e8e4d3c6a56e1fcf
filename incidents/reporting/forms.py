"""The assessment form on the reportability page: one per regime, its facts as checkboxes and the
milestone its rule counts from. It parses input only; incidents.reporting.services decides."""

from __future__ import annotations

from django import forms

from config.forms import OneShotForm
from incidents.forms import _datetime_field
from incidents.models.reporting import Assessment, Decision, Milestone
from incidents.reporting.rules import REGIME_FACTS
from incidents.reporting.services import REASON_MAX


class AssessmentForm(OneShotForm):
    decision = forms.ChoiceField(choices=Decision.choices, widget=forms.RadioSelect)
    reason = forms.CharField(
        max_length=REASON_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required when it does not apply, and for every revision.",
    )  # fmt: skip

    def __init__(self, *args, regime: str, milestone: str, current: Assessment | None, zone: str, **kwargs):
        super().__init__(*args, prefix=regime, **kwargs)
        self.regime = regime
        for fact, question in REGIME_FACTS[regime].items():
            self.fields[f"fact_{fact}"] = forms.BooleanField(label=question, required=False)
        # The milestone the regime's newest rule counts from (others carry over from the last assessment).
        self.milestone = milestone
        self.fields[f"{milestone}_at"] = _datetime_field(f"{Milestone(milestone).label} ({zone})")
        if current is not None and not self.is_bound:
            self.initial |= {"decision": current.decision}
            self.initial |= {f"fact_{f}": bool((current.facts or {}).get(f)) for f in REGIME_FACTS[regime]}
            self.initial |= {f"{milestone}_at": current.milestone(milestone)}

    def facts(self) -> dict[str, bool]:
        return {fact: bool(self.cleaned_data.get(f"fact_{fact}")) for fact in REGIME_FACTS[self.regime]}

    def milestones(self) -> dict[str, object]:
        return {self.milestone: self.cleaned_data.get(f"{self.milestone}_at")}


class DeadlineFilterForm(forms.Form):
    state = forms.ChoiceField(
        required=False,
        choices=[("", "Any state"), ("running", "Running"), ("overdue", "Overdue"), ("met", "Met"),
                 ("stopped", "Stopped")],
    )  # fmt: skip
    regime = forms.ChoiceField(
        required=False, choices=[("", "Every regime"), *Assessment._meta.get_field("regime").choices]
    )
