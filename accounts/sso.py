"""Single sign-on through the organisation's OpenID Connect provider (mozilla-django-oidc).

Configured by FAILSAFE_OIDC_* settings (README "Single sign-on"); off unless a client id is set.
The provider says who someone is (`sub`) and which roles they hold (a claim, `groups` by default,
mapped to Failsafe roles). At every sign-in, `sso_sign_in` finds the account linked to that
subject, or makes one, and brings its name, email and roles in line with the claims, so a role
given or taken away at the provider applies at the next sign-in. An account is found by
(issuer, subject) only, never by username or email: an address renamed at the provider cannot
reach somebody else's account, and an existing local account is used only once an admin has
linked it (`manage.py sso_link`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth.models import Group
from django.core import checks
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.utils import timezone
from mozilla_django_oidc.utils import import_from_settings

from accounts import ledger
from accounts.actor import Actor
from accounts.events import AccountEvent
from accounts.models import SsoIdentity, User
from accounts.roles import ALL_ROLES, Role

logger = logging.getLogger(__name__)


# --- configuration ----------------------------------------------------------------------------------


def enabled() -> bool:
    return bool(settings.FAILSAFE_OIDC_CLIENT_ID)


def provider_name() -> str:
    return settings.FAILSAFE_OIDC_PROVIDER_NAME


def parse_role_map(text: str) -> dict[str, frozenset[Role]]:
    """ "value=role,value=role" -> {value: roles}. A value may be named twice to give two roles."""
    mapping: dict[str, set[Role]] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        value, equals, role = entry.rpartition("=")
        value, role = value.strip(), role.strip()
        if not equals or not value:
            raise ImproperlyConfigured(f"FAILSAFE_OIDC_ROLE_MAP: {entry!r} is not of the form claim-value=role.")
        if role not in set(ALL_ROLES):
            names = ", ".join(ALL_ROLES)
            raise ImproperlyConfigured(f"FAILSAFE_OIDC_ROLE_MAP: {role!r} is not a role (one of {names}).")
        mapping.setdefault(value, set()).add(Role(role))
    return {value: frozenset(roles) for value, roles in mapping.items()}


def claim_values(claims: Mapping[str, Any], claim: str) -> list[str]:
    """The strings a claim holds: a list, or one string; a dotted name reaches into objects
    ("realm_access.roles")."""
    value: Any = claims.get(claim)
    if value is None and "." in claim:
        value = claims
        for part in claim.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [item for item in value if isinstance(item, str)]
    return []


def roles_from_claims(
    claims: Mapping[str, Any], *, claim: str, role_map: Mapping[str, frozenset[Role]], role_names: bool
) -> frozenset[Role]:
    """The Failsafe roles the claims give: mapped values, and (if allowed) values that are role names."""
    roles: set[Role] = set()
    known = {role.value for role in ALL_ROLES}
    for value in claim_values(claims, claim):
        roles |= role_map.get(value, frozenset())
        if role_names and value in known:
            roles.add(Role(value))
    return frozenset(roles)


def configured_roles(claims: Mapping[str, Any]) -> frozenset[Role]:
    return roles_from_claims(
        claims,
        claim=settings.FAILSAFE_OIDC_ROLES_CLAIM,
        role_map=parse_role_map(settings.FAILSAFE_OIDC_ROLE_MAP),
        role_names=settings.FAILSAFE_OIDC_ROLE_NAMES,
    )


class ProviderUnavailable(Exception):
    """The provider's discovery document could not be read."""


_discovered: dict[str, dict[str, Any]] = {}
_discovery_lock = threading.Lock()


def _discovery(issuer: str) -> dict[str, Any]:
    """The issuer's /.well-known/openid-configuration, read once per process."""
    with _discovery_lock:
        if issuer not in _discovered:
            url = f"{issuer}/.well-known/openid-configuration"
            try:
                response = requests.get(url, timeout=settings.FAILSAFE_OIDC_TIMEOUT)
                response.raise_for_status()
                document = response.json()
            except (requests.RequestException, ValueError) as error:
                raise ProviderUnavailable(f"could not read {url}: {type(error).__name__}") from None
            if not isinstance(document, dict) or document.get("issuer", "").rstrip("/") != issuer:
                raise ProviderUnavailable(f"{url} does not describe the issuer {issuer}")
            _discovered[issuer] = document
        return _discovered[issuer]


_ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": ("FAILSAFE_OIDC_AUTHORIZATION_ENDPOINT", "authorization_endpoint"),
    "OIDC_OP_TOKEN_ENDPOINT": ("FAILSAFE_OIDC_TOKEN_ENDPOINT", "token_endpoint"),
    "OIDC_OP_USER_ENDPOINT": ("FAILSAFE_OIDC_USERINFO_ENDPOINT", "userinfo_endpoint"),
    "OIDC_OP_JWKS_ENDPOINT": ("FAILSAFE_OIDC_JWKS_ENDPOINT", "jwks_uri"),
}


def setting(name: str, *default: Any) -> Any:
    """mozilla-django-oidc's settings, from ours (its views and backend read them through this)."""
    if name in _ENDPOINTS:
        ours, key = _ENDPOINTS[name]
        given = getattr(settings, ours)
        if given:
            return given
        if not settings.FAILSAFE_OIDC_ISSUER:
            raise ImproperlyConfigured(f"Set FAILSAFE_OIDC_ISSUER (for discovery) or {ours}.")
        return _discovery(settings.FAILSAFE_OIDC_ISSUER)[key]
    fixed = {
        "OIDC_RP_CLIENT_ID": settings.FAILSAFE_OIDC_CLIENT_ID,
        "OIDC_RP_CLIENT_SECRET": settings.FAILSAFE_OIDC_CLIENT_SECRET,
        "OIDC_RP_SIGN_ALGO": settings.FAILSAFE_OIDC_SIGN_ALGO,
        "OIDC_RP_SCOPES": settings.FAILSAFE_OIDC_SCOPES,
        "OIDC_RP_IDP_SIGN_KEY": None,
        "OIDC_TIMEOUT": settings.FAILSAFE_OIDC_TIMEOUT,
        "OIDC_AUTHENTICATION_CALLBACK_URL": "sso-callback",
        # State, nonce and PKCE stay on whatever the environment says; tokens are not kept.
        "OIDC_USE_NONCE": True,
        "OIDC_USE_PKCE": True,
        "OIDC_STORE_ACCESS_TOKEN": False,
        "OIDC_STORE_ID_TOKEN": False,
        "OIDC_ALLOW_UNSECURED_JWT": False,
        "OIDC_VERIFY_SSL": True,
    }
    if name in fixed:
        return fixed[name]
    return import_from_settings(name, *default)


def check_configuration() -> None:
    """Raise ImproperlyConfigured for settings that cannot work (a system check calls it)."""
    parse_role_map(settings.FAILSAFE_OIDC_ROLE_MAP)
    if not enabled():
        return
    if not settings.FAILSAFE_OIDC_CLIENT_SECRET:
        raise ImproperlyConfigured("FAILSAFE_OIDC_CLIENT_SECRET must be set with FAILSAFE_OIDC_CLIENT_ID.")
    for ours, _ in _ENDPOINTS.values():
        if not (settings.FAILSAFE_OIDC_ISSUER or getattr(settings, ours)):
            raise ImproperlyConfigured(f"Set FAILSAFE_OIDC_ISSUER (for discovery) or {ours}.")


def local_password_allowed(username: str | None) -> bool:
    return settings.FAILSAFE_LOCAL_PASSWORDS or (username or "") in settings.FAILSAFE_BREAK_GLASS_USERS


# --- signing in ---------------------------------------------------------------------------------------


class SsoRefused(Exception):
    """A sign-in Failsafe does not accept, with what to tell the person and the HTTP status."""

    def __init__(self, code: str, message: str, status: int = 403):
        super().__init__(f"{code}: {message}")
        self.code = code  # no_role, account_exists, inactive, invalid_claims, provider_error, stale
        self.message = message
        self.status = status


def contact() -> str:
    return settings.FAILSAFE_OIDC_CONTACT


def no_role_refusal() -> SsoRefused:
    return SsoRefused(
        "no_role",
        f"You signed in at {provider_name()}, but none of your groups there gives you a role in Failsafe "
        f"(responder, incident commander, leadership, auditor or admin). Ask {contact()} to add you to the "
        "right group, then sign in again.",
    )


def _username_from(claims: Mapping[str, Any], issuer: str, subject: str) -> str:
    wanted = claims.get(settings.FAILSAFE_OIDC_USERNAME_CLAIM)
    if isinstance(wanted, str) and wanted.strip():
        wanted = wanted.strip()
        try:
            User.username_validator(wanted)
            if len(wanted) <= 150:
                return wanted
        except ValidationError:
            pass
    return "sso-" + hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()[:12]


def _profile_from(claims: Mapping[str, Any]) -> dict[str, str]:
    """Name and email as the provider states them; an email it marks unverified is not taken."""

    def text(name: str, limit: int) -> str:
        value = claims.get(name)
        return value.strip()[:limit] if isinstance(value, str) else ""

    email = text("email", 254) if claims.get("email_verified", True) is not False else ""
    try:
        User._meta.get_field("email").run_validators(email) if email else None
    except ValidationError:
        email = ""
    return {"email": email, "first_name": text("given_name", 150), "last_name": text("family_name", 150)}


def _sync_roles(actor: Actor, user: User, roles: frozenset[Role]) -> None:
    """Give the user exactly `roles` among the five role groups (other groups are left alone)."""
    role_names = {role.value for role in ALL_ROLES}
    before = sorted(user.groups.filter(name__in=role_names).values_list("name", flat=True))
    after = sorted(role.value for role in roles)
    if before == after:
        return
    user.groups.remove(*Group.objects.filter(name__in=set(before) - set(after)))
    user.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in sorted(set(after) - set(before))))
    ledger.record(
        actor=actor,
        verb=AccountEvent.ROLES_CHANGED,
        obj=user,
        before={"user": user.username, "roles": before},
        after={"user": user.username, "roles": after},
        reason=f"groups at {provider_name()}, read at sign-in",
    )


def _refuse(actor: Actor, refusal: SsoRefused, *, user: User | None, subject: str, details: dict) -> SsoRefused:
    ledger.record(
        actor=actor,
        verb=AccountEvent.SSO_SIGN_IN_REFUSED,
        obj=user,
        object_type="" if user else "accounts.ssoidentity",
        object_id="" if user else subject[:64],
        after={"code": refusal.code, "subject": subject, **details},
        reason=refusal.code.replace("_", " "),
    )
    logger.warning("single sign-on refused (%s) for subject %s", refusal.code, subject)
    return refusal


def sso_sign_in(*, actor: Actor, issuer: str, claims: Mapping[str, Any]) -> User:
    """The account the provider's claims sign in to, created or brought up to date; or SsoRefused.

    `actor` carries the request's id and address (no user yet). A refusal is recorded on the
    ledger, and a role removed at the provider is removed here before a refusal for having none.
    """
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise SsoRefused("invalid_claims", "The identity provider's answer has no usable subject (sub).", 400)
    roles = configured_roles(claims)
    username = _username_from(claims, issuer, subject)
    profile = _profile_from(claims)
    details = {"username": username, "claim_values": claim_values(claims, settings.FAILSAFE_OIDC_ROLES_CLAIM)[:50]}
    with transaction.atomic():
        identity = SsoIdentity.objects.select_for_update().filter(issuer=issuer, subject=subject).first()
        if identity is None:
            outcome: User | SsoRefused = _first_sign_in(actor, issuer, subject, username, profile, roles, details)
        else:
            outcome = _next_sign_in(actor, identity, username, profile, roles, details)
    if isinstance(outcome, SsoRefused):
        raise outcome
    return outcome


def _first_sign_in(actor, issuer, subject, username, profile, roles, details) -> User | SsoRefused:
    if not roles:
        return _refuse(actor, no_role_refusal(), user=None, subject=subject, details=details)
    taken = User.objects.filter(username__iexact=username)
    if profile["email"]:
        taken = taken | User.objects.filter(email__iexact=profile["email"])
    if taken.exists():
        refusal = SsoRefused(
            "account_exists",
            f"Failsafe already has an account with your username or email address, and it is not linked to "
            f"your {provider_name()} account. Ask {contact()} to link them; until then you cannot sign in here.",
        )
        return _refuse(actor, refusal, user=None, subject=subject, details=details)
    user = User(username=username, **profile)
    user.set_unusable_password()  # signs in through the provider only
    user.save()
    SsoIdentity.objects.create(user=user, issuer=issuer, subject=subject, last_sign_in_at=timezone.now())
    actor = replace(actor, user=user)
    ledger.record(
        actor=actor,
        verb=AccountEvent.SSO_ACCOUNT_CREATED,
        obj=user,
        after={"user": username, "subject": subject, "issuer": issuer, **profile},
    )
    _sync_roles(actor, user, roles)
    return user


def _next_sign_in(actor, identity: SsoIdentity, username, profile, roles, details) -> User | SsoRefused:
    user = User.objects.select_for_update().get(pk=identity.user_id)
    actor = replace(actor, user=user)
    if not user.is_active:
        refusal = SsoRefused("inactive", f"Your Failsafe account is switched off. Ask {contact()} why.")
        return _refuse(actor, refusal, user=user, subject=identity.subject, details=details)
    wanted = dict(profile)
    if wanted["email"] and User.objects.filter(email__iexact=wanted["email"]).exclude(pk=user.pk).exists():
        del wanted["email"]  # another account's address: keep this one's, so nothing sent reaches the wrong person
    if username != user.username and not User.objects.filter(username__iexact=username).exclude(pk=user.pk).exists():
        wanted["username"] = username  # renamed at the provider, and the new name is free here
    changed = {field: value for field, value in wanted.items() if getattr(user, field) != value}
    if changed:
        before = {field: getattr(user, field) for field in changed}
        for field, value in changed.items():
            setattr(user, field, value)
        user.save(update_fields=list(changed))
        ledger.record(actor=actor, verb=AccountEvent.SSO_PROFILE_UPDATED, obj=user, before=before, after=changed)
    _sync_roles(actor, user, roles)
    identity.last_sign_in_at = timezone.now()
    identity.save(update_fields=["last_sign_in_at"])
    if not roles:
        return _refuse(actor, no_role_refusal(), user=user, subject=identity.subject, details=details)
    return user


@transaction.atomic
def sso_identity_link(*, actor: Actor, user: User, issuer: str, subject: str) -> SsoIdentity:
    """Link an existing account to a provider subject (an admin's decision), so it signs in through SSO."""
    if SsoIdentity.objects.filter(issuer=issuer, subject=subject).exclude(user=user).exists():
        raise SsoRefused("account_exists", "That subject already signs in to another account.", 409)
    identity, _ = SsoIdentity.objects.update_or_create(user=user, defaults={"issuer": issuer, "subject": subject})
    ledger.record(
        actor=actor,
        verb=AccountEvent.SSO_IDENTITY_LINKED,
        obj=user,
        after={"user": user.username, "issuer": issuer, "subject": subject},
    )
    return identity


@checks.register(checks.Tags.security)
def _check_sso_settings(app_configs, **kwargs) -> list[checks.CheckMessage]:
    try:
        check_configuration()
    except ImproperlyConfigured as error:
        return [checks.Error(str(error), id="accounts.E101")]
    return []
