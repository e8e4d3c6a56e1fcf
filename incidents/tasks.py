"""Celery tasks: thin. Routed by name in settings (CELERY_TASK_ROUTES)."""

from celery import shared_task

from accounts.actor import Actor
from incidents.oncall import services as oncall


@shared_task(name="incidents.escalate_pages")
def escalate_pages() -> int:
    return oncall.pages_escalate_due(actor=Actor.system("escalate_pages"))
