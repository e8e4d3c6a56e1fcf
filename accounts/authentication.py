from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.models import ApiToken


class ApiTokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`; keys are looked up by hash and can be revoked."""

    keyword = "Token"

    def authenticate_credentials(self, key):
        token = (
            ApiToken.objects.select_related("user")
            .filter(key_hash=ApiToken.hash_key(key), revoked_at__isnull=True)
            .first()
        )
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token
