"""Celery tasks: thin. Load by id, call a service. Routed by name in settings (CELERY_TASK_ROUTES)."""

from celery import shared_task

from accounts.actor import Actor
from incidents import delivery, reminders
from incidents.notifications import DELIVER_TASK
from incidents.oncall import services as oncall


@shared_task(bind=True, name=DELIVER_TASK, max_retries=None)
def deliver_notification(self, delivery_id: int) -> str:
    outcome = delivery.delivery_deliver(delivery_id=delivery_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.result


@shared_task(name="incidents.relay_deliveries")
def relay_deliveries() -> int:
    return delivery.deliveries_relay()


@shared_task(name="incidents.escalate_pages")
def escalate_pages() -> int:
    return oncall.pages_escalate_due(actor=Actor.system("escalate_pages"))


@shared_task(name="incidents.send_reminders")
def send_reminders() -> int:
    return reminders.follow_ups_remind(actor=Actor.system("send_reminders"))
