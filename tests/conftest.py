"""Shared fixtures: factories for users and incidents, and the rule for missing services.

Tests that need PostgreSQL, Redis or Chromium skip without them, unless REQUIRE_SERVICES=1
(set by CI), which turns every such skip into a failure.
"""

from __future__ import annotations

import itertools
import os
from datetime import date, time

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.test import APIClient

from accounts.actor import Actor
from accounts.models import User
from accounts.roles import Role
from incidents import services
from incidents.models import AIModel, Deployment, ModelVersion

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES", "") not in ("", "0", "false")
_counter = itertools.count(1)


def skip_or_fail(reason: str) -> None:
    """Skip for a missing service, or fail when CI has said every service must be there."""
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _require_marked_services(request):
    if request.node.get_closest_marker("postgres"):
        from django.db import connection

        if connection.vendor != "postgresql":
            skip_or_fail("this test needs PostgreSQL (set DATABASE_URL=postgres://...)")


@pytest.fixture
def task_sends():
    """Asks for task sends: they are recorded here instead of reaching a broker."""
    return []


@pytest.fixture(autouse=True)
def _no_accidental_task_sends(request, monkeypatch):
    """A test that sends a Celery task without asking (task_sends or real_broker) fails."""
    if request.node.get_closest_marker("real_broker"):
        yield
        return
    from celery import Celery
    from celery.app.task import Task

    asked = "task_sends" in request.fixturenames
    sends = request.getfixturevalue("task_sends") if asked else []
    monkeypatch.setattr(
        Task,
        "apply_async",
        lambda self, args=None, kwargs=None, **options: sends.append((self.name, tuple(args or ()), options)),
    )
    # Sends by name (corrections.outbox) bypass Task.apply_async: catch them where every send ends.
    monkeypatch.setattr(
        Celery,
        "send_task",
        lambda self, name, args=None, kwargs=None, **options: sends.append((name, tuple(args or ()), options)),
    )
    yield
    if sends and not asked:
        pytest.fail(f"test sent Celery tasks it did not ask for: {sends}")


@pytest.fixture
def deliver_notifications(db):
    """Runs every notification delivery that is due, in this process, as the worker would (through
    the real channel: email lands in django.core.mail.outbox); returns their outcomes."""
    from incidents.delivery import deliveries_run_pending

    return deliveries_run_pending


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _evidence_storage(settings, tmp_path):
    """Evidence files land in the test's own directory, never in var/evidence."""
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                     "OPTIONS": {"location": str(tmp_path / "evidence")}},
    }  # fmt: skip


@pytest.fixture(autouse=True)
def _not_reportable_unless_asked(request):
    """The evidence gate (corrections.evidence_gate) asks for evidence before a rollback, capability
    restriction or shutdown on a possibly reportable incident, and with nothing registered every
    incident is possibly reportable. Tests about other things request those corrections freely:
    here every incident is assessed "not reportable", unless the test is marked `evidence_gate`
    (then the hook is left as production has it)."""
    from incidents import reportability

    saved = list(reportability._ANSWER)
    if not request.node.get_closest_marker("evidence_gate"):
        reportability.register(lambda incident: True)
    yield
    reportability._ANSWER[:] = saved


@pytest.fixture
def registry(db):
    """The demo registry: model atlas (2.0 current, 1.9), deployments atlas-api and atlas-chat."""
    atlas, _ = AIModel.objects.get_or_create(name="atlas")
    ModelVersion.objects.get_or_create(name="atlas-1.9", defaults={"model": atlas})
    ModelVersion.objects.get_or_create(name="atlas-2.0", defaults={"model": atlas, "is_current": True})
    api, _ = Deployment.objects.get_or_create(slug="atlas-api", defaults={"name": "Atlas API", "model": atlas})
    chat, _ = Deployment.objects.get_or_create(slug="atlas-chat", defaults={"name": "Atlas chat", "model": atlas})
    return {"model": atlas, "atlas-api": api, "atlas-chat": chat}


@pytest.fixture
def make_user(db):
    def make(role: Role | str | None = Role.RESPONDER, *, username: str | None = None, password: str = "pw-123456!"):
        username = username or f"{role or 'norole'}-{next(_counter)}"
        user = User.objects.create_user(username=username, password=password, email=f"{username}@example.test")
        if role:
            # get_or_create: a transactional test's flush also empties the groups the migration made.
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        return User.objects.get(pk=user.pk)  # fresh: no cached roles

    return make


@pytest.fixture
def actor_for():
    def make(user: User, source: str = "web") -> Actor:
        return Actor(user=user, source=source)

    return make


@pytest.fixture
def client_for(db):
    """A fresh, signed-in browser per user, so several people can act in one test."""

    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def api_for(db):
    """An API client authenticated as the user (tests that need other defaults define their own)."""

    def make(user: User) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def make_incident(db, registry, make_user, actor_for):
    def make(*, by: User | None = None, **fields):
        by = by or make_user(Role.RESPONDER)
        defaults = {
            "title": f"Incident {next(_counter)}",
            "summary": "Something went wrong.",
            "category": "misuse",
            "risk_domain": "cyber",
            "severity": "SEV3",
            "source": "internal_monitoring",
            "deployments": [registry["atlas-api"]],
        }
        return services.incident_create(actor=actor_for(by), **(defaults | fields))

    return make


CBRN_PLAYBOOK = {
    "title": "CBRN uplift via a tool",
    "categories": ["dangerous_capability", "misuse"],
    "risk_domains": ["cbrn"],
    "min_severity": "SEV2",
    "priority": 100,
    "escalation_criteria": [
        {"text": "SEV1 if uplift is confirmed in CBRN", "risk_domain": "cbrn", "signal": "uplift_confirmed",
         "severity": "SEV1"},
    ],
    "steps": ["Preserve the transcripts", "Disable tool use on the deployment", "Brief the RSO"],
    "recommendations": [
        {"type": "disable_capability", "params": {"capability": "tool_use"}, "duration_minutes": 4320,
         "note": "Cut the tool path the uplift used."},
        {"type": "tighten_safeguard", "params": {"safeguard": "cbrn_classifier", "setting": "block"}},
    ],
    "preauthorised_type": "disable_capability",
}  # fmt: skip


@pytest.fixture
def make_playbook(db, registry, make_user, actor_for):
    """A playbook (by default the CBRN one above), written by a new commander; `approve=True` has a
    leader approve its pre-authorisation. Returns the version."""

    def make(slug: str = "cbrn-uplift", *, approve: bool = False, **changes):
        from corrections.playbooks import services as playbooks

        author = make_user(Role.INCIDENT_COMMANDER)
        version = playbooks.playbook_create(actor=actor_for(author), slug=slug, data=CBRN_PLAYBOOK | changes)
        if approve:
            version = playbooks.playbook_preauth_approve(actor=actor_for(make_user(Role.LEADERSHIP)), version=version)
        return version

    return make


LEDGER_TABLE = "incidents_ledgerevent"
LEDGER_TRIGGER = "incidents_ledgerevent_append_only"


@pytest.fixture(scope="session", autouse=True)
def _flush_may_empty_the_ledger():
    """Let the test runner's flush (TRUNCATE between transactional tests) empty the ledger.

    On PostgreSQL a trigger refuses TRUNCATE on the ledger (incidents migration 0003). The flush
    disables it, truncates and re-enables it inside one transaction, so no other session ever
    sees the table unprotected; production code keeps no way around the trigger.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, **kwargs):
        statements = original(self, style, tables, **kwargs)
        if LEDGER_TABLE not in tables or not statements:
            return statements
        table = self.quote_name(LEDGER_TABLE)
        return [
            f"ALTER TABLE {table} DISABLE TRIGGER {LEDGER_TRIGGER};",
            *statements,
            f"ALTER TABLE {table} ENABLE TRIGGER {LEDGER_TRIGGER};",
        ]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield


TRANSACTIONAL = {"transactional_db", "live_server"}


def pytest_collection_modifyitems(items):
    """A transactional test ends with a flush, which also deletes what data migrations seeded
    (the role groups, the default approval policies). Serialized rollback puts the migrated
    state back before each such test, so no test depends on which ran before it."""
    for item in items:
        names = getattr(item, "fixturenames", None)
        marker = item.get_closest_marker("django_db")
        transactional = TRANSACTIONAL & set(names or ()) or (marker and marker.kwargs.get("transaction"))
        if transactional and "django_db_serialized_rollback" not in names:
            names.insert(0, "django_db_serialized_rollback")


@pytest.fixture
def route_values(make_user, make_incident, actor_for, make_playbook):
    """One incident (with a playbook's checklist), correction and signal to fill route parameters with
    (a SEV1 pause request)."""
    from corrections import services as corrections
    from corrections.drills import services as drill_services
    from incidents.integrations.services import integration_create
    from incidents.models import Page, Signal, WebhookEndpoint
    from incidents.oncall import services as oncall

    playbook = make_playbook("route-walk", categories=["misuse"], risk_domains=["cyber"])
    incident = make_incident(severity="SEV1")  # pages leadership
    leader = make_user(Role.LEADERSHIP)
    rotation = oncall.rotation_create(
        actor=actor_for(leader), role=Role.LEADERSHIP, name="Leadership", members=[leader],
        handoff_weekday=0, handoff_time=time(9, 0), start_date=date(2026, 1, 5),
    )  # fmt: skip
    correction = corrections.correction_request(
        actor=actor_for(make_user(Role.RESPONDER)), incident=incident, type="pause_deployment",
        deployment="atlas-chat", params={}, rationale="x",
    )  # fmt: skip
    signal = Signal.objects.create(source="other", title="s")
    endpoint = WebhookEndpoint.objects.create(
        name="hook", url="https://hooks.example.test/", events=["page"], secret="whsec_" + "A" * 43 + "=",
        created_by=incident.reporter,
    )  # fmt: skip
    integration, _ = integration_create(
        actor=actor_for(make_user(Role.ADMIN)), name="route-values", kind="alertmanager"
    )
    drill = drill_services.drill_start(
        actor=actor_for(leader), title="Drill", category="misuse", risk_domain="cyber", severity="SEV3",
    )  # fmt: skip
    report = drill_services.drill_report_make(actor=actor_for(leader), drill=drill)
    from django.core.files.uploadedfile import SimpleUploadedFile

    from incidents.evidence.services import evidence_add
    from incidents.models import SharingRecipient
    from incidents.sharing.services import sharing_create

    evidence = evidence_add(
        actor=actor_for(leader), incident=incident, upload=SimpleUploadedFile("log.txt", b"a log line\n")
    )
    recipient = SharingRecipient.objects.create(name="AI Safety Institute", kind="government", contact="x@example.test")
    share = sharing_create(
        actor=actor_for(leader),
        incident=incident,
        recipient_id=recipient.pk,
        tlp="AMBER",
        fields=["title"],
        purpose="Route walk.",
    )

    # A customer of atlas-api, so a correction there has a notice to reach (issue 13 §5).
    from incidents.customers import services as customers

    admin = actor_for(make_user(Role.ADMIN))
    customer = customers.customer_create(actor=admin, name="Route Customer", deployments=["atlas-api"])
    customers.contact_add(actor=admin, organisation=customer, name="Route", email="route@customer.example")
    noticed = corrections.correction_request(
        actor=actor_for(make_user(Role.RESPONDER)), incident=incident, type="disable_capability",
        deployment="atlas-api", params={"capability": "browsing"}, rationale="x",
    )  # fmt: skip
    return {"<ref:ref>": incident.ref, "<int:pk>": str(correction.pk), "<int:signal_id>": str(signal.pk),
            "<int:seq>": "1", "<int:endpoint_id>": str(endpoint.pk),
            "<int:page_id>": str(Page.objects.get(incident=incident, reason="sev1").pk),
            "<int:rotation_id>": str(rotation.pk), "<int:integration_id>": str(integration.pk),
            "<int:playbook_id>": str(playbook.playbook_id), "<int:number>": str(playbook.number),
            "<int:item_id>": str(incident.checklist.first().pk), "<int:report_id>": str(report.pk),
            "<regime:regime>": "eu_gpai_code",
            "<int:customer_id>": str(customer.pk), "<int:notice_id>": str(noticed.notices.get().pk),
            "<int:evidence_id>": str(evidence.pk), "<int:share_id>": str(share.pk)}  # fmt: skip
