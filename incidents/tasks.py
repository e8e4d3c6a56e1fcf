"""Celery tasks: thin. Routed by name in settings (CELERY_TASK_ROUTES)."""

from celery import shared_task

from accounts.actor import Actor
from incidents import reminders


@shared_task(name="incidents.send_reminders")
def send_reminders() -> int:
    return reminders.follow_ups_remind(actor=Actor.system("send_reminders"))
