"""Customers (issue 13 §5): organisations, their agreements and contacts.

The correction types an agreement may name are corrections' (its catalogue); incidents cannot import
them, so corrections registers their keys here when it loads (`register_correction_types`).
"""

from __future__ import annotations

_CORRECTION_TYPES: dict[str, str] = {}


def register_correction_types(types: dict[str, str]) -> None:
    """{key: label} of every correction type an agreement may accept."""
    _CORRECTION_TYPES.update(types)


def correction_types() -> dict[str, str]:
    return dict(_CORRECTION_TYPES)
