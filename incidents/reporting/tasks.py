"""Beat task: thin. Routed by name in settings (CELERY_TASK_ROUTES); imported by IncidentsConfig.ready()."""

from celery import shared_task

from accounts.actor import Actor
from incidents.reporting import services


@shared_task(name="incidents.sweep_clocks")
def sweep_clocks() -> int:
    """Start final-report clocks of resolved incidents, then send the reminders that fell due."""
    actor = Actor.system("sweep_clocks")
    return services.clocks_sync(actor=actor) + services.clock_reminders_send(actor=actor)
