"""`python manage.py run_sandbox_gateway --port 8100`: the sandbox gateway as its own process."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from corrections.sandbox import server
from corrections.sandbox.state import StateError

SECRET_ENV = "FAILSAFE_SANDBOX_SECRET"


class Command(BaseCommand):
    help = (
        "Run the sandbox gateway: a stand-in for a developer's model-serving edge that implements the "
        "actuator contract (docs/actuator-openapi.yaml) and enforces active corrections on POST /v1/generate. "
        "It keeps its own state in --state-dir and never touches the database."
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
        parser.add_argument(
            "--secret",
            default=None,
            help=f"HMAC secret shared with Failsafe; prefer the {SECRET_ENV} environment variable, since a "
            "command-line argument is visible to other users of the machine. Without either, an INSECURE "
            "development secret is used.",
        )

    def handle(self, *args, port, host, state_dir, secret, **options):
        if secret:
            source = "--secret"
        elif os.environ.get(SECRET_ENV):
            secret, source = os.environ[SECRET_ENV], SECRET_ENV
        else:
            secret, source = server.DEV_SECRET, None
            self.stderr.write(
                self.style.WARNING(
                    f"Using the INSECURE development secret; set {SECRET_ENV} for anything but a local demo."
                )
            )
        try:
            server.run(
                host=host,
                port=port,
                state_dir=state_dir,
                secret=secret,
                announce=lambda line: self._announce(line, source),
            )
        except (OSError, StateError) as exc:
            raise CommandError(f"The sandbox gateway could not start: {exc}") from exc

    def _announce(self, line: str, source: str | None) -> None:
        self.stdout.write(f"{line}; secret from {source or 'the INSECURE development default'}")
        self.stdout.flush()
