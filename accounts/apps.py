from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from accounts import events, lockout, logs, sso  # noqa: F401 - ledger verbs; sign-in receiver; SSO checks

        logs.configure()
        logs.connect_celery()
