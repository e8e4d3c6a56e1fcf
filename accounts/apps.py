from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from accounts import events, lockout, logs  # noqa: F401 - registers ledger verbs; connects the sign-in receiver

        logs.configure()
        logs.connect_celery()
