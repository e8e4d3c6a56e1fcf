"""Shapes of the reports API: input serializers check types and lengths only; every rule (who
may, which kind, which hash, what the regime requires) lives in incidents.reports.services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.strict import StrictSerializer, TextField
from incidents.models.reports import Regime, Report, ReportChannel, ReportKind, ReportVersion
from incidents.reports import records, selectors
from incidents.reports.regimes import json_schema
from incidents.reviews.api.serializers import DiffLineSerializer  # the one diff shape the API has

HASH_HELP = "The `content_hash` of the draft as you read it (from GET …/draft/); a mismatch is 409."


class ReportVersionSerializer(serializers.ModelSerializer):
    state = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username")
    submitted_by = serializers.CharField(source="submitted_by.username", allow_null=True, default=None)
    fields = serializers.JSONField(help_text="The regime's fields (see `schema` on the report).")

    class Meta:
        model = ReportVersion
        fields = [
            "number", "state", "kind", "reason", "fields", "schema_version", "content_hash", "created_by",
            "created_at", "updated_at", "submitted_at", "submitted_by", "channel", "channel_reference", "sha256",
        ]  # fmt: skip

    def get_state(self, version) -> str:
        return "submitted" if version.is_submitted else "draft"


class ReportVersionSummarySerializer(ReportVersionSerializer):
    class Meta(ReportVersionSerializer.Meta):
        fields = [name for name in ReportVersionSerializer.Meta.fields if name != "fields"]


class ReportSerializer(serializers.ModelSerializer):
    incident = serializers.CharField(source="incident.ref")
    versions = serializers.SerializerMethodField()
    draft = serializers.SerializerMethodField(help_text="The number of the draft version, if one is open.")

    class Meta:
        model = Report
        fields = ["incident", "regime", "created_at", "draft", "versions"]

    def get_draft(self, report) -> int | None:
        versions = list(report.versions.all())
        return versions[-1].number if versions and not versions[-1].is_submitted else None

    @extend_schema_field(ReportVersionSummarySerializer(many=True))
    def get_versions(self, report):
        return ReportVersionSummarySerializer(report.versions.all(), many=True).data


class ReportStartSerializer(StrictSerializer):
    regime = serializers.ChoiceField(choices=Regime.choices)
    kind = serializers.ChoiceField(
        choices=ReportKind.choices, required=False, allow_blank=True, default="",
        help_text="initial for the first version (the default); intermediate, amended or final after it.",
    )  # fmt: skip
    reason = TextField(max_length=2000, required=False, allow_blank=True, default="",
                       help_text="Why this version follows the last (required for an amendment).")  # fmt: skip


class ReportDraftSerializer(StrictSerializer):
    fields = serializers.DictField(
        required=False, default=dict, help_text="Any of the regime's fields; those left out keep their value."
    )
    kind = serializers.ChoiceField(choices=ReportKind.choices, required=False, allow_blank=True, default="")
    content_hash = TextField(max_length=64, required=False, allow_blank=True, default="", help_text=HASH_HELP)
    refresh_facts = serializers.BooleanField(
        required=False, default=False, help_text="Bring the corrections and decisions up to date from the incident."
    )


class ReportSubmitSerializer(StrictSerializer):
    content_hash = TextField(max_length=64, help_text=HASH_HELP)
    channel = serializers.ChoiceField(choices=ReportChannel.choices)
    channel_reference = TextField(
        max_length=500, required=False, allow_blank=True, default="",
        help_text="The regulator's reference, the address written to, or how it was sent (required for other).",
    )  # fmt: skip


class ReportDocumentSerializer(serializers.Serializer):
    record = serializers.JSONField(help_text="What was submitted; `sha256` is computed over it.")
    sha256 = serializers.CharField(allow_null=True)
    hash_rule = serializers.CharField()
    hash_ok = serializers.BooleanField(allow_null=True, help_text="The record re-hashed matches (null for a draft).")


class ReportDiffSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    previous = serializers.IntegerField(allow_null=True)
    changes = DiffLineSerializer(many=True)


class ReportDetailSerializer(ReportSerializer):
    schema = serializers.SerializerMethodField(help_text="The JSON Schema of the regime's fields (shapes only).")

    class Meta(ReportSerializer.Meta):
        fields = [*ReportSerializer.Meta.fields, "schema"]

    def get_schema(self, report) -> dict[str, Any]:
        return json_schema(report.regime)


def document(report: Report, version: ReportVersion) -> dict[str, Any]:
    return records.version_document(report, version)


def diff(report: Report, version: ReportVersion) -> dict[str, Any]:
    previous = selectors.previous_of(report, version)
    lines = selectors.version_diff(report, previous, version)
    return {"version": version.number, "previous": previous.number if previous else None,
            "changes": selectors.diff_data(lines)}  # fmt: skip
