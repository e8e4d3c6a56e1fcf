"""Path converters: a reference in a URL is checked against its pattern by the resolver, so a NUL
byte, an overlong or non-UTF-8 value never reaches the database (PostgreSQL answers a NUL in a
string literal with an error, SQLite with nothing): such a URL does not match and is a 404."""

from django.urls import register_converter

# An incident ref (INC-2026-0001); config.api.REF_PATTERN checks refs that arrive elsewhere.
REF_REGEX = r"[A-Za-z0-9-]{1,20}"


class RefConverter:
    regex = REF_REGEX

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


# A regulator report's regime (incidents.models.reports.Regime): lower-case slugs only.
REGIME_REGEX = r"[a-z0-9_]{1,32}"


class RegimeConverter(RefConverter):
    regex = REGIME_REGEX


def register() -> None:
    """Called once, by IncidentsConfig.ready(), before any URL module is loaded."""
    register_converter(RefConverter, "ref")
    register_converter(RegimeConverter, "regime")
