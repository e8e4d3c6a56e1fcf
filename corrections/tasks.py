"""Celery tasks: thin. Load by id, call corrections.dispatch or a service. Routed by name in settings."""

from celery import shared_task

from accounts.actor import Actor
from corrections import dispatch, reminders, services
from corrections.drills import services as drills
from corrections.outbox import DISPATCH_TASK


@shared_task(bind=True, name=DISPATCH_TASK, max_retries=None)
def dispatch_outbox_entry(self, entry_id: int) -> str:
    outcome = dispatch.dispatch_entry(entry_id=entry_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.result


@shared_task(name="corrections.relay_outbox")
def relay_outbox() -> int:
    return dispatch.outbox_relay()


@shared_task(name="corrections.sweep_expired")
def sweep_expired() -> int:
    return dispatch.corrections_expire()


@shared_task(name="corrections.sweep_deadlines")
def sweep_deadlines() -> int:
    return services.corrections_sweep_deadlines(actor=Actor.system("sweep_deadlines"))


@shared_task(name="corrections.check_readiness")
def check_readiness() -> int:
    return dispatch.actuators_check_due()


@shared_task(name="corrections.send_reminders")
def send_reminders() -> int:
    return reminders.corrections_remind(actor=Actor.system("send_reminders"))


@shared_task(name="corrections.sweep_drills")
def sweep_drills() -> int:
    """Keep the report of every drill that closed, and remind commanders of drills that are due."""
    made = drills.drill_reports_for_closed(actor=Actor.system("drill_reports"))
    return made + drills.drills_remind_due(actor=Actor.system("drill_reminders"))
