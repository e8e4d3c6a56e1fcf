"""Strict JSON input for every API endpoint: a bounded parser, exact types, no unknown fields.

DRF on its own coerces numbers to strings, reads request bodies without Django's size limit,
lets a deeply nested document raise RecursionError (a 500) and silently drops unknown keys.
An incident console should refuse all of these with a 400 that names the field.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_slug
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import JSONParser


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class BoundedJSONParser(JSONParser):
    """JSON only, at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes, nesting errors as 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge()
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError as exc:
            raise exceptions.ParseError("JSON parse error - the document is nested too deeply.") from exc


class StrictSerializer(serializers.Serializer):
    """Input serializer that refuses keys it does not know (a typo must not be silently ignored)."""

    default_error_messages = {"unknown_field": "Unknown field."}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, Mapping) else []
        if unknown:
            raise serializers.ValidationError({name: [self.error_messages["unknown_field"]] for name in unknown})
        return value


class TextField(serializers.CharField):
    """A JSON string and nothing else: numbers, booleans, lists and objects are refused."""

    default_error_messages = {"invalid": "Not a valid string.", "encoding": "Not valid UTF-8 text."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            data.encode("utf-8")  # a lone surrogate ("\ud800") is valid JSON but not storable text
        except UnicodeEncodeError:
            self.fail("encoding")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only (not 1, "yes" or "on")."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


@extend_schema_field(
    {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$", "example": "09:00"}
)
class WallClockTimeField(serializers.TimeField):
    """A time of day in a named time zone ("09:00", answered as "09:00:00"). It has no UTC offset, so it
    is not OpenAPI's `time` format (RFC 3339's full-time, which requires one)."""


class SlugRelatedField(serializers.SlugRelatedField):
    """Looks an object up by slug, refusing anything that is not a well-formed slug string first."""

    default_error_messages = {"invalid": "Not a valid slug."}

    def to_internal_value(self, data):
        if not isinstance(data, str) or len(data) > 64:
            self.fail("invalid")
        try:
            validate_slug(data)
        except DjangoValidationError:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data)
        return super().to_internal_value(data)


class ErrorSerializer(serializers.Serializer):
    """Every 4xx body (see config.api.exception_handler); documents the error responses."""

    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field name → messages, for input that failed validation.",
    )
