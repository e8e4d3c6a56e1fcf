import hashlib
import secrets
from zoneinfo import available_timezones

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.functional import cached_property

from accounts.roles import WRITER_ROLES, Role


def validate_time_zone(value: str) -> None:
    if value and value not in available_timezones():
        raise ValidationError(f"{value!r} is not a time zone name like Europe/Paris or America/New_York.")


class User(AbstractUser):
    """A person who signs in. Roles are group memberships (see accounts.roles)."""

    # Pages show times in this zone (accounts.middleware.TimeZoneMiddleware), and deadlines in UTC too.
    time_zone = models.CharField(
        max_length=64, blank=True, validators=[validate_time_zone], help_text="e.g. Europe/Paris; empty means UTC."
    )

    @cached_property
    def roles(self) -> frozenset[str]:
        if not self.is_active:
            return frozenset()
        return frozenset(group.name for group in self.groups.all())  # uses prefetch_related("groups") if given

    def has_role(self, *roles: Role) -> bool:
        return bool(self.roles & set(roles))

    @property
    def can_write(self) -> bool:
        return bool(self.roles & WRITER_ROLES)

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class ApiToken(models.Model):
    """An API token. Only a SHA-256 of the key is stored; the key is shown once."""

    PREFIX_LENGTH = 8

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, default="api")
    prefix = models.CharField(max_length=PREFIX_LENGTH, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @staticmethod
    def new_key() -> str:
        return "fs_" + secrets.token_urlsafe(32)


class IdempotencyRecord(models.Model):
    """The first answer to a request made with an idempotency key, replayed when the key comes back.

    One table for the API's `Idempotency-Key` header and the pages' one-time form tokens, scoped to
    the user (see accounts.idempotency). The row is inserted before the write it guards and its
    answer stored in that same transaction, so nobody else ever sees a row without an answer.
    """

    class Channel(models.TextChoices):
        API = "api", "API (Idempotency-Key header)"
        WEB = "web", "Page (one-time form token)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=3, choices=Channel.choices)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request: method, path and body.")
    status_code = models.PositiveSmallIntegerField(default=0, help_text="0 only inside the claiming transaction.")
    content_type = models.CharField(max_length=100, blank=True)
    body = models.TextField(blank=True, help_text="API: the response body. Page: where the first submission led.")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "channel", "key"], name="accounts_idempotency_key_once_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} key of {self.user_id}: {self.status_code}"


class PasskeyChallenge(models.Model):
    """A WebAuthn challenge issued to one person for one purpose ("register", "remove", or
    "approve:<correction>:<content hash>"). Answered at most once, and only while fresh: the row
    is spent before the answer is checked, so a replayed or wrong answer finds nothing to spend."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=120)
    challenge = models.CharField(max_length=128, help_text="base64url, as the browser echoes it in clientDataJSON.")
    state = models.JSONField(default=dict, help_text="What django-otp-webauthn needs to verify the answer.")
    created_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "challenge"], name="accounts_passkey_challenge_idx")]

    def __str__(self) -> str:
        return f"{self.purpose} challenge for {self.user_id}"


# --- The ledger --------------------------------------------------------------------------------


class LedgerEvent(models.Model):
    """One append-only, hash-chained record of something that happened (DESIGN §6).

    No foreign keys: events outlive what they describe. Written only by accounts.ledger. The tables
    keep the names they were born with in incidents.
    """

    seq = models.BigIntegerField(unique=True)
    at = models.DateTimeField()
    actor_type = models.CharField(max_length=16)  # user, token, system, integration
    actor_id = models.CharField(max_length=64, blank=True)
    actor_name = models.CharField(max_length=150)
    actor_roles = models.JSONField(default=list)
    source = models.CharField(max_length=16)  # web, api, task, command
    verb = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    incident_ref = models.CharField(max_length=20, blank=True, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    client_ip = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        db_table = "incidents_ledgerevent"
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="incidents_l_object__24ef7f_idx"),
            models.Index(fields=["at"], name="incidents_l_at_c20a57_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.verb}"


class LedgerHead(models.Model):
    """A single row holding the chain's head; appends lock it so the chain never forks."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    class Meta:
        db_table = "incidents_ledgerhead"

    def __str__(self) -> str:
        return f"head #{self.seq}"


class SsoIdentity(models.Model):
    """Which account an identity-provider subject signs in to (accounts.sso).

    Sign-in matches on (issuer, subject) only, never on a username or an email address, which the
    provider may let people change: a renamed address cannot reach somebody else's account.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identity")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255, help_text="The provider's `sub` claim: stable, never reassigned.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="accounts_sso_identity_subject_once"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer} → {self.user_id}"
