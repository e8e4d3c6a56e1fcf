"""Inbound monitoring integrations (issue 11 §5) and the reminders already sent (issue 11 §4).

Imported by incidents.models, so they belong to the incidents app.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import models


class IntegrationKind(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
    GRAFANA = "grafana", "Grafana alerting"
    GENERIC = "generic", "Generic signal API"


class Integration(models.Model):
    """A monitoring system allowed to post signals, with its own secret token.

    Only a SHA-256 of the token is stored; the token itself is shown once, when it is made (or
    rotated). A token is `fsi_` + an 8-character lookup prefix + a random secret.
    """

    TOKEN_PREFIX = "fsi_"
    LOOKUP_LENGTH = 8

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=IntegrationKind)
    lookup = models.CharField(max_length=LOOKUP_LENGTH, db_index=True, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # Used when an alert names no deployment (label `deployment`) or a severity (label `severity`).
    default_deployment = models.ForeignKey(
        "incidents.Deployment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    default_severity_hint = models.CharField(max_length=4, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def new_token(cls) -> tuple[str, str]:
        """(token, lookup prefix)."""
        lookup = secrets.token_hex(cls.LOOKUP_LENGTH // 2)
        return f"{cls.TOKEN_PREFIX}{lookup}{secrets.token_urlsafe(32)}", lookup

    @classmethod
    def lookup_of(cls, token: str) -> str:
        if not token.startswith(cls.TOKEN_PREFIX):
            return ""
        return token[len(cls.TOKEN_PREFIX) : len(cls.TOKEN_PREFIX) + cls.LOOKUP_LENGTH]

    def token_matches(self, token: str) -> bool:
        return hmac.compare_digest(self.token_hash, self.hash_token(token))


class SentReminder(models.Model):
    """A reminder that went out, by a key naming what, which deadline and which stage
    (e.g. `correction:12:2026-05-01T10:00:00+00:00:half`). Written in the transaction that queues
    the message; the unique key is what makes a rerun, or two beats at once, send it only once."""

    key = models.CharField(max_length=200, unique=True)
    sent_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.key
