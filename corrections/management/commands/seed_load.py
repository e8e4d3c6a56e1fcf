"""Data for the load test (load/locustfile.py): the demo data, then many people per role with API
tokens, monitoring integrations and a backlog of incidents. Writes what the locust users need
(usernames, the password, sessions, API tokens, integration tokens, incident refs) to a JSON file readable
only by its owner.

Run it against the load test's own database, never a real one: it prints no secret but writes
tokens to that file. Repeatable: people and integrations are reused (their tokens re-issued), and
incidents are added only up to `--incidents`.
"""

import json
import os
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.test import Client

from accounts.actor import Actor
from accounts.models import User
from accounts.roles import Role
from accounts.services import api_token_issue
from incidents import services as incident_services
from incidents.integrations import services as integrations
from incidents.models import Deployment, Incident, Integration, IntegrationKind

TITLE_PREFIX = "[load] "
ROLES = (
    ("load-responder", Role.RESPONDER),
    ("load-commander", Role.INCIDENT_COMMANDER),
    ("load-leader", Role.LEADERSHIP),
    ("load-auditor", Role.AUDITOR),
)
KINDS = (IntegrationKind.ALERTMANAGER, IntegrationKind.GRAFANA, IntegrationKind.GENERIC)
CATEGORIES = ("dangerous_capability", "misuse", "dangerous_behavior", "security")
RISK_DOMAINS = ("cbrn", "cyber", "autonomy", "other")
SEVERITIES = ("SEV2", "SEV3", "SEV4")


class Command(BaseCommand):
    help = "Seed the load test's database: demo data, people per role with API tokens, integrations, incidents."

    def add_arguments(self, parser):
        parser.add_argument("--people", type=int, default=10, help="people per role (default 10)")
        parser.add_argument("--integrations", type=int, default=2, help="integrations per kind (default 2)")
        parser.add_argument("--incidents", type=int, default=300, help="incidents to have (default 300)")
        parser.add_argument("--password", default="failsafe-load", help="every load user's password")
        parser.add_argument("--out", default=str(settings.VAR_DIR / "load" / "seed.json"), help="where to write")
        parser.add_argument("--gateway-url", default=os.environ.get("FAILSAFE_SANDBOX_URL", "http://127.0.0.1:8100"))
        parser.add_argument("--gateway-state-dir", default=str(settings.VAR_DIR / "load" / "sandbox"))

    def handle(self, *args, people, integrations, incidents, password, out, gateway_url, gateway_state_dir, **opts):
        call_command(
            "seed_demo", "--force", gateway_url=gateway_url, gateway_state_dir=gateway_state_dir, stdout=self.stdout
        )
        admin = User.objects.get(username="admin")
        with transaction.atomic():
            users = {role: self._people(prefix, role, people, password) for prefix, role in ROLES}
            tokens = {
                role.value: [{"username": u.username, "token": api_token_issue(actor=Actor.command(u, "seed_load")),
                              "session": self._session(u)}
                             for u in members]
                for role, members in users.items()
            }  # fmt: skip
            hooks = self._integrations(admin, integrations)
            refs = self._incidents(users[Role.RESPONDER], incidents)
        seed = {
            "password": password,
            "session_cookie": settings.SESSION_COOKIE_NAME,
            "people": tokens,
            "integrations": hooks,
            "incidents": refs,
            "deployments": list(Deployment.objects.order_by("slug").values_list("slug", flat=True)),
        }
        self._analyze()
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(seed, handle, indent=1)
        self.stdout.write(
            self.style.SUCCESS(
                f"Load data ready: {people} people per role, {len(hooks)} integrations, {len(refs)} incidents; "
                f"tokens in {path}"
            )
        )

    def _people(self, prefix: str, role: Role, count: int, password: str) -> list[User]:
        group = Group.objects.get(name=role)
        members = []
        for n in range(1, count + 1):
            user, created = User.objects.get_or_create(
                username=f"{prefix}{n:02d}", defaults={"email": f"{prefix}{n:02d}@load.example"}
            )
            if created:
                user.set_password(password)
                user.save(update_fields=["password"])
            user.groups.add(group)
            members.append(user)
        return members

    def _analyze(self) -> None:
        """Fresh planner statistics, as autovacuum keeps them on a production server (a test
        server may run with it off; then a table grown from empty is planned as if it were)."""
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")

    def _session(self, user: User) -> str:
        """A signed-in session, as after the login form: people sign in once a day, not once per
        simulated visit, and the password hash (deliberately slow) is not what this test measures."""
        client = Client()
        client.force_login(user)
        return client.cookies[settings.SESSION_COOKIE_NAME].value

    def _integrations(self, admin: User, per_kind: int) -> list[dict[str, object]]:
        actor = Actor.command(admin, "seed_load")
        deployment = Deployment.objects.order_by("slug").first()
        hooks = []
        for kind in KINDS:
            for n in range(1, per_kind + 1):
                name = f"load {kind} {n}"
                existing = Integration.objects.filter(name=name, revoked_at__isnull=True).first()
                if existing is None:
                    integration, token = integrations.integration_create(
                        actor=actor, name=name, kind=kind, default_deployment=deployment, default_severity_hint="SEV3"
                    )
                else:
                    integration, token = integrations.integration_rotate(actor=actor, integration=existing)
                hooks.append({"id": integration.pk, "kind": kind, "token": token})
        return hooks

    def _incidents(self, responders: list[User], wanted: int) -> list[str]:
        have = Incident.objects.filter(title__startswith=TITLE_PREFIX).count()
        deployments = list(Deployment.objects.order_by("slug"))
        for n in range(have, wanted):
            incident_services.incident_create(
                actor=Actor.command(responders[n % len(responders)], "seed_load"),
                title=f"{TITLE_PREFIX}backlog incident {n + 1}",
                summary="Seeded for the load test: an incident someone filed earlier.",
                category=CATEGORIES[n % len(CATEGORIES)],
                risk_domain=RISK_DOMAINS[n % len(RISK_DOMAINS)],
                severity=SEVERITIES[n % len(SEVERITIES)],
                deployments=deployments[n % len(deployments) : n % len(deployments) + 1],
            )
        refs = Incident.objects.filter(title__startswith=TITLE_PREFIX).order_by("-pk").values_list("ref", flat=True)
        return list(refs[:wanted])
