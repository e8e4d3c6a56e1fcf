from django.apps import AppConfig


class CorrectionsConfig(AppConfig):
    name = "corrections"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from corrections import audit, closing, metrics, observe, share_fields
        from corrections.catalogue import TYPES
        from corrections.customers import audit as customer_audit
        from corrections.playbooks import services as playbooks
        from incidents.customers import register_correction_types

        audit.register()
        customer_audit.register()
        closing.register()
        metrics.register()
        observe.register()
        playbooks.register()
        register_correction_types({key: t.label for key, t in TYPES.items()})
        share_fields.register()
