"""Readiness end to end (issue 12 acceptance): real Celery beat and worker processes check a real
sandbox gateway over HTTP; stopping the gateway turns its deployments' health red within one check
interval, and starting it again turns it back. PostgreSQL and redis-server."""

from __future__ import annotations

import shutil
import time

import pytest
from django.db import connection

from accounts.actor import Actor
from accounts.models import LedgerEvent
from corrections import services
from corrections.models import Actuator, ActuatorCheck
from tests.conftest import skip_or_fail
from tests.corrections.gateway_fixture import start_gateway
from tests.e2e.stack import Stack, database_url, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.real_broker, pytest.mark.slow]

INTERVAL = 3  # s: FAILSAFE_READINESS_INTERVAL_SECONDS for this stack (beat runs the check every 3 s)
SLACK = 4  # s: a busy 2-core machine, the task's trip through the broker, and a refused connection


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, tmp_path_factory):
    """Redis, a worker and beat on the pytest-django test database, checking readiness every INTERVAL s."""
    if connection.vendor != "postgresql":
        skip_or_fail("the readiness end-to-end test needs PostgreSQL (set DATABASE_URL=postgres://...)")
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed")
    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    running = Stack(
        workdir=tmp_path_factory.mktemp("stack"), database_url=url,
        extra_env={"FAILSAFE_READINESS_INTERVAL_SECONDS": str(INTERVAL)},
    )  # fmt: skip
    try:
        running.start_redis()
        running.start_worker()
        running.start_beat()
        yield running
    finally:
        running.stop_all()


def health(slugs) -> dict[str, bool | None]:
    found = dict(Actuator.objects.filter(deployment__slug__in=slugs).values_list("deployment__slug", "ready"))
    checked = set(
        Actuator.objects.filter(deployment__slug__in=slugs, checked_at__isnull=False).values_list(
            "deployment__slug", flat=True
        )
    )
    return {slug: (found[slug] if slug in checked else None) for slug in slugs}


def test_stopping_the_gateway_turns_its_deployments_red_within_one_interval(
    transactional_db, stack, registry, tmp_path
):
    gateway = start_gateway(tmp_path / "sandbox")
    slugs = ("atlas-api", "atlas-chat")
    try:
        for slug in slugs:
            services.actuator_configure(
                actor=Actor.system("e2e_setup", source="command"), deployment=registry[slug],
                base_url=gateway.base_url, secret=gateway.secret, connect_timeout_seconds=1.0,
            )  # fmt: skip
        wait_for(lambda: health(slugs) == {s: True for s in slugs}, timeout=INTERVAL + 20,
                 what="beat to find both actuators ready")  # fmt: skip

        gateway.stop()
        stopped = time.monotonic()
        wait_for(lambda: health(slugs) == {s: False for s in slugs}, timeout=INTERVAL + SLACK + 10,
                 what="beat to find both actuators failing")  # fmt: skip
        took = time.monotonic() - stopped
        assert took <= INTERVAL + SLACK, f"red after {took:.1f} s; the interval is {INTERVAL} s"
        assert LedgerEvent.objects.filter(verb="actuator.failing").count() == 2
        # Several checks ran while it was up, one ledger event each way: changes only.
        assert LedgerEvent.objects.filter(verb="actuator.ready").count() == 2

        gateway.start()  # the same port and state dir
        wait_for(lambda: health(slugs) == {s: True for s in slugs}, timeout=INTERVAL + SLACK + 10,
                 what="beat to find both actuators ready again")  # fmt: skip
        assert ActuatorCheck.objects.filter(ok=False).count() >= 2
    finally:
        gateway.stop()
