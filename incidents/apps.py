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

        from incidents import audit
        from incidents.reports import bundle as report_bundle

        audit.register_section(
            audit.AuditSection(
                key="reports", title="Regulator reports", build=report_bundle.reports_for_bundle,
                template="incidents/reports/audit_section.html",
            )
        )  # fmt: skip

        from incidents.channels import base, slack, webhooks
        from incidents.channels import events as channel_events  # noqa: F401 - registers the channels' verbs

        base.register(slack.SlackChannel())
        base.register(webhooks.WebhookChannel())

        from incidents.reporting import audit as reporting_audit
        from incidents.reporting import events as reporting_events  # noqa: F401 - registers the verbs
        from incidents.reporting import tasks as reporting_tasks  # noqa: F401 - its module is not incidents.tasks

        reporting_audit.register()

        from incidents.reporting import services as reporting_services
        from incidents.reports import hooks as report_hooks

        report_hooks.on_submitted(reporting_services.clock_meet_by_report)  # a filed report meets its clock

        from incidents import reportability
        from incidents.reporting import selectors as reporting_selectors

        reportability.register(reporting_selectors.reportability_is_no)  # the evidence gate's question

        from incidents.evidence import audit as evidence_audit
        from incidents.evidence import events as evidence_events  # noqa: F401 - registers evidence's verbs
        from incidents.sharing import events as sharing_events  # noqa: F401 - registers sharing's verbs

        evidence_audit.register()
