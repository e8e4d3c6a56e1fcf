from rest_framework import serializers

from config.strict import StrictSerializer, TextField


class TokenRequestSerializer(StrictSerializer):
    username = TextField(max_length=150, trim_whitespace=False)
    password = TextField(max_length=4096, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True, help_text="Send as `Authorization: Token <token>`. Shown once.")
