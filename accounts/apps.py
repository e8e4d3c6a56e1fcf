from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from accounts import events, lockout, sso  # noqa: F401 - ledger verbs; the sign-in receiver; SSO checks
