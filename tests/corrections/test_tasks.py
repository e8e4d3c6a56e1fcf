import pytest
from django.conf import settings

from config.celery import app


def our_tasks():
    app.loader.import_default_modules()
    return sorted(name for name in app.tasks if not name.startswith("celery."))


def test_every_task_is_routed_to_a_named_queue():
    tasks = our_tasks()
    assert tasks, "no tasks were discovered"
    unrouted = [name for name in tasks if name not in settings.CELERY_TASK_ROUTES]
    assert unrouted == []
    queues = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert queues <= {"dispatch", "notify", "sweeps", "default"}


def test_worker_settings_survive_crashes():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1


def test_broker_visibility_timeout_outlasts_any_task():
    assert app.conf.broker_transport_options["visibility_timeout"] > app.conf.task_time_limit


def test_beat_schedules_only_routed_tasks():
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in settings.CELERY_TASK_ROUTES


def test_a_broker_outage_costs_one_timeout_per_batch_not_one_per_entry(monkeypatch):
    from celery import Celery

    from corrections import outbox

    calls = []

    def down(self, *args, **kwargs):
        calls.append(1)
        raise ConnectionError("broker down")

    monkeypatch.setattr(Celery, "send_task", down)
    assert outbox.send([1, 2, 3]) == 0
    assert len(calls) == 1


def test_the_outbox_sends_a_registered_task_routed_to_the_dispatch_queue():
    from corrections import outbox

    assert outbox.DISPATCH_TASK in our_tasks()
    assert settings.CELERY_TASK_ROUTES[outbox.DISPATCH_TASK] == {"queue": "dispatch"}


@pytest.mark.django_db
def test_an_outbox_send_by_name_is_recorded_by_the_strict_fixture_not_sent(task_sends):
    from corrections import outbox

    assert outbox.send([42]) == 1
    assert [(name, args) for name, args, _ in task_sends] == [("corrections.dispatch_outbox_entry", (42,))]
