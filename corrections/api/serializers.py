"""Corrections API shapes. Input serializers only parse; the rules live in corrections.services."""

from __future__ import annotations

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.strict import StrictBooleanField, StrictSerializer, TextField
from corrections import policy, selectors
from corrections.catalogue import TYPES
from corrections.models import Approval, Correction, DispatchAttempt


class CorrectionRequestSerializer(StrictSerializer):
    type = serializers.ChoiceField(choices=sorted(TYPES))
    deployment = TextField(max_length=64, required=False, allow_null=True, default=None)
    params = serializers.DictField(required=False, default=dict)
    rationale = TextField(max_length=20000)
    duration_minutes = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1,
                                                max_value=365 * 24 * 60)  # fmt: skip
    break_glass = StrictBooleanField(required=False, default=False)
    justification = TextField(max_length=20000, required=False, default="", allow_blank=True)


class CorrectionEditSerializer(StrictSerializer):
    params = serializers.DictField(required=False)
    duration_minutes = serializers.IntegerField(required=False, min_value=1, max_value=365 * 24 * 60)
    rationale = TextField(max_length=20000, required=False)


class ApproveSerializer(StrictSerializer):
    content_hash = TextField(
        min_length=64,
        max_length=64,
        validators=[RegexValidator(r"^[0-9a-f]{64}\Z", "Give the 64 lowercase hex digits of content_hash.")],
        help_text="The `content_hash` of the correction as you reviewed it (from its representation). If the "
        "request was edited since, the answer is 409 and nothing is recorded: review it again.",
    )
    comment = TextField(max_length=20000, required=False, default="", allow_blank=True)
    otp = TextField(max_length=12, required=False, default="", allow_blank=True)
    confirm_target = TextField(max_length=64, required=False, default="", allow_blank=True)


class LiftApproveSerializer(StrictSerializer):
    content_hash = TextField(
        min_length=64,
        max_length=64,
        validators=[RegexValidator(r"^[0-9a-f]{64}\Z", "Give the 64 lowercase hex digits of content_hash.")],
        help_text="The `lift_awaiting_approval.content_hash` you reviewed; a different lift is refused with 409.",
    )
    comment = TextField(max_length=20000, required=False, default="", allow_blank=True)


class LiftAwaitingApprovalSerializer(serializers.Serializer):
    requested_by = serializers.CharField(source="requested_by.username")
    reason = serializers.CharField()
    requested_at = serializers.DateTimeField()
    pending_until = serializers.DateTimeField()
    content_hash = serializers.CharField()
    still_needed = serializers.SerializerMethodField()

    def get_still_needed(self, lift) -> list[dict]:
        return [dict(r) for r in policy.LIFT_REQUIREMENTS]


class RejectSerializer(StrictSerializer):
    comment = TextField(max_length=20000)


class ReasonSerializer(StrictSerializer):
    reason = TextField(max_length=20000)


class ConfirmSerializer(StrictSerializer):
    confirm_target = TextField(max_length=64)
    note = TextField(max_length=20000)


class ApprovalSerializer(serializers.ModelSerializer):
    approver = serializers.CharField(source="approver.username")
    voided = serializers.SerializerMethodField()

    class Meta:
        model = Approval
        fields = ["approver", "decision", "counted_as", "comment", "second_factor_verified", "ratifies_break_glass",
                  "voided", "created_at"]  # fmt: skip

    def get_voided(self, approval) -> bool:
        return approval.voided_at is not None


class AttemptSerializer(serializers.ModelSerializer):
    deployment = serializers.CharField(source="deployment.slug")

    class Meta:
        model = DispatchAttempt
        fields = ["action", "number", "deployment", "method", "url", "response_status", "outcome", "latency_ms",
                  "error", "started_at"]  # fmt: skip


class CorrectionSerializer(serializers.ModelSerializer):
    incident = serializers.CharField(source="incident.ref")
    deployment = serializers.CharField(source="deployment.slug", allow_null=True, default=None)
    model = serializers.CharField(source="model.name")
    requested_by = serializers.CharField(source="requested_by.username")
    edited_by = serializers.SerializerMethodField(
        help_text="Who changed what will run since it was requested; like the requester, they may not sign it off."
    )
    policy = serializers.JSONField(source="policy_at_request.as_dict")
    approvals = ApprovalSerializer(many=True)
    still_needed = serializers.SerializerMethodField()
    seconds_left = serializers.SerializerMethodField()
    ratification_overdue = serializers.SerializerMethodField()
    lift_awaiting_approval = serializers.SerializerMethodField(
        help_text="An early lift of this tier 3–4 correction asked for and waiting for one leadership approval."
    )

    class Meta:
        model = Correction
        fields = [
            "id", "incident", "type", "deployment", "model", "params", "rationale", "duration_minutes", "state",
            "tier", "policy", "content_hash", "requested_by", "edited_by", "requested_at", "pending_until",
            "approved_at", "execute_by", "activated_at", "verified_at", "expires_at", "lifted_at", "failure",
            "break_glass", "break_glass_justification", "ratification_due_at", "ratified_at", "ratification_overdue",
            "approvals", "still_needed", "seconds_left", "lift_awaiting_approval",
        ]  # fmt: skip

    def _status(self, correction):
        cache = self.context.setdefault("signoff", {})
        if correction.pk not in cache:
            cache[correction.pk] = selectors.signoff_status(correction)
        return cache[correction.pk]

    def get_edited_by(self, correction) -> list[str]:
        return [e.editor.username for e in correction.editors.all()]

    def get_still_needed(self, correction) -> list[dict]:
        return self._status(correction).missing

    def get_seconds_left(self, correction) -> int | None:
        return self._status(correction).seconds_left

    def get_ratification_overdue(self, correction) -> bool:
        return self._status(correction).ratification_overdue

    @extend_schema_field(LiftAwaitingApprovalSerializer(allow_null=True))
    def get_lift_awaiting_approval(self, correction) -> dict | None:
        lift = selectors.pending_lift_of(correction)
        return LiftAwaitingApprovalSerializer(lift).data if lift else None


class CorrectionDetailSerializer(CorrectionSerializer):
    attempts = AttemptSerializer(many=True)

    class Meta(CorrectionSerializer.Meta):
        fields = [*CorrectionSerializer.Meta.fields, "attempts"]


class CorrectionTypeSerializer(serializers.Serializer):
    key = serializers.CharField()
    family = serializers.CharField()
    label = serializers.CharField()
    help = serializers.CharField()
    default_tier = serializers.IntegerField()
    reversible = serializers.BooleanField()
    target = serializers.CharField()
    default_duration_minutes = serializers.IntegerField(allow_null=True)
    dispatchable = serializers.BooleanField()
    params = serializers.ListField(child=serializers.DictField())
