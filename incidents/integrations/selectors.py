"""Reads for inbound integrations."""

from __future__ import annotations

from django.db.models import QuerySet

from incidents.models import Integration

TOKEN_MAX = 200


def integration_for_token(token: str) -> Integration | None:
    """The live integration this bearer token belongs to, or None.

    Found by the token's lookup prefix, then compared by hash in constant time (hmac.compare_digest),
    so neither the database index nor the comparison tells an attacker how close a guess came."""
    lookup = Integration.lookup_of(token)
    if len(lookup) != Integration.LOOKUP_LENGTH or len(token) > TOKEN_MAX:
        return None
    candidates = Integration.objects.filter(lookup=lookup, revoked_at__isnull=True).select_related("default_deployment")
    return next((c for c in candidates if c.token_matches(token)), None)


def integration_list() -> QuerySet[Integration]:
    return Integration.objects.select_related("created_by", "default_deployment").order_by("name")
