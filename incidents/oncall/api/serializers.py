"""Shapes of the on-call API: input serializers check types and lengths only; every rule (roles,
gaps, overlaps, who may) lives in incidents.oncall.services."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from config.strict import StrictSerializer, TextField, WallClockTimeField
from incidents.models import Override, Page, PageRecipient, Rotation
from incidents.oncall import selectors
from incidents.oncall.services import ShiftPlan


def _users(names: list[str]) -> list[User]:
    found = {u.username: u for u in User.objects.filter(username__in=names).prefetch_related("groups")}
    unknown = [n for n in names if n not in found]
    if unknown:
        raise serializers.ValidationError(f"No such user: {', '.join(unknown)}.")
    return [found[n] for n in names]


class ShiftInputSerializer(StrictSerializer):
    user = TextField(max_length=150)
    starts_at = serializers.DateTimeField(help_text="ISO 8601 with its offset (e.g. 2026-03-02T09:00:00+00:00).")
    ends_at = serializers.DateTimeField()


class RotationWriteSerializer(StrictSerializer):
    role = TextField(max_length=32, help_text="responder, incident_commander or leadership (creating only).")
    name = TextField(max_length=100)
    time_zone = TextField(max_length=64, default="UTC", help_text="An IANA zone, e.g. Europe/London.")
    handoff = TextField(max_length=16, default="weekly", help_text="weekly or custom.")
    members = serializers.ListField(
        child=TextField(max_length=150), max_length=100, help_text="Usernames in turn order."
    )
    handoff_weekday = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="Weekly: 0 = Monday … 6 = Sunday."
    )
    handoff_time = WallClockTimeField(
        required=False, allow_null=True, default=None, help_text="Weekly: HH:MM in the rotation's time zone."
    )
    start_date = serializers.DateField(
        required=False, allow_null=True, default=None, help_text="Weekly: the handoff day the first member starts."
    )
    shifts = ShiftInputSerializer(many=True, required=False, default=list, help_text="Custom: the shifts.")

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["role"]

    def validate_members(self, names: list[str]) -> list[User]:
        return _users(names)

    def validate_shifts(self, shifts: list[dict]) -> list[ShiftPlan]:
        people = {u.username: u for u in _users(sorted({s["user"] for s in shifts}))}
        return [ShiftPlan(people[s["user"]], s["starts_at"], s["ends_at"]) for s in shifts]


class OnCallSerializer(serializers.Serializer):
    user = serializers.CharField(allow_null=True)
    until = serializers.DateTimeField(allow_null=True)
    source = serializers.CharField(help_text="override, rotation, or empty when nobody is on call.")


class ShiftSerializer(serializers.Serializer):
    user = serializers.CharField(source="user.username")
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


class OverrideSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username")

    class Meta:
        model = Override
        fields = ["id", "user", "starts_at", "ends_at", "reason"]


class OverrideInputSerializer(StrictSerializer):
    user = TextField(max_length=150)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    reason = TextField(max_length=200, required=False, allow_blank=True, default="")

    def validate_user(self, name: str) -> User:
        return _users([name])[0]


class RotationSerializer(serializers.ModelSerializer):
    members = serializers.SerializerMethodField()
    shifts = ShiftSerializer(many=True, read_only=True)
    overrides = OverrideSerializer(many=True, read_only=True, source="current_overrides")
    on_call = serializers.SerializerMethodField()
    handoff_time = WallClockTimeField(allow_null=True, help_text="Weekly: in the rotation's time zone.")

    class Meta:
        model = Rotation
        fields = [
            "id", "role", "name", "time_zone", "handoff", "handoff_weekday", "handoff_time", "start_date",
            "members", "shifts", "overrides", "on_call", "updated_at",
        ]  # fmt: skip

    def get_members(self, rotation: Rotation) -> list[str]:
        return [m.user.username for m in rotation.members.all()]

    @extend_schema_field(OnCallSerializer)
    def get_on_call(self, rotation: Rotation) -> dict:
        [row] = selectors.on_call_rows([rotation])
        return {"user": row.user.username if row.user else None, "until": row.until, "source": row.source}


class OnCallNowSerializer(serializers.Serializer):
    role = serializers.CharField(source="rotation.role")
    rotation = serializers.CharField(source="rotation.name")
    user = serializers.SerializerMethodField()
    until = serializers.DateTimeField(allow_null=True)
    source = serializers.CharField()

    def get_user(self, row) -> str | None:
        return row.user.username if row.user else None


class PageRecipientSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username")
    step = serializers.CharField(source="get_step_display")

    class Meta:
        model = PageRecipient
        fields = ["user", "step", "paged_at"]


class PageSerializer(serializers.ModelSerializer):
    """A page. `incident` is its ref; `title` only for those who may see the incident (else null)."""

    incident = serializers.CharField(source="incident.ref")
    title = serializers.SerializerMethodField()
    step = serializers.CharField(source="get_step_display")
    recipients = PageRecipientSerializer(many=True, read_only=True)
    acknowledged_by = serializers.SerializerMethodField()

    class Meta:
        model = Page
        fields = [
            "id", "incident", "title", "reason", "role", "step", "created_at", "next_step_at",
            "acknowledged_at", "acknowledged_by", "recipients",
        ]  # fmt: skip

    def get_title(self, page: Page) -> str | None:
        return page.incident.title if self.context.get("sees_incident") else None

    def get_acknowledged_by(self, page: Page) -> str | None:
        return page.acknowledged_by.username if page.acknowledged_by else None


class AcknowledgeSerializer(StrictSerializer):
    """No fields: an empty JSON object (or no body)."""
