from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from config import converters
        from incidents import events  # noqa: F401 - registers the incidents' ledger verbs
        from incidents.channels import email  # noqa: F401 - registers the email channel
        from incidents.metrics import definitions

        # Here, not in config/urls.py: a URL module may be imported on its own (tests do).
        converters.register()
        definitions.register()

        from incidents.reviews import closing as review_closing
        from incidents.reviews import events as review_events

        review_events.register()
        review_closing.register()

        from incidents.channels import base, slack, webhooks
        from incidents.channels import events as channel_events  # noqa: F401 - registers the channels' verbs

        base.register(slack.SlackChannel())
        base.register(webhooks.WebhookChannel())

        from incidents.reporting import audit as reporting_audit
        from incidents.reporting import events as reporting_events  # noqa: F401 - registers the verbs
        from incidents.reporting import tasks as reporting_tasks  # noqa: F401 - its module is not incidents.tasks

        reporting_audit.register()
