"""Times handed on in UTC. Python reads UTC offsets up to ±23:59 and PostgreSQL stores only up to
±15:59, so every time that came from outside (a form, an API body, a monitoring webhook) is converted
before it reaches a query; a time that falls outside years 1-9999 once in UTC can be stored nowhere."""

from __future__ import annotations

from datetime import UTC, datetime

NOT_STORABLE = "Not a time that can be stored: check the year and the UTC offset."


def in_utc(moment: datetime) -> datetime:
    """An aware `moment` in UTC; ValueError (NOT_STORABLE) when that is outside years 1-9999."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(NOT_STORABLE) from None
