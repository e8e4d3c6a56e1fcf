"""`python -m corrections.sandbox.serve`: the sandbox gateway's WSGI app under gunicorn.

`python manage.py run_sandbox_gateway` checks its options and execs this; it needs no Django.
The secret comes from FAILSAFE_SANDBOX_SECRET (never argv, which other users can read).

One worker process with threads: the state is on disk under an flock (state.py), but the fault
injection list lives in the worker's memory, so a second process would not see it. Gunicorn's
access log writes one line per request — method, path, status, seconds — and nothing else, so
no secret, signature or account key. SIGTERM or SIGINT (Ctrl-C) stops it: it stops accepting,
the requests in flight finish (SIGTERM waits up to GRACEFUL_SECONDS; on SIGINT the worker's
threads are joined as it exits), and it exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import sys

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.workers.gthread import ThreadWorker

from corrections.connectors.sandbox_secret import SANDBOX_SECRET_ENV, sandbox_secret_problem
from corrections.sandbox.app import create_application
from corrections.sandbox.state import StateError

DEFAULT_THREADS = 8
GRACEFUL_SECONDS = 10
KEEPALIVE_SECONDS = 120  # Failsafe's connector reuses its connection between calls
ACCESS_LOG_FORMAT = "%(m)s %(U)s %(s)s %(L)ss"


class PromptStopWorker(ThreadWorker):
    """Gunicorn's threaded worker, woken by a signal rather than noticing it within a second."""

    def run(self) -> None:
        # The signal wake-up pipe in the loop's poller: a stop is noticed at once, not up to 1 s later.
        self.poller.register(self.PIPE[0], selectors.EVENT_READ, self._drain_wakeups)
        super().run()

    def _drain_wakeups(self, fd: int) -> None:
        with contextlib.suppress(BlockingIOError):  # another thread's select already drained it
            os.read(fd, 4096)


class GatewayServer(BaseApplication):
    def __init__(self, app, *, bind: str, threads: int, announce: str):
        self._app = app
        self._options = {
            "bind": [bind],
            "workers": 1,
            "worker_class": PromptStopWorker,
            "threads": threads,
            "keepalive": KEEPALIVE_SECONDS,
            "graceful_timeout": GRACEFUL_SECONDS,
            "accesslog": "-",
            "access_log_format": ACCESS_LOG_FORMAT,
            "errorlog": "-",
            "loglevel": "info",
            "proc_name": "failsafe-sandbox-gateway",
            "when_ready": lambda arbiter: _announce(arbiter, announce),
        }
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)

    def load(self):
        return self._app


def _announce(arbiter: Arbiter, state_dir: str) -> None:
    # Tests and bench_dispatch read the bound port (--port 0 picks one) from this line.
    for listener in arbiter.LISTENERS:
        print(f"Sandbox gateway listening on {listener} (state in {state_dir})", flush=True)


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corrections.sandbox.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100, help="0 picks a free port")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument(
        "--allow-dev-secret",
        action="store_true",
        help="accept the public development secret or a short one (run_sandbox_gateway passes it in debug only)",
    )
    options = parser.parse_args(argv)
    secret = os.environ.get(SANDBOX_SECRET_ENV, "")
    problem = "no secret is set" if not secret else None if options.allow_dev_secret else sandbox_secret_problem(secret)
    if problem:
        print(f"The sandbox gateway refuses to start: {problem}.", file=sys.stderr)
        return 2
    if options.threads < 1:
        parser.error("--threads must be at least 1")
    try:
        app = create_application(state_dir=options.state_dir, secret=secret)  # unreadable state fails here, early
    except (OSError, StateError) as exc:
        print(f"The sandbox gateway could not start: {exc}", file=sys.stderr)
        return 1
    state_dir = str(app.gateway.store.dir)
    GatewayServer(app, bind=_bind(options.host, options.port), threads=options.threads, announce=state_dir).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
