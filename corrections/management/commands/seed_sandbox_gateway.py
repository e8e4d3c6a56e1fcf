"""`python manage.py seed_sandbox_gateway --spec '{"accounts": [...], "deployments": [...]}'`.

Creates or updates the sandbox gateway's accounts and deployments in its state directory (see
corrections.sandbox.state.seed), whether or not the gateway is running. seed_demo and
bench_dispatch call it with call_command, so that only the gateway's own commands import
corrections.sandbox.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from corrections.sandbox.state import StateError, seed


class Command(BaseCommand):
    help = "Seed the sandbox gateway's accounts and deployments; safe to repeat."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--state-dir",
            default=str(settings.VAR_DIR / "sandbox"),
            help="the gateway's state directory (default var/sandbox)",
        )
        parser.add_argument(
            "--spec",
            required=True,
            help='JSON: {"accounts": [{"account_id", "key", "tier"}], "deployments": [{"slug", "model", '
            '"current_version", "versions"}]}',
        )

    def handle(self, *args, state_dir, spec, **options):
        try:
            data = json.loads(spec)
        except ValueError as exc:
            raise CommandError(f"--spec is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or set(data) - {"accounts", "deployments"}:
            raise CommandError('--spec must be an object with "accounts" and/or "deployments".')
        try:
            result = seed(state_dir, accounts=data.get("accounts") or (), deployments=data.get("deployments") or ())
        except (ValueError, StateError, OSError) as exc:
            raise CommandError(f"Could not seed the sandbox gateway: {exc}") from exc
        self.stdout.write(
            f"Sandbox gateway seeded: {result['accounts']} account(s), {result['deployments']} deployment(s), "
            f"{result['changed']} changed."
        )
