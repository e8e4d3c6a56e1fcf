"""Shapes of the incidents API: input serializers check types, choices and lengths only;
every business rule (who may, which transition, reasons) lives in incidents.services."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import LedgerEvent
from config.strict import SlugRelatedField, StrictBooleanField, StrictSerializer, TextField
from incidents.models import (
    Category,
    ChecklistItem,
    Deployment,
    Incident,
    RiskDomain,
    Severity,
    Signal,
    Source,
    Status,
    TimelineEntry,
)

TEXT_MAX = 20000
TITLE_MAX = 200
MAX_DEPLOYMENTS = 50


def _deployment_field(**kwargs) -> SlugRelatedField:
    return SlugRelatedField(
        slug_field="slug",
        queryset=Deployment.objects.all(),
        error_messages={"does_not_exist": "Unknown deployment {value!r}."},
        **kwargs,
    )


def _deployments_field(**kwargs) -> serializers.ListField:
    return serializers.ListField(child=_deployment_field(), max_length=MAX_DEPLOYMENTS, **kwargs)


@extend_schema_field({"type": "string", "enum": [*Severity.values, ""]})
class SeverityHintField(serializers.ChoiceField):
    """A severity or blank. Documented inline: the same choices as `severity` under another name."""

    def __init__(self, **kwargs):
        super().__init__(choices=Severity.choices, allow_blank=True, **kwargs)


# --- incidents ----------------------------------------------------------------------------------


class IncidentCreateSerializer(StrictSerializer):
    title = TextField(max_length=TITLE_MAX)
    summary = TextField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")
    category = serializers.ChoiceField(choices=Category.choices)
    risk_domain = serializers.ChoiceField(choices=RiskDomain.choices)
    severity = serializers.ChoiceField(choices=Severity.choices)
    source = serializers.ChoiceField(choices=Source.choices, required=False, default=Source.OTHER)
    deployments = _deployments_field(required=False, default=list, help_text="Deployment slugs.")
    occurred_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    detected_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    restricted = StrictBooleanField(
        required=False, default=False, help_text="Visible only to people granted it (its details are hazardous)."
    )


class IncidentUpdateSerializer(StrictSerializer):
    """PATCH: any subset. A change of severity or status needs `reason` (checked by the service)."""

    title = TextField(max_length=TITLE_MAX, required=False)
    summary = TextField(max_length=TEXT_MAX, required=False, allow_blank=True)
    category = serializers.ChoiceField(choices=Category.choices, required=False)
    risk_domain = serializers.ChoiceField(choices=RiskDomain.choices, required=False)
    source = serializers.ChoiceField(choices=Source.choices, required=False)
    deployments = _deployments_field(required=False, help_text="Deployment slugs; replaces the current set.")
    occurred_at = serializers.DateTimeField(required=False, allow_null=True)
    detected_at = serializers.DateTimeField(required=False, allow_null=True)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    reason = TextField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")
    closing_exception = TextField(
        max_length=TEXT_MAX,
        required=False,
        allow_blank=True,
        default="",
        help_text="A commander's reason to close (or dismiss) despite what is open to an exception "
        "(corrections in force, the review unpublished); recorded on the incident and in the ledger.",
    )


class IncidentEscalateSerializer(StrictSerializer):
    severity = serializers.ChoiceField(
        choices=Severity.choices, required=False, help_text="Raise to this severity (never lower)."
    )
    reason = TextField(max_length=TEXT_MAX)


class IncidentSummarySerializer(serializers.ModelSerializer):
    """One row of the incident list."""

    deployments = serializers.SlugRelatedField(many=True, read_only=True, slug_field="slug")
    reporter = serializers.SlugRelatedField(read_only=True, slug_field="username", allow_null=True)
    commander = serializers.SlugRelatedField(read_only=True, slug_field="username", allow_null=True)

    class Meta:
        model = Incident
        fields = [
            "ref", "title", "category", "risk_domain", "severity", "status", "source", "restricted", "is_drill",
            "deployments", "reporter", "commander", "occurred_at", "detected_at", "reported_at",
            "acknowledged_at", "contained_at", "resolved_at", "closed_at", "updated_at",
            "checklist_done", "checklist_total",
        ]  # fmt: skip
        read_only_fields = fields


class IncidentSerializer(IncidentSummarySerializer):
    """One incident in full."""

    participants = serializers.SlugRelatedField(many=True, read_only=True, slug_field="username")
    severity_definition = serializers.CharField(read_only=True)
    allowed_next_statuses = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta(IncidentSummarySerializer.Meta):
        fields = [
            *IncidentSummarySerializer.Meta.fields[:2], "summary", *IncidentSummarySerializer.Meta.fields[2:],
            "participants", "severity_definition", "allowed_next_statuses",
        ]  # fmt: skip
        read_only_fields = fields


# --- timeline -----------------------------------------------------------------------------------


class TimelineEntryCreateSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=TimelineEntry.Kind.choices)
    body = TextField(max_length=TEXT_MAX, help_text="The note, or what was decided.")
    options_considered = TextField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")
    rationale = TextField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")
    occurred_at = serializers.DateTimeField(required=False, allow_null=True, default=None, help_text="May be past.")


class TimelineEntrySerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(read_only=True, slug_field="username")

    class Meta:
        model = TimelineEntry
        fields = ["id", "kind", "body", "options_considered", "rationale", "occurred_at", "author", "created_at"]
        read_only_fields = fields


class TimelineEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = LedgerEvent
        fields = ["seq", "at", "verb", "actor_type", "actor_name", "source", "before", "after", "reason"]
        read_only_fields = fields


class TimelineItemSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.CharField(help_text="note, decision or event")
    entry = TimelineEntrySerializer(allow_null=True, help_text="Set for notes and decisions.")
    event = TimelineEventSerializer(allow_null=True, help_text="Set for ledger events.")


class TimelineSerializer(serializers.Serializer):
    ref = serializers.CharField()
    items = TimelineItemSerializer(many=True, help_text="Oldest first.")


# --- checklist ----------------------------------------------------------------------------------


class ChecklistItemSerializer(serializers.ModelSerializer):
    ticked_by = serializers.SlugRelatedField(read_only=True, slug_field="username", allow_null=True)

    class Meta:
        model = ChecklistItem
        fields = ["id", "position", "text", "source", "ticked_by", "ticked_at"]
        read_only_fields = fields


class ChecklistTickSerializer(StrictSerializer):
    """Ticking takes nothing but the step in the URL: an empty object (or no body)."""


class ChecklistSerializer(serializers.Serializer):
    ref = serializers.CharField()
    done = serializers.IntegerField()
    total = serializers.IntegerField()
    items = ChecklistItemSerializer(many=True, help_text="In order; a ticked step names who ticked it and when.")


# --- registry -----------------------------------------------------------------------------------


class ModelVersionSerializer(serializers.Serializer):
    name = serializers.CharField()
    is_current = serializers.BooleanField()
    released_at = serializers.DateTimeField()


class DeploymentSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name", read_only=True)
    versions = ModelVersionSerializer(source="model.versions.all", many=True, read_only=True)

    class Meta:
        model = Deployment
        fields = ["slug", "name", "model", "versions", "surface", "region", "active"]
        read_only_fields = fields


# --- signals ------------------------------------------------------------------------------------


class SignalIngestSerializer(StrictSerializer):
    source = serializers.ChoiceField(choices=Source.choices)
    title = TextField(max_length=TITLE_MAX)
    detail = TextField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")
    severity_hint = SeverityHintField(required=False, default="")
    deployment = _deployment_field(required=False, allow_null=True, default=None)
    dedup_key = TextField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="Signals with the same key fold into the open signal or incident that has it.",
    )


class SignalPromoteSerializer(StrictSerializer):
    category = serializers.ChoiceField(choices=Category.choices, required=False, default=Category.OTHER)
    risk_domain = serializers.ChoiceField(choices=RiskDomain.choices, required=False, default=RiskDomain.OTHER)
    severity = serializers.ChoiceField(
        choices=Severity.choices,
        required=False,
        allow_null=True,
        default=None,
        help_text="Defaults to the signal's hint, else SEV3.",
    )


class SignalDismissSerializer(StrictSerializer):
    reason = TextField(max_length=TEXT_MAX)


class SignalSerializer(serializers.ModelSerializer):
    severity_hint = SeverityHintField(read_only=True)
    deployment = serializers.SlugRelatedField(read_only=True, slug_field="slug", allow_null=True)
    incident = serializers.SlugRelatedField(read_only=True, slug_field="ref", allow_null=True)
    created_by = serializers.SlugRelatedField(read_only=True, slug_field="username", allow_null=True)
    integration = serializers.SlugRelatedField(
        read_only=True, slug_field="name", allow_null=True, help_text="The monitoring integration that sent it."
    )
    folded = serializers.SerializerMethodField(
        help_text="True when this post folded into an existing signal instead of creating one."
    )

    class Meta:
        model = Signal
        fields = [
            "id", "source", "title", "detail", "severity_hint", "deployment", "dedup_key", "state", "incident",
            "occurrences", "first_seen_at", "last_seen_at", "created_by", "integration", "resolved_at", "link",
            "folded",
        ]  # fmt: skip
        read_only_fields = fields

    def get_folded(self, obj) -> bool:
        return bool(self.context.get("folded", False))

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if self.context.get("redact"):
            # Folded into a signal whose incident this caller may not see: confirm the fold only.
            data.update(title="", detail="", incident=None, link="")
        return data
