"""Health, readiness and metrics over real processes: gunicorn with two workers under
config/gunicorn.conf.py on the PostgreSQL test database, and a redis-server of the test's own
(tests/e2e/stack.py) that the test stops and starts again."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest
import requests
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import skip_or_fail
from tests.e2e.stack import Stack, database_url, wait_for

# transaction=True: the web processes must see committed rows (and pytest-django creates the test database).
pytestmark = [pytest.mark.postgres, pytest.mark.real_broker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TOKEN = "e2e-ops-" + "z" * 40
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, tmp_path_factory):
    if connection.vendor != "postgresql":
        skip_or_fail("the operations end-to-end tests need PostgreSQL (set DATABASE_URL=postgres://...)")
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed")
    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    workdir = tmp_path_factory.mktemp("ops")
    running = Stack(workdir=workdir, database_url=url, extra_env={
        "FAILSAFE_OPS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus"),
    })  # fmt: skip
    try:
        running.start_redis()
        running._spawn("web", [str(Path(sys.executable).parent / "gunicorn"), "-c", "config/gunicorn.conf.py",
                               "config.wsgi", "--bind", f"127.0.0.1:{running.web_port}", "--workers", "2",
                               "--timeout", "60"])  # fmt: skip
        wait_for(running._web_up, timeout=30, what="the web server")
        yield running
    finally:
        running.stop_all()


def _ready(stack) -> requests.Response:
    return requests.get(stack.web_url + "/readyz", headers=AUTH, timeout=5)


def test_readyz_turns_503_within_5_s_of_stopping_redis_and_200_after_it_restarts(stack):
    assert _ready(stack).status_code == 200, stack.log_tail("web")
    stack.stop("redis")
    stopped = time.monotonic()
    wait_for(lambda: _ready(stack).status_code == 503, timeout=5, interval=0.2, what="/readyz to answer 503")
    assert time.monotonic() - stopped < 5
    body = _ready(stack).json()
    assert body["status"] == "not ready"
    # (The cache is not on this Redis: the test environment keeps throttles in process memory.)
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True
    assert requests.get(stack.web_url + "/healthz", headers=AUTH, timeout=5).status_code == 200  # alive all along
    stack.start_redis()
    wait_for(lambda: _ready(stack).status_code == 200, timeout=10, interval=0.2, what="/readyz to answer 200")


def test_ops_endpoints_refuse_without_the_token_over_http(stack):
    for path in ("/healthz", "/readyz", "/-/metrics"):
        assert requests.get(stack.web_url + path, timeout=5).status_code == 403
        wrong = {"Authorization": "Bearer nope"}
        assert requests.get(stack.web_url + path, headers=wrong, timeout=5).status_code == 403


def _healthz_count(stack) -> float:
    text = requests.get(stack.web_url + "/-/metrics", headers=AUTH, timeout=5).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "failsafe_http_requests_total" and s.labels == {
                "route": "ops-healthz", "method": "GET", "status": "200"
            }:  # fmt: skip
                return s.value
    return 0.0


def test_two_workers_counts_are_summed_in_one_scrape(stack):
    before = _healthz_count(stack)
    for _ in range(40):  # a new connection each time: gunicorn's workers share them out
        assert requests.get(stack.web_url + "/healthz", headers=AUTH, timeout=5).status_code == 200
    assert _healthz_count(stack) - before == 40
    pids = {p.stem.rsplit("_", 1)[-1] for p in (stack.workdir / "prometheus").glob("counter_*.db")}
    assert len(pids) >= 2, f"only {pids} wrote counters"


def test_a_worker_logs_json_lines_with_the_task_id_bound(stack):
    import json

    from celery import Celery

    stack.start_worker(concurrency=1)
    client = Celery("e2e-ops", broker=stack.redis_url, set_as_current=False)
    try:
        task_id = client.send_task("accounts.purge_idempotency_records", queue="sweeps").id
    finally:
        client.close()

    def bound_lines():
        lines = []
        for raw in stack.logs["worker"].read_text(errors="replace").splitlines():
            if raw.startswith("{"):
                line = json.loads(raw)
                if line.get("task_id") == task_id:
                    lines.append(line)
        return lines

    wait_for(bound_lines, timeout=30, what="a worker log line carrying the task id")
    assert all(line["task_name"] == "accounts.purge_idempotency_records" for line in bound_lines())
