"""GET/PUT /api/v1/me/notification-preferences/: the caller's own notification preferences."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from accounts.api.base import ApiView, actor_of
from config.api import CanWrite, error_responses
from config.errors import DomainError
from incidents import preferences
from incidents.models import Event


class NotificationPreferencesSerializer(serializers.Serializer):
    """Documentation only: incidents.preferences.validate checks the body and names each bad field."""

    email_events = serializers.ListField(
        child=serializers.ChoiceField(choices=Event.choices), help_text="Events you get by email."
    )
    slack_events = serializers.ListField(
        child=serializers.ChoiceField(choices=Event.choices),
        help_text="Events you get as a Slack direct message (needs slack_member_id).",
    )
    slack_member_id = serializers.CharField(allow_blank=True, help_text="e.g. U024BE7LH")
    quiet_start = serializers.CharField(
        allow_null=True, help_text="HH:MM in your time zone; non-urgent messages wait until quiet_end."
    )
    quiet_end = serializers.CharField(allow_null=True, help_text="HH:MM in your time zone.")
    time_zone = serializers.CharField(help_text="IANA name, e.g. Europe/London.")


class NotificationPreferencesView(ApiView):
    """Which events reach you on which channel, and your quiet hours. Pages, SEV1 and break glass
    always reach you (by email if you switched them off) and ignore quiet hours."""

    permission_classes = [CanWrite]  # auditors, who write nothing anywhere, read theirs (the defaults)

    @extend_schema(responses={200: NotificationPreferencesSerializer}, tags=["me"])
    def get(self, request):
        return Response(preferences.preferences_of(request.user).as_data())

    @extend_schema(
        request=NotificationPreferencesSerializer,
        responses={200: NotificationPreferencesSerializer, **error_responses(400, 403)},
        tags=["me"],
        description="Fields left out keep their current value. Unknown fields, channels or events, "
        "a malformed time or an unknown time zone answer 400 naming each field.",
    )
    def put(self, request):
        if not isinstance(request.data, dict):
            raise DomainError("Send a JSON object of preferences.", code="invalid")
        saved = preferences.preferences_update(actor=actor_of(request), user=request.user, data=request.data)
        return Response(saved.as_data())
