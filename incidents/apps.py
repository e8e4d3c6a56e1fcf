from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from config import converters
        from incidents import closing

        # Here, not in config/urls.py: a URL module may be imported on its own (tests do).
        converters.register()
        closing.register_review_placeholder()
