"""Corrections API shapes. Input serializers only parse; the rules live in corrections.services."""

from __future__ import annotations

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.strict import StrictBooleanField, StrictSerializer, TextField
from corrections import policy, readiness, selectors
from corrections.catalogue import TYPES
from corrections.customers import selectors as customer_selectors
from corrections.models import Approval, Correction, CorrectionTarget, DispatchAttempt
from corrections.readiness import automation_for_correction
from corrections.targets import rollup


class CorrectionRequestSerializer(StrictSerializer):
    type = serializers.ChoiceField(choices=sorted(TYPES))
    deployment = TextField(max_length=64, required=False, allow_null=True, default=None)
    params = serializers.DictField(required=False, default=dict)
    rationale = TextField(max_length=20000)
    duration_minutes = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1,
                                                max_value=365 * 24 * 60)  # fmt: skip
    break_glass = StrictBooleanField(required=False, default=False)
    justification = TextField(max_length=20000, required=False, default="", allow_blank=True)
    notice_explanation = TextField(
        max_length=20000, required=False, default="", allow_blank=True,
        help_text="Why the customers' notice could not be given. Needed when a notice is flagged (late, no "
        "contact, a type never accepted) and the correction runs at once; otherwise it may be given on an approval.",
    )  # fmt: skip
    evidence_id = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=2**63 - 1,
        help_text="An evidence file of this incident (GET …/evidence/) snapshotting the state before this correction. "
        "A rollback, capability restriction or shutdown on a possibly reportable incident needs it or "
        "`evidence_override`.",
    )  # fmt: skip
    evidence_override = TextField(
        max_length=20000, required=False, default="", allow_blank=True,
        help_text="Why this correction goes ahead without an evidence snapshot (at least 20 characters).",
    )  # fmt: skip


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
    otp = TextField(
        max_length=12, required=False, default="", allow_blank=True,
        help_text="Tier 4: the current code from your authenticator app (TOTP). Passkeys confirm approvals in the "
        "browser only; the API always takes the app's code, so a leader who uses the API needs an app as well.",
    )  # fmt: skip
    confirm_target = TextField(max_length=64, required=False, default="", allow_blank=True)
    notice_explanation = TextField(
        max_length=20000, required=False, default="", allow_blank=True,
        help_text="Why the customers' notice could not be given: needed when the correction's `notice_flags` are "
        "not empty and it carries no `notice_explanation` yet (400 otherwise).",
    )  # fmt: skip


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


class TargetConfirmSerializer(StrictSerializer):
    deployment = TextField(max_length=64, help_text="The target whose manual step was carried out.")
    confirm_target = TextField(max_length=64, help_text="The deployment's name typed again, to confirm.")
    note = TextField(max_length=20000, help_text="Who carried it out and how it was verified.")


class TargetSerializer(serializers.ModelSerializer):
    deployment = serializers.CharField(source="deployment.slug")
    confirmed_by = serializers.CharField(source="confirmed_by.username", allow_null=True, default=None)

    class Meta:
        model = CorrectionTarget
        fields = ["deployment", "state", "manual", "manual_reason", "failure", "activated_at", "confirmed_by",
                  "confirmed_at", "confirm_note", "lifted_at"]  # fmt: skip


class AutomationSerializer(serializers.Serializer):
    deployment = serializers.CharField()
    automatable = serializers.BooleanField()
    problem = serializers.CharField(help_text="Why it cannot be automated; empty when it can.")
    mode = serializers.ChoiceField(
        choices=readiness.MODES,
        help_text="For this correction's type: automatable, manual (by nature or by choice) or missing.",
    )
    health = serializers.ChoiceField(
        choices=readiness.HEALTH_STATES,
        help_text="The deployment's actuator's last readiness check.",
    )


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
    evidence = serializers.IntegerField(
        source="evidence_id", allow_null=True, read_only=True,
        help_text="The evidence snapshot chosen when it was requested (the incident's evidence id), if any.",
    )  # fmt: skip
    evidence_override = serializers.CharField(
        read_only=True, help_text="Why it went ahead without an evidence snapshot, if it did."
    )
    approvals = ApprovalSerializer(many=True)
    still_needed = serializers.SerializerMethodField()
    seconds_left = serializers.SerializerMethodField()
    ratification_overdue = serializers.SerializerMethodField()
    lift_awaiting_approval = serializers.SerializerMethodField(
        help_text="An early lift of this tier 3–4 correction asked for and waiting for one leadership approval."
    )
    targets = TargetSerializer(many=True, help_text="One per deployment it acts on, each with its own progress.")
    progress = serializers.SerializerMethodField(help_text='e.g. "partly in force (2 of 3)"; empty if nowhere yet.')
    cannot_automate = serializers.SerializerMethodField(
        help_text="Readiness warnings, shown before anyone approves (never a refusal): targets this type cannot "
        "reach automatically (no actuator, the actuator does not support the type, or a manual step by choice) "
        "and targets whose actuator's readiness check failed, is stale or never ran."
    )
    dry_run = serializers.BooleanField(
        read_only=True,
        help_text="A drill's correction: sent to actuators with dry_run, recorded there, never enforced. "
        "`active` with dry_run means active (dry run).",
    )

    class Meta:
        model = Correction
        fields = [
            "id", "incident", "type", "deployment", "model", "params", "rationale", "duration_minutes", "state",
            "tier", "policy", "content_hash", "requested_by", "edited_by", "requested_at", "pending_until",
            "approved_at", "execute_by", "activated_at", "verified_at", "expires_at", "lifted_at", "failure",
            "break_glass", "break_glass_justification", "ratification_due_at", "ratified_at", "ratification_overdue",
            "approvals", "still_needed", "seconds_left", "lift_awaiting_approval", "targets", "progress",
            "cannot_automate", "dry_run", "evidence", "evidence_override",
        ]  # fmt: skip

    def _status(self, correction):
        cache = self.context.setdefault("signoff", {})
        if correction.pk not in cache:
            cache[correction.pk] = selectors.signoff_status(correction)
        return cache[correction.pk]

    def get_progress(self, correction) -> str:
        return rollup(t.state for t in correction.targets.all()).label()

    @extend_schema_field(AutomationSerializer(many=True))
    def get_cannot_automate(self, correction) -> list[dict]:
        return [AutomationSerializer(a).data for a in automation_for_correction(correction) if not a.automatable]

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


class NoticeFlagSerializer(serializers.Serializer):
    customer = serializers.CharField(help_text="The customer's slug.")
    code = serializers.ChoiceField(choices=["late", "no_contact", "not_accepted"])
    message = serializers.CharField()


class CorrectionDetailSerializer(CorrectionSerializer):
    attempts = AttemptSerializer(many=True)
    notice_flags = serializers.SerializerMethodField(
        help_text="What breaks a customer's agreement (corrections.customers), shown before approval; an approval "
        "of a flagged correction needs a `notice_explanation` unless it carries one."
    )
    notice_explanation = serializers.CharField(read_only=True)

    class Meta(CorrectionSerializer.Meta):
        fields = [*CorrectionSerializer.Meta.fields, "attempts", "notice_flags", "notice_explanation"]

    @extend_schema_field(NoticeFlagSerializer(many=True))
    def get_notice_flags(self, correction):
        return customer_selectors.correction_flags(correction)


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


class InForceFilterSerializer(StrictSerializer):
    model = TextField(max_length=200, required=False, default="", allow_blank=True)
    deployment = TextField(max_length=64, required=False, default="", allow_blank=True)


class InForceSerializer(serializers.Serializer):
    """One correction on one deployment. `incident`, `rationale`, `requested_by` and `approved_by` are null
    when its incident is restricted and you may not see it: you learn only that it is in force."""

    model = serializers.CharField()
    deployment = serializers.CharField(allow_null=True, help_text="null: the whole model (no deployment target)")
    correction = serializers.SerializerMethodField()
    type = serializers.CharField()
    tier = serializers.IntegerField()
    state = serializers.CharField()
    target_state = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    progress = serializers.CharField()
    expiring = serializers.BooleanField()
    awaiting_ratification = serializers.BooleanField()
    since = serializers.DateTimeField(allow_null=True)
    until = serializers.DateTimeField(allow_null=True)
    restricted = serializers.BooleanField()
    incident = serializers.SerializerMethodField()
    incident_title = serializers.SerializerMethodField()
    rationale = serializers.SerializerMethodField()
    requested_by = serializers.SerializerMethodField()
    approved_by = serializers.SerializerMethodField()

    def get_correction(self, entry) -> int | None:
        return None if entry.why is None else entry.correction.pk

    def get_incident(self, entry) -> str | None:
        return None if entry.why is None else entry.why.incident.ref

    def get_incident_title(self, entry) -> str | None:
        return None if entry.why is None else entry.why.incident.title

    def get_rationale(self, entry) -> str | None:
        return None if entry.why is None else entry.why.rationale

    def get_requested_by(self, entry) -> str | None:
        return None if entry.why is None else entry.why.requested_by

    def get_approved_by(self, entry) -> list[str] | None:
        return None if entry.why is None else entry.why.approved_by


class ReadinessFilterSerializer(InForceFilterSerializer):
    """Filter the readiness matrix by model name or deployment slug."""


class ReadinessCellSerializer(serializers.Serializer):
    type = serializers.CharField()
    mode = serializers.ChoiceField(choices=readiness.MODES)
    reason = serializers.CharField(help_text="Why manual or missing; empty when automatable.")


class ReadinessHealthSerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=readiness.HEALTH_STATES,
        help_text="The actuator's last GET /health: stale when older than the stale threshold.",
    )
    checked_at = serializers.DateTimeField(allow_null=True)
    age_seconds = serializers.IntegerField(allow_null=True)
    detail = serializers.CharField()


class ReadinessRowSerializer(serializers.Serializer):
    """One active deployment: its actuator's health and, per correction type, whether it can run automatically."""

    deployment = serializers.CharField(source="deployment.slug")
    model = serializers.CharField(source="deployment.model.name")
    actuator_configured = serializers.SerializerMethodField()
    supported_types = serializers.SerializerMethodField(
        help_text="What the actuator's last passing /health listed; null: it did not say (every dispatched type)."
    )
    health = ReadinessHealthSerializer()
    types = ReadinessCellSerializer(source="cells", many=True)

    def get_actuator_configured(self, row) -> bool:
        return row.actuator is not None

    def get_supported_types(self, row) -> list[str] | None:
        return None if row.actuator is None else row.actuator.supported_types
