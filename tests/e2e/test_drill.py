"""A drill end to end (issue 12, Acceptance): over real processes — gunicorn, a Celery worker and
beat on Redis (tests/e2e/stack.py), and a sandbox gateway process — driven through the HTTP API
with API tokens, as tests/e2e/test_dispatch.py drives a real correction.

A commander starts a drill; a responder requests a tier-2 `disable_capability`; another commander
approves it; the worker dispatches it with `dry_run` and verifies it; the gateway records it and
`/v1/generate` is NOT blocked. The correction is lifted, the drill closed, and beat keeps its report:
every phase is timed and names who was slowest. The drill appears in no metric and has no regulator
bundle. (Tampering with the signed body to drop dry_run is refused by the gateway:
tests/corrections/test_drills.py::test_stripping_dry_run_from_a_signed_body_breaks_the_signature.)
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from accounts.actor import Actor
from accounts.roles import Role
from corrections import services
from corrections.drills.phases import PHASE_KEYS
from corrections.models import Correction, DrillReport, OutboxEntry, State
from incidents.models import CustomerAccount
from tests.corrections.gateway_fixture import start_gateway
from tests.e2e.stack import wait_for
from tests.e2e.test_dispatch import _logs, _token_for, stack  # noqa: F401 (the module's stack fixture)

pytestmark = [pytest.mark.postgres, pytest.mark.real_broker, pytest.mark.slow]

DISPATCH = 20.0  # s: approval to verified at the edge, on a busy 2-core machine
BEAT = 90.0  # s: the drill sweep runs every 60 s


@pytest.fixture
def drill_world(transactional_db, stack, tmp_path, make_user, registry):  # noqa: F811
    users = {
        "commander": make_user(Role.INCIDENT_COMMANDER, username="commander"),
        "commander2": make_user(Role.INCIDENT_COMMANDER, username="commander2"),
        "responder": make_user(Role.RESPONDER, username="responder"),
        "leader1": make_user(Role.LEADERSHIP, username="leader1"),
    }
    for account_id, tier in (("acct-alice", "verified"), ("acct-bob", "standard"), ("acct-mallory", "free")):
        CustomerAccount.objects.create(account_id=account_id, tier=tier)
    gateway = start_gateway(tmp_path / "sandbox")
    setup = Actor.system("e2e_setup", source="command")
    services.actuator_configure(
        actor=setup, deployment=registry["atlas-api"], base_url=gateway.base_url, secret=gateway.secret,
        connect_timeout_seconds=1.0, read_timeout_seconds=10.0,
    )  # fmt: skip
    sessions = {}
    for name, user in users.items():
        sessions[name] = requests.Session()
        sessions[name].headers["Authorization"] = f"Token {_token_for(user)}"
    try:
        yield stack, gateway, sessions
        wait_for(
            lambda: not OutboxEntry.objects.filter(done_at__isnull=True).exists(),
            timeout=30, what="the outbox to be empty before the flush",
        )  # fmt: skip
    finally:
        for session in sessions.values():
            session.close()
        gateway.stop()


def test_a_drill_runs_end_to_end_as_a_dry_run_and_its_report_times_every_phase(drill_world):
    running, gateway, sessions = drill_world

    def api(who: str, method: str, path: str, body: dict | None = None, *, expect: int = 200):
        response = sessions[who].request(method, f"{running.web_url}/api/v1{path}", json=body, timeout=30)
        assert response.status_code == expect, (
            f"{method} {path} as {who}: {response.status_code} {response.text[:2000]}\n{_logs(running, gateway)}"
        )
        return response.json()

    def wait(predicate, what: str, timeout: float = DISPATCH):
        try:
            return wait_for(predicate, timeout=timeout, interval=0.2, what=what)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{_logs(running, gateway)}") from None

    detected = (timezone.now() - timedelta(minutes=7)).isoformat()
    drill = api("commander", "POST", "/drills/", {
        "title": "CBRN uplift through the browsing tool", "category": "dangerous_capability", "risk_domain": "cbrn",
        "severity": "SEV2", "deployments": ["atlas-api"], "detected_at": detected,
    }, expect=201)  # fmt: skip
    ref = drill["incident"]["ref"]
    assert drill["incident"]["is_drill"] is True

    # The real sign-off: a tier-2 request needs a commander who did not ask.
    requested = api("responder", "POST", f"/incidents/{ref}/corrections/", {
        "type": "disable_capability", "deployment": "atlas-api", "params": {"capability": "browsing"},
        "rationale": "Drill: switch browsing off on the API.",
        "evidence_override": "Drill: the sandbox keeps its own state; nothing to snapshot.",
    }, expect=201)  # fmt: skip
    cid = requested["id"]
    assert requested["state"] == State.PENDING_APPROVAL and requested["dry_run"] is True
    assert gateway.generate("mallory", tools=["browsing"]).status_code == 200
    reviewed = api("commander2", "GET", f"/corrections/{cid}/")["content_hash"]
    api("commander2", "POST", f"/corrections/{cid}/approve/", {"comment": "go", "content_hash": reviewed})

    # The real dispatch, as a dry run: active (dry run) and verified, never enforced at /v1/generate.
    active = wait(
        lambda: (c := api("responder", "GET", f"/corrections/{cid}/"))["state"] == State.ACTIVE
        and c["verified_at"] and c,
        "the drill's correction to be active (dry run) and verified",
    )  # fmt: skip
    assert active["dry_run"] is True
    (logged,) = [e for e in gateway.idempotency_log() if e["correction_id"] == str(cid)]
    assert logged["action"] == "apply" and logged["dry_run"] is True and logged["applied_count"] == 1
    status = gateway.status(cid).json()
    assert status["dry_run"] is True and status["enforced"] is False
    for account in ("mallory", "alice"):
        answer = gateway.generate(account, tools=["browsing"])
        assert answer.status_code == 200, answer.text  # nothing is enforced

    # Lift, then close the drill (a commander's reasoned exception over the unpublished review).
    api("responder", "POST", f"/corrections/{cid}/lift/", {"reason": "drill over"})
    wait(lambda: api("responder", "GET", f"/corrections/{cid}/")["state"] == State.LIFTED, "the lift")
    api("commander", "PATCH", f"/incidents/{ref}/", {"status": "responding", "reason": "drill under way"})
    api("commander", "PATCH", f"/incidents/{ref}/", {"status": "resolved", "reason": "drill done"})
    api("commander", "PATCH", f"/incidents/{ref}/", {
        "status": "closed", "reason": "drill closed", "closing_exception": "A drill: no review is written.",
    })  # fmt: skip

    # Beat keeps the closing report; every phase is timed, with who was slowest.
    report = wait(
        lambda: DrillReport.objects.filter(drill__incident__ref=ref, trigger="closed").first(),
        "beat to keep the closed drill's report", timeout=BEAT,
    )  # fmt: skip
    shown = api("leader1", "GET", f"/drills/reports/{report.pk}/")
    phases = {p["key"]: p for p in shown["phases"]}
    assert list(phases) == list(PHASE_KEYS)
    for key in PHASE_KEYS:
        assert phases[key]["seconds"] is not None and phases[key]["seconds"] >= 0, phases
    assert 400 <= phases["detect_report"]["seconds"] <= 480  # detected 7 min before it was reported
    assert phases["request_approval"]["who"] == "commander2"
    assert phases["report_request"]["who"] == "responder"
    assert phases["approval_enforcement"]["who"] == "dispatch (system)"
    listed = api("leader1", "GET", "/drills/")["results"]
    assert [r["id"] for r in listed] == [report.pk]

    # In no metric, and no regulator bundle.
    metrics = api("leader1", "GET", "/metrics/")
    overall = [c for c in metrics["cells"] if c["severity"] == "all" and c["month"] == "all"]
    assert overall and all(c["n"] == 0 for c in overall), overall
    refused = api("leader1", "GET", f"/incidents/{ref}/bundle/", expect=409)
    assert "drill" in refused["detail"]
    assert Correction.objects.get(pk=cid).lifted_at is not None
