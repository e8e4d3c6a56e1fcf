"""Authentication backends: local passwords (switchable off) and single sign-on (accounts.sso).

Both sit behind django-axes's backend, so a locked-out username or address is refused either way.
"""

from __future__ import annotations

import logging
import uuid

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from accounts import client, sso
from accounts.actor import Actor

logger = logging.getLogger(__name__)


class PasswordBackend(ModelBackend):
    """Django's password check, refused with FAILSAFE_LOCAL_PASSWORDS=0 unless the username is a
    break-glass account. It applies to every password form: the sign-in page, the admin's, and
    the API's token endpoint. A session opened by password ends when passwords are switched off."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if password is None or not sso.local_password_allowed(username):
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)

    def get_user(self, user_id):
        user = super().get_user(user_id)
        if user is not None and not sso.local_password_allowed(user.get_username()):
            return None
        return user


class OidcBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's code flow with Failsafe's account rules (accounts.sso.sso_sign_in).

    Answers only the callback view's call (which passes the session's nonce); a refusal is left on
    the request (`sso_refusal`) for the callback to show, never raised as a 500.
    """

    get_settings = staticmethod(sso.setting)

    def __init__(self, *args, **kwargs):
        # Settings are read when a sign-in happens, not here: Django builds every backend for each
        # password check, which must not need the provider (or its discovery document).
        self.UserModel = get_user_model()

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self):  # noqa: N802 - the names mozilla-django-oidc reads
        return sso.setting("OIDC_OP_TOKEN_ENDPOINT")

    @property
    def OIDC_OP_USER_ENDPOINT(self):  # noqa: N802
        return sso.setting("OIDC_OP_USER_ENDPOINT")

    @property
    def OIDC_OP_JWKS_ENDPOINT(self):  # noqa: N802
        return sso.setting("OIDC_OP_JWKS_ENDPOINT")

    @property
    def OIDC_RP_CLIENT_ID(self):  # noqa: N802
        return sso.setting("OIDC_RP_CLIENT_ID")

    @property
    def OIDC_RP_CLIENT_SECRET(self):  # noqa: N802
        return sso.setting("OIDC_RP_CLIENT_SECRET")

    @property
    def OIDC_RP_SIGN_ALGO(self):  # noqa: N802
        return sso.setting("OIDC_RP_SIGN_ALGO")

    @property
    def OIDC_RP_IDP_SIGN_KEY(self):  # noqa: N802
        return None

    def authenticate(self, request, **kwargs):
        if request is None or "nonce" not in kwargs or not sso.enabled():
            return None
        try:
            return super().authenticate(request, **kwargs)
        except sso.SsoRefused as refusal:
            request.sso_refusal = refusal
        except (requests.RequestException, sso.ProviderUnavailable) as error:
            # The provider refused the code (used already, expired) or could not be reached.
            status = getattr(getattr(error, "response", None), "status_code", None)
            logger.warning("single sign-on: the provider did not complete the sign-in (%s, %s)",
                           type(error).__name__, status)  # fmt: skip
            request.sso_refusal = sso.SsoRefused(
                "provider_error",
                f"{sso.provider_name()} did not complete the sign-in (the link may have been used already, or "
                "the provider could not be reached). Start again from the sign-in page.",
                400 if status and 400 <= status < 500 else 502,
            )
        except (jwt.PyJWTError, SuspiciousOperation) as error:
            logger.warning("single sign-on: the provider's tokens were refused (%s: %s)", type(error).__name__, error)
            request.sso_refusal = sso.SsoRefused(
                "invalid_token", "The identity provider's answer could not be verified. Start again.", 400
            )
        return None

    def verify_token(self, token, **kwargs):
        """The ID token's signature and nonce (mozilla-django-oidc), and its issuer and audience."""
        payload = super().verify_token(token, **kwargs)
        issuer = settings.FAILSAFE_OIDC_ISSUER
        if issuer and str(payload.get("iss", "")).rstrip("/") != issuer:
            raise SuspiciousOperation("ID token from another issuer")
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("ID token for another client")
        return payload

    def get_or_create_user(self, access_token, id_token, payload):
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if not isinstance(userinfo, dict) or userinfo.get("sub") != payload.get("sub"):
            raise sso.SsoRefused("invalid_claims", "The identity provider's answers disagree about who you are.", 400)
        actor = Actor(
            user=None,
            source="web",
            task="single sign-on",
            request_id=getattr(self.request, "request_id", "") or uuid.uuid4().hex,
            client_ip=client.client_ip(self.request),
        )
        issuer = settings.FAILSAFE_OIDC_ISSUER or str(payload.get("iss", ""))
        return sso.sso_sign_in(actor=actor, issuer=issuer, claims={**payload, **userinfo})

    def get_user(self, user_id):
        return ModelBackend.get_user(self, user_id)
