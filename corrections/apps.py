from django.apps import AppConfig


class CorrectionsConfig(AppConfig):
    name = "corrections"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from corrections import audit, closing, metrics, share_fields
        from corrections.playbooks import services as playbooks

        audit.register()
        closing.register()
        metrics.register()
        playbooks.register()
        share_fields.register()
