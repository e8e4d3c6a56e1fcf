"""Shapes of the reportability API: input serializers check types and lengths only; every rule
(who may, which facts, which milestones, which durations) lives in incidents.reporting.services."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.strict import StrictBooleanField, StrictSerializer, TextField
from incidents.models.reporting import (
    Assessment,
    Clock,
    ClockKind,
    ClockState,
    Decision,
    Milestone,
    Regime,
    RuleVersion,
)
from incidents.reporting.services import REASON_MAX, SOURCE_MAX

MILESTONE_HELP = "When it happened (ISO 8601 with a zone); null clears it. Omitted: kept from the last assessment."


def _milestone_field() -> serializers.DateTimeField:
    return serializers.DateTimeField(required=False, allow_null=True, help_text=MILESTONE_HELP)


class AssessmentCreateSerializer(StrictSerializer):
    regime = serializers.ChoiceField(choices=Regime.choices)
    decision = serializers.ChoiceField(choices=Decision.choices)
    reason = TextField(
        max_length=REASON_MAX, allow_blank=True, default="",
        help_text="Required when the regime does not apply, and for every revision.",
    )  # fmt: skip
    facts = serializers.DictField(
        child=StrictBooleanField(), required=False, allow_null=True, default=None,
        help_text="The regime's deciding facts as {fact: true/false} (see `facts` in GET …/reportability/). "
        "Omitted: kept from the last assessment.",
    )  # fmt: skip
    aware_at = _milestone_field()
    model_involvement_at = _milestone_field()
    discovered_at = _milestone_field()
    determined_at = _milestone_field()

    def milestones(self) -> dict[str, Any]:
        return {name: self.validated_data[name] for name in (f"{m}_at" for m in Milestone.values)
                if name in self.validated_data}  # fmt: skip


class RuleRefSerializer(serializers.Serializer):
    regime = serializers.CharField()
    version = serializers.IntegerField()


class ClockSerializer(serializers.ModelSerializer):
    incident = serializers.CharField(source="incident.ref")
    rule = RuleRefSerializer()
    display_state = serializers.SerializerMethodField(help_text="running, overdue, met or stopped.")
    seconds_left = serializers.SerializerMethodField(
        help_text="Until due (negative when overdue); null unless running."
    )

    class Meta:
        model = Clock
        fields = [
            "id", "incident", "regime", "kind", "sequence", "rule", "start_milestone", "started_from", "path",
            "duration", "due_at", "state", "display_state", "seconds_left", "met_at", "met_by", "stopped_at",
            "stop_reason",
        ]  # fmt: skip

    @extend_schema_field(serializers.ChoiceField(choices=["running", "overdue", "met", "stopped"]))
    def get_display_state(self, clock: Clock) -> str:
        return clock.display_state

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_seconds_left(self, clock: Clock) -> int | None:
        if clock.state != ClockState.RUNNING:
            return None
        return int((clock.due_at - timezone.now()).total_seconds())


class AssessmentSerializer(serializers.ModelSerializer):
    recorded_by = serializers.CharField(source="recorded_by.username")

    class Meta:
        model = Assessment
        fields = [
            "id", "regime", "number", "decision", "reason", "facts", "aware_at", "model_involvement_at",
            "discovered_at", "determined_at", "recorded_by", "recorded_at",
        ]  # fmt: skip


class RegimeStatusSerializer(serializers.Serializer):
    regime = serializers.CharField()
    label = serializers.CharField()
    facts = serializers.DictField(child=serializers.CharField(), help_text="The regime's facts and their questions.")
    current = AssessmentSerializer(allow_null=True)
    history = AssessmentSerializer(many=True)
    clocks = ClockSerializer(many=True)
    waiting = serializers.CharField(help_text="Why no clock runs though the regime applies (empty otherwise).")


class ReportabilitySerializer(serializers.Serializer):
    ref = serializers.CharField()
    regimes = RegimeStatusSerializer(many=True)


class DeadlineFilterSerializer(StrictSerializer):
    state = serializers.ChoiceField(choices=["running", "overdue", "met", "stopped"], required=False)
    regime = serializers.ChoiceField(choices=Regime.choices, required=False)
    page = serializers.IntegerField(min_value=1, max_value=100000, required=False)
    kind = serializers.ChoiceField(choices=ClockKind.choices, required=False)


class RuleVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)

    class Meta:
        model = RuleVersion
        fields = [
            "id", "regime", "version", "effective_from", "starts_from", "deadlines", "intermediate_every",
            "final_after_resolution", "source", "created_by", "created_at",
        ]  # fmt: skip


class RuleVersionCreateSerializer(StrictSerializer):
    regime = serializers.ChoiceField(choices=Regime.choices)
    effective_from = serializers.DateTimeField(help_text="Applies to clocks whose milestone is at or after this.")
    starts_from = serializers.ChoiceField(choices=Milestone.choices)
    deadlines = serializers.DictField(
        child=TextField(max_length=32), help_text='Fact → ISO 8601 duration, with a "default": {"death": "P10D", '
        '"default": "P15D"}. The shortest path whose fact is true wins.',
    )  # fmt: skip
    intermediate_every = TextField(max_length=32, allow_blank=True, default="")
    final_after_resolution = TextField(max_length=32, allow_blank=True, default="")
    source = TextField(max_length=SOURCE_MAX, allow_blank=True, default="")
