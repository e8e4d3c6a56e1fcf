import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("failsafe")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _unprefixed_redbeat_settings(sender: Celery, **kwargs: object) -> None:
    """celery-redbeat 2.4 looks for `redbeat_*` keys and does not see the CELERY_ namespace: copy them."""
    for key in [key for key in sender.conf if key.startswith("CELERY_REDBEAT_")]:
        sender.conf[key.removeprefix("CELERY_").lower()] = sender.conf[key]
