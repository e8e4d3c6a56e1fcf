"""The Procfile and its runner (config.procfile): what production runs, and how it is counted."""

from __future__ import annotations

import re
import shlex

import pytest
from django.conf import settings

from config.procfile import REPO, plan, read_procfile


def test_the_procfile_runs_web_under_gunicorn_worker_beat_and_the_gateway():
    types = read_procfile(REPO / "Procfile")
    assert list(types) == ["web", "worker", "beat", "gateway"]
    assert shlex.split(types["web"])[:2] == ["gunicorn", "config.wsgi"]
    assert "config/gunicorn.conf.py" in types["web"]
    assert shlex.split(types["beat"])[:4] == ["celery", "-A", "config", "beat"]
    assert "run_sandbox_gateway" in types["gateway"]


def test_the_worker_consumes_every_queue_a_task_is_routed_to():
    worker = shlex.split(read_procfile(REPO / "Procfile")["worker"])
    consumed = set(worker[worker.index("--queues") + 1].split(","))
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed | {settings.CELERY_TASK_DEFAULT_QUEUE} <= consumed


def test_each_worker_gets_its_own_node_name():
    """Two workers on one host named alike confuse Celery's remote control: the runner's PS names them."""
    assert re.search(r"--hostname \"\$\{PS:-worker\}@%h\"", read_procfile(REPO / "Procfile")["worker"])


def test_processes_are_numbered_per_type_with_foremans_ports():
    types = {"web": "gunicorn", "worker": "celery worker", "beat": "celery beat"}
    processes = plan(types, {"web": 2, "worker": 3, "beat": 0}, base_port=9000)
    assert [(p.name, p.port) for p in processes] == [
        ("web.1", 9000), ("web.2", 9001), ("worker.1", 9100), ("worker.2", 9101), ("worker.3", 9102),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "text, error",
    [("web gunicorn\n", "expected `type: command`"), ("web: a\nweb: b\n", "defined twice")],
)
def test_a_malformed_procfile_is_refused_with_its_line(tmp_path, text, error):
    path = tmp_path / "Procfile"
    path.write_text(text)
    with pytest.raises(ValueError, match=error):
        read_procfile(path)


def test_comments_and_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "Procfile"
    path.write_text("# the web\n\nweb: gunicorn x\n")
    assert read_procfile(path) == {"web": "gunicorn x"}


def test_the_gunicorn_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("FAILSAFE_WEB_HOST", "127.0.0.1")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("GUNICORN_TIMEOUT", "45")
    values: dict = {}
    exec((REPO / "config" / "gunicorn.conf.py").read_text(), values)  # as gunicorn reads it
    assert (values["bind"], values["workers"], values["timeout"]) == ("127.0.0.1:8123", 3, 45)
    assert values["accesslog"] == "-"  # the access log goes to stdout
