"""Demo data: one login per role, the `atlas` model and its deployments wired to the sandbox
gateway, the gateway's demo accounts, and a few incidents.

Idempotent: a second run changes nothing that is already there. It lives in `corrections`
because it wires actuators (corrections may import incidents, never the reverse).
"""

import json
import os
from datetime import date, time, timedelta

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
from corrections.models import Actuator, Playbook
from corrections.playbooks import services as playbooks
from incidents import services as incident_services
from incidents.channels import services as channel_services
from incidents.channels.local_slack import DEMO_ROLE_CHANNELS
from incidents.customers import services as customers
from incidents.models import (
    AIModel,
    CustomerAccount,
    CustomerOrganisation,
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


# Playbooks (DESIGN §8a): written by the commander; leader1 approves the CBRN one's pre-authorisation.
DEMO_PLAYBOOKS = (
    ("cbrn-uplift-tool", {
        "title": "CBRN uplift via a tool",
        "categories": ["dangerous_capability", "misuse"],
        "risk_domains": ["cbrn"],
        "min_severity": "SEV3",
        "priority": 100,
        "escalation_criteria": [
            {"text": "SEV1 if uplift is confirmed in CBRN by the biosecurity red team", "risk_domain": "cbrn",
             "signal": "uplift_confirmed", "severity": "SEV1"},
            {"text": "SEV2 if the route reproduces on a second deployment", "risk_domain": "cbrn",
             "signal": "reproduced_elsewhere", "severity": "SEV2"},
        ],
        "steps": [
            "Preserve the transcripts and tool-call logs of the reported sessions",
            "Disable tool use on the affected deployment (pre-authorised below)",
            "Raise the CBRN classifier to block on detection",
            "Ask the biosecurity red team to confirm or rule out uplift",
            "Brief the responsible scaling officer",
            "Assess reportability (EU AI Act, SB 53) and record the decision",
        ],
        "recommendations": [
            {"type": "disable_capability", "params": {"capability": "tool_use"}, "duration_minutes": 72 * 60,
             "note": "Cuts the tool path the uplift used; chat without tools keeps working."},
            {"type": "tighten_safeguard", "params": {"safeguard": "cbrn_classifier", "setting": "block"},
             "duration_minutes": 72 * 60, "note": "Blocks flagged completions while the route is studied."},
            {"type": "restrict_use_case", "params": {"use_cases": ["bio_research", "chem_synthesis"]},
             "note": "If uplift is confirmed: forbid the use cases outright."},
        ],
        "preauthorised_type": "disable_capability",
        "note": "First version, from the 2026 tabletop exercise.",
    }),
    ("jailbreak-in-the-wild", {
        "title": "Jailbreak spreading in the wild",
        "categories": ["misuse", "dangerous_behavior"],
        "risk_domains": [],
        "min_severity": "SEV4",
        "priority": 50,
        "escalation_criteria": [
            {"text": "SEV2 if the jailbreak is posted publicly and used by more than 100 accounts",
             "signal": "public_spread", "severity": "SEV2"},
        ],
        "steps": [
            "Collect the jailbreak prompts and the accounts using them",
            "Block the accounts that use it at scale",
            "Tighten the jailbreak detector",
            "Forbid the use cases the jailbreak unlocks",
            "Ship a safety fine-tune or classifier update, then lift",
        ],
        "recommendations": [
            {"type": "block_accounts", "params": {"accounts": ["acct-mallory"]}, "duration_minutes": 7 * 24 * 60,
             "note": "Replace with the accounts seen using the jailbreak."},
            {"type": "tighten_safeguard", "params": {"safeguard": "jailbreak_detector", "setting": "strict"},
             "duration_minutes": 72 * 60},
            {"type": "restrict_use_case", "params": {"use_cases": ["exploit_development"]},
             "duration_minutes": 72 * 60},
        ],
    }),
    ("weight-exfiltration", {
        "title": "Weight exfiltration suspected",
        "categories": ["security"],
        "risk_domains": [],
        "min_severity": "SEV4",
        "priority": 100,
        "escalation_criteria": [
            {"text": "SEV1 if weights are confirmed outside our infrastructure", "signal": "weights_confirmed_out",
             "severity": "SEV1"},
        ],
        "steps": [
            "Page security on-call and open a war room",
            "Rotate serving credentials, API signing keys and storage access keys",
            "Restrict access to identity-verified customers",
            "Pause the deployment the access came through if exfiltration is under way",
            "Preserve access logs; assess the 5-day notice (EU GPAI code of practice)",
        ],
        "recommendations": [
            {"type": "restrict_access_tier", "params": {"allowed_tiers": ["verified", "enterprise"]},
             "duration_minutes": 72 * 60},
            {"type": "pause_deployment", "params": {}, "note": "Only if exfiltration is under way."},
            {"type": "rate_limit", "params": {"scope": "deployment", "requests_per_minute": 100},
             "duration_minutes": 24 * 60},
        ],
    }),
)  # fmt: skip


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
            self._playbooks(users)
            self._customers(users)
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

    def _customers(self, users):
        """Acme Health uses atlas-api: restrictions with 24 h notice after, a withdrawal with 30 days before."""
        if CustomerOrganisation.objects.filter(slug="acme-health").exists():
            return
        actor = Actor.command(users["admin"], "seed_demo")
        CustomerAccount.objects.get_or_create(
            account_id="acct-acme", defaults={"name": "Acme Health production key", "organisation": "Acme Health",
                                              "tier": CustomerAccount.Tier.ENTERPRISE},
        )  # fmt: skip
        acme = customers.customer_create(
            actor=actor, name="Acme Health", slug="acme-health", deployments=["atlas-api"], accounts=["acct-acme"]
        )
        day = 24 * 60
        customers.agreement_create(
            actor=actor, organisation=acme, reference="ACME-MSA-2026", effective_from=date(2026, 1, 1),
            terms=[{"type": kind, "timing": "after", "minutes": day}
                   for kind in ("block_accounts", "rate_limit", "disable_capability")]
            + [{"type": "withdraw_model", "timing": "before", "minutes": 30 * day}],
        )  # fmt: skip
        customers.contact_add(actor=actor, organisation=acme, name="Dana Reyes", email="safety@acme-health.example",
                              role="Head of AI safety")  # fmt: skip

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

    def _playbooks(self, users):
        commander = Actor.command(users["commander"], "seed_demo")
        leader = Actor.command(users["leader1"], "seed_demo")
        for slug, data in DEMO_PLAYBOOKS:
            if Playbook.objects.filter(slug=slug).exists():
                continue
            version = playbooks.playbook_create(actor=commander, slug=slug, data=data)
            if data.get("preauthorised_type"):
                playbooks.playbook_preauth_approve(
                    actor=leader, version=version, comment="Reviewed at the tabletop exercise."
                )

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
