"""Demo data: one login per role, the `atlas` model and its deployments wired to the sandbox
gateway, the gateway's demo accounts, and a few incidents.

Idempotent: a second run changes nothing that is already there. It lives in `corrections`
because it wires actuators (corrections may import incidents, never the reverse).
"""

import json
import os
from datetime import time, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.actor import Actor
from accounts.models import User
from accounts.roles import Role
from corrections import services
from corrections.connectors.sandbox_secret import DEV_SANDBOX_SECRET, SANDBOX_SECRET_ENV
from corrections.models import Actuator
from incidents import services as incident_services
from incidents.channels import services as channel_services
from incidents.channels.local_slack import DEMO_ROLE_CHANNELS
from incidents.models import (
    AIModel,
    CustomerAccount,
    Deployment,
    Incident,
    ModelVersion,
    Rotation,
    SlackIdentity,
    SlackRoleChannel,
)
from incidents.oncall import services as oncall

DEMO_USERS = (
    ("responder", Role.RESPONDER, "Riley", "Responder"),
    ("commander", Role.INCIDENT_COMMANDER, "Casey", "Commander"),
    ("leader1", Role.LEADERSHIP, "Lee", "One"),
    ("leader2", Role.LEADERSHIP, "Lou", "Two"),
    ("auditor", Role.AUDITOR, "Avery", "Auditor"),
    ("admin", Role.ADMIN, "Ada", "Admin"),
)

DEMO_ACCOUNTS = (
    ("acct-alice", "Alice (verified researcher)", "verified"),
    ("acct-bob", "Bob (standard customer)", "standard"),
    ("acct-mallory", "Mallory (free tier)", "free"),
)

GATEWAY_DEPLOYMENTS = [
    {"slug": "atlas-api", "model": "atlas", "current_version": "atlas-2.0", "versions": ["atlas-1.9"]},
    {"slug": "atlas-chat", "model": "atlas", "current_version": "atlas-2.0", "versions": ["atlas-1.9"]},
]
DEFAULT_GATEWAY_URL = os.environ.get("FAILSAFE_SANDBOX_URL", "http://127.0.0.1:8100")

DEMO_INCIDENTS = (
    {
        "title": "Jailbreak prompt yields step-by-step synthesis route",
        "summary": "Red team found a multi-turn jailbreak on atlas-chat producing detailed uplift.",
        "category": "dangerous_capability",
        "risk_domain": "cbrn",
        "severity": "SEV2",
        "source": "red_team",
        "deployments": ["atlas-chat"],
        "status": "responding",
    },
    {
        "title": "Automated account farm scraping exploit code",
        "summary": "Abuse classifier flagged a cluster of API keys generating malware variants.",
        "category": "misuse",
        "risk_domain": "cyber",
        "severity": "SEV3",
        "source": "internal_monitoring",
        "deployments": ["atlas-api"],
        "status": "triaged",
    },
    {
        "title": "Model refuses shutdown instruction in agentic eval",
        "summary": "External researcher reports resistance to operator instructions in a tool-use harness.",
        "category": "dangerous_behavior",
        "risk_domain": "autonomy",
        "severity": "SEV4",
        "source": "external_researcher",
        "deployments": ["atlas-api", "atlas-chat"],
        "status": "reported",
    },
)


class Command(BaseCommand):
    help = "Create demo users (one per role), the atlas model and deployments, and a few incidents."

    def add_arguments(self, parser):
        parser.add_argument("--password", default="failsafe-demo", help="password for every demo user")
        parser.add_argument("--force", action="store_true", help="run even with DEBUG off")
        parser.add_argument("--gateway-url", default=DEFAULT_GATEWAY_URL, help="the sandbox gateway's URL")
        parser.add_argument(
            "--gateway-state-dir",
            default=str(settings.VAR_DIR / "sandbox"),
            help="the sandbox gateway's state directory (its accounts are seeded there)",
        )

    def handle(self, *args, password, force, gateway_url, gateway_state_dir, **options):
        if not settings.DEBUG and not force:
            raise CommandError("Refusing to seed demo users with DEBUG off; pass --force if you mean it.")
        with transaction.atomic():
            users = self._users(password)
            self._registry()
            self._actuators(gateway_url)
            self._rotations(users)
            self._incidents(users)
            self._slack(users)
        self._gateway(gateway_state_dir)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        for username, role, *_ in DEMO_USERS:
            self.stdout.write(f"  {username:<10} {role.value:<20} password: {password}")

    def _users(self, password):
        users = {}
        for username, role, first, last in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"first_name": first, "last_name": last, "email": f"{username}@failsafe.example"},
            )
            if created:
                user.set_password(password)
                user.is_staff = role == Role.ADMIN
                user.is_superuser = role == Role.ADMIN
                user.save()
            user.groups.add(Group.objects.get(name=role))
            users[username] = user
        return users

    def _rotations(self, users):
        """Leadership: leader1 and leader2 take a week each, handing off Mondays 09:00 London
        time; commanders: one member (the demo has one). Created once, kept as edited."""
        actor = Actor.command(users["admin"], "seed_demo")
        monday = timezone.localdate() - timedelta(days=timezone.localdate().weekday())
        for role, name, members in (
            (Role.LEADERSHIP, "Leadership on call", ["leader1", "leader2"]),
            (Role.INCIDENT_COMMANDER, "Incident commanders on call", ["commander"]),
        ):
            if not Rotation.objects.filter(role=role).exists():
                oncall.rotation_create(
                    actor=actor, role=role, name=name, time_zone="Europe/London",
                    members=[users[m] for m in members], handoff_weekday=0, handoff_time=time(9, 0),
                    start_date=monday,
                )  # fmt: skip

    def _registry(self):
        atlas, _ = AIModel.objects.get_or_create(name="atlas", defaults={"description": "Frontier assistant model."})
        now = timezone.now()
        ModelVersion.objects.get_or_create(
            name="atlas-1.9", defaults={"model": atlas, "released_at": now - timedelta(days=120)}
        )
        ModelVersion.objects.get_or_create(
            name="atlas-2.0", defaults={"model": atlas, "released_at": now - timedelta(days=14), "is_current": True}
        )
        Deployment.objects.get_or_create(
            slug="atlas-api", defaults={"name": "Atlas public API", "model": atlas, "surface": "api"}
        )
        Deployment.objects.get_or_create(
            slug="atlas-chat", defaults={"name": "Atlas chat app", "model": atlas, "surface": "chat"}
        )
        # No actuator reaches it: readiness shows it missing, and corrections on it are manual steps.
        Deployment.objects.get_or_create(
            slug="atlas-eu", defaults={"name": "Atlas EU region", "model": atlas, "surface": "api", "region": "eu"}
        )
        for account_id, name, tier in DEMO_ACCOUNTS:
            CustomerAccount.objects.get_or_create(account_id=account_id, defaults={"name": name, "tier": tier})

    def _actuators(self, gateway_url):
        secret = os.environ.get(SANDBOX_SECRET_ENV) or DEV_SANDBOX_SECRET
        actor = Actor.system("seed_demo", source="command")
        for deployment in Deployment.objects.filter(slug__in=[d["slug"] for d in GATEWAY_DEPLOYMENTS]):
            actuator = Actuator.objects.filter(deployment=deployment).first()
            if actuator is None or actuator.base_url != gateway_url or actuator.secret != secret:
                services.actuator_configure(actor=actor, deployment=deployment, base_url=gateway_url, secret=secret)

    def _gateway(self, state_dir):
        accounts = [{"account_id": a, "key": f"sk-demo-{a.removeprefix('acct-')}", "tier": t}
                    for a, _, t in DEMO_ACCOUNTS]  # fmt: skip
        spec = json.dumps({"accounts": accounts, "deployments": GATEWAY_DEPLOYMENTS})
        # Through the gateway's own command: no app imports corrections.sandbox.
        call_command("seed_sandbox_gateway", state_dir=state_dir, spec=spec, stdout=self.stdout)

    def _slack(self, users):
        """Route each role to its channel in the local Slack stand-in, and give each demo user a member id."""
        actor = Actor(user=users["admin"], source="command")
        for role, (channel_id, _) in DEMO_ROLE_CHANNELS.items():
            if not SlackRoleChannel.objects.filter(role=role).exists():
                channel_services.slack_role_channel_set(actor=actor, role=role, channel_id=channel_id)
        for username, user in users.items():
            if not SlackIdentity.objects.filter(user=user).exists():
                member_id = "U0" + username.upper()
                channel_services.slack_identity_set(actor=actor, user=user, member_id=member_id)

    def _incidents(self, users):
        if Incident.objects.exists():
            return
        responder = Actor.command(users["responder"], "seed_demo")
        commander = Actor.command(users["commander"], "seed_demo")
        deployments = {d.slug: d for d in Deployment.objects.all()}
        for spec in DEMO_INCIDENTS:
            spec = dict(spec)
            status = spec.pop("status")
            spec["deployments"] = [deployments[slug] for slug in spec["deployments"]]
            incident = incident_services.incident_create(actor=responder, **spec)
            if status != "reported":
                incident_services.incident_assign(actor=commander, incident=incident, commander=users["commander"])
                incident_services.incident_edit(
                    actor=commander, incident=incident, changes={"status": "triaged"}, reason="Confirmed by on-call."
                )
            if status == "responding":
                incident_services.incident_edit(
                    actor=commander, incident=incident, changes={"status": "responding"}, reason="Team assembled."
                )
                incident_services.timeline_entry_add(
                    actor=commander,
                    incident=incident,
                    kind="decision",
                    body="Keep atlas-chat up while the jailbreak is patched; watch the classifier.",
                    options_considered="Pause atlas-chat; tighten the CBRN classifier; do nothing.",
                    rationale="The route needs many turns; tightening the classifier blocks it without an outage.",
                )
