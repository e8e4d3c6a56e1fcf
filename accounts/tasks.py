"""Celery tasks: thin. Routed by name in settings (CELERY_TASK_ROUTES)."""

from celery import shared_task

from accounts import idempotency


@shared_task(name="accounts.purge_idempotency_records")
def purge_idempotency_records() -> int:
    return idempotency.idempotency_records_purge()
