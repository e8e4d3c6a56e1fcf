"""The whole system as real processes, for end-to-end tests and the dispatch benchmark.

A dedicated redis-server (so a test may take the broker down and bring it back), gunicorn
serving the app, a Celery worker, Celery beat and the sandbox gateway — all on PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], object], *, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def database_url(settings_dict: dict) -> str:
    user, host, port = settings_dict["USER"] or "postgres", settings_dict["HOST"] or "127.0.0.1", settings_dict["PORT"]
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port or 5432}/{settings_dict['NAME']}"


class Stack:
    def __init__(self, *, workdir: Path, database_url: str, extra_env: dict[str, str] | None = None):
        self.workdir = workdir
        self.redis_port = free_port()
        self.web_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": self.redis_url,
            "REDIS_URL": self.redis_url,
            "DJANGO_SECRET_KEY": "e2e-" + "k" * 50,
            "DJANGO_DEBUG": "0",
            "FAILSAFE_INSECURE_HTTP": "1",
            "FAILSAFE_MANIFEST_STATIC": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "DATABASE_CONN_MAX_AGE": "0",
            "FAILSAFE_VAR_DIR": str(workdir / "var"),
            "PYTHONUNBUFFERED": "1",
            # Fast failure handling, so fault tests finish in seconds.
            "FAILSAFE_DISPATCH_BACKOFF_BASE": "0.05",
            "FAILSAFE_DISPATCH_BACKOFF_CAP": "0.5",
            "FAILSAFE_DISPATCH_LEASE_SECONDS": "3",
            "FAILSAFE_OUTBOX_RESEND_AFTER": "2",
            **(extra_env or {}),
        }
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        log = self.workdir / f"{name}.log"
        self.logs[name] = log
        handle = log.open("ab")
        process = subprocess.Popen(
            cmd, cwd=REPO, env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes[name] = process
        return process

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs.get(name)
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path and path.exists() else ""

    # --- redis ------------------------------------------------------------------------------------

    def start_redis(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self._spawn("redis", [binary, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no"])  # fmt: skip
        wait_for(self._redis_up, timeout=10, what="redis")

    def _redis_up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.redis_port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    # --- app processes ----------------------------------------------------------------------------

    def start_web(self) -> None:
        self._spawn("web", [str(Path(sys.executable).parent / "gunicorn"), "config.wsgi", "--bind",
                            f"127.0.0.1:{self.web_port}", "--workers", "2", "--timeout", "60"])  # fmt: skip
        wait_for(self._web_up, timeout=30, what="the web server")

    def _web_up(self) -> bool:
        try:
            return requests.get(self.web_url + "/accounts/login/", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def start_worker(self, *, concurrency: int = 2) -> None:
        name = f"e2e-{time.monotonic_ns()}@%h"
        log = self.workdir / "worker.log"
        seen = log.stat().st_size if log.exists() else 0  # a restarted worker appends to its predecessor's log
        self._spawn("worker", [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "info", "-n", name,
                               "-Q", "dispatch,notify,sweeps,default", "--concurrency", str(concurrency),
                               "--without-gossip", "--without-mingle"])  # fmt: skip
        wait_for(lambda: b"ready." in log.read_bytes()[seen:], timeout=30, what="the worker")

    def start_beat(self) -> None:
        self._spawn("beat", [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "info",
                             "-s", str(self.workdir / "beat-schedule")])  # fmt: skip

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass

    def stop_all(self) -> None:
        for name in ["beat", "worker", "web", "redis"]:
            self.stop(name)
        for name in list(self.processes):
            self.stop(name)


class Layout:
    """The production layout: `python -m config.procfile` running the Procfile, DEBUG off.

    One gunicorn with WEB_CONCURRENCY workers, `workers` Celery workers, beat (under its Redis lock)
    and the sandbox gateway, on the given PostgreSQL database and Redis, with static files collected
    as a release would (manifest storage). Its output goes to layout.log in workdir.
    """

    def __init__(self, *, workdir: Path, database_url: str, redis_url: str, web_concurrency: int = 2,
                 workers: int = 2):  # fmt: skip
        self.workdir = workdir
        self.web_port = free_port()
        self.gateway_port = free_port()
        self.counts = {"web": 1, "worker": workers, "beat": 1, "gateway": 1}
        self.log = workdir / "layout.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "DJANGO_SECRET_KEY": "layout-" + secrets.token_urlsafe(40),
            "DJANGO_DEBUG": "0",
            "FAILSAFE_INSECURE_HTTP": "1",  # CI has no TLS; everything else is production
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_STATIC_ROOT": str(workdir / "static"),
            "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",  # CI has no mail server
            "DATABASE_CONN_MAX_AGE": "0",  # the test session truncates tables between tests
            "FAILSAFE_VAR_DIR": str(workdir / "var"),
            "FAILSAFE_SANDBOX_SECRET": "layout-sandbox-" + secrets.token_urlsafe(40),
            "FAILSAFE_SANDBOX_PORT": str(self.gateway_port),
            "WEB_CONCURRENCY": str(web_concurrency),
            "FAILSAFE_WEB_HOST": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
        }
        # Production, not the test session's settings (config/pytest_plugin.py): manifest static, a shared cache.
        for name in ("CELERY_BROKER_URL", "FAILSAFE_CACHE_URL", "FAILSAFE_MANIFEST_STATIC"):
            self.env.pop(name, None)
        self.process: subprocess.Popen | None = None

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self, *, timeout: float = 90) -> None:
        subprocess.run([sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"], cwd=REPO,
                       env=self.env, check=True)  # fmt: skip
        counts = [arg for name, n in self.counts.items() for arg in (f"--{name}", str(n))]
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "config.procfile", "--port", str(self.web_port), *counts],
                cwd=REPO, env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        ready = [f"worker.{n}@" for n in range(1, self.counts["worker"] + 1)]
        try:
            wait_for(self._web_up, timeout=timeout, what="the layout's gunicorn")
            wait_for(lambda: all(self._line_with(name, "ready.") for name in ready), timeout=timeout,
                     what="the layout's Celery workers")  # fmt: skip
            wait_for(lambda: "beat: Acquired lock" in self.output(), timeout=timeout, what="beat's lock")
        except TimeoutError:
            self.stop()
            raise RuntimeError("the production layout did not start:\n" + self.output()[-6000:]) from None

    def _line_with(self, *parts: str) -> str:
        return next((line for line in self.output().splitlines() if all(p in line for p in parts)), "")

    def _web_up(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError("the production layout exited:\n" + self.output()[-6000:])
        try:
            return requests.get(self.web_url + "/accounts/login/", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # the runner stops its processes, then exits
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
