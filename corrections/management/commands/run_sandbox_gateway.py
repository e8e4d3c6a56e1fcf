"""`python manage.py run_sandbox_gateway --port 8100`: the sandbox gateway as its own process.

It checks the options and the secret here, where Django's settings say whether this is a debug
checkout, then execs gunicorn through corrections/sandbox/serve.py: the same process id, no
Django loaded in the gateway, and the secret passed in the environment rather than argv.
"""

from __future__ import annotations

import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from corrections.connectors.sandbox_secret import DEV_SANDBOX_SECRET, SANDBOX_SECRET_ENV, sandbox_secret_problem

SECRET_ENV = SANDBOX_SECRET_ENV
SERVE_MODULE = "corrections.sandbox.serve"


class Command(BaseCommand):
    help = (
        "Run the sandbox gateway: a stand-in for a developer's model-serving edge that implements the "
        "actuator contract (docs/actuator-openapi.yaml) and enforces active corrections on POST /v1/generate. "
        "It keeps its own state in --state-dir and never touches the database. Served by gunicorn, one "
        "process with --threads threads."
    )
    requires_system_checks: list[str] = []  # the gateway needs no database and no app checks

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8100, help="TCP port; 0 picks a free one (default 8100)")
        parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
        parser.add_argument(
            "--state-dir",
            default=str(settings.VAR_DIR / "sandbox"),
            help="directory for the gateway's state files (default var/sandbox)",
        )
        parser.add_argument("--threads", type=int, default=8, help="request threads (default 8)")
        parser.add_argument(
            "--secret",
            default=None,
            help=f"HMAC secret shared with Failsafe; prefer the {SECRET_ENV} environment variable, since a "
            "command-line argument is visible to other users of the machine. In debug, without either, an "
            "INSECURE development secret is used; outside debug a real secret of 32+ characters is required.",
        )

    def handle(self, *args, port, host, state_dir, threads, secret, **options):
        if secret:
            source = "--secret"
        elif os.environ.get(SECRET_ENV):
            secret, source = os.environ[SECRET_ENV], SECRET_ENV
        else:
            secret, source = DEV_SANDBOX_SECRET, None
        problem = sandbox_secret_problem(secret if source else None)
        if problem and not settings.DEBUG:
            raise CommandError(f"The sandbox gateway refuses to start outside debug: {problem}.")
        if problem:
            self.stderr.write(self.style.WARNING(f"Using an INSECURE secret ({problem}); fine for a local demo only."))
        if not 0 <= port <= 65535:
            raise CommandError("--port must be from 0 to 65535.")
        if threads < 1:
            raise CommandError("--threads must be at least 1.")
        argv = [sys.executable, "-m", SERVE_MODULE, "--host", host, "--port", str(port)]
        argv += ["--state-dir", os.path.abspath(state_dir), "--threads", str(threads)]
        if settings.DEBUG:
            argv.append("--allow-dev-secret")
        self.stdout.write(f"Starting the sandbox gateway; secret from {source or 'the INSECURE development default'}")
        self.stdout.flush()
        self.stderr.flush()
        env = {**os.environ, SECRET_ENV: secret, "PYTHONPATH": _python_path()}
        os.execve(sys.executable, argv, env)  # noqa: S606 - our own interpreter and module, no shell


def _python_path() -> str:
    # The repository first, so `-m corrections.sandbox.serve` imports this checkout from any cwd.
    return os.pathsep.join(p for p in (str(settings.BASE_DIR), os.environ.get("PYTHONPATH")) if p)
