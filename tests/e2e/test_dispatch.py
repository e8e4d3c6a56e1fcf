"""Dispatch end to end (issue 4, Acceptance), over real processes.

Redis, gunicorn (the web), a Celery worker and Celery beat run as separate processes on the
pytest-django PostgreSQL test database (tests/e2e/stack.py), started once for the module; each
test gets its own sandbox gateway process (tests/corrections/gateway_fixture.py), so its
idempotency log holds only that test's corrections. Everything is driven the way a person drives
it: through the HTTP API on the web process, with API tokens. The one thing a test does behind the
app's back is move the clock (test_a_one_minute_correction_is_lifted_by_the_expiry_sweep).

Every test ends by proving exactly-once at the edge: for each correction, one apply key (and,
once lifted, one lift key) in the gateway's idempotency log with applied_count 1, and it is the
key of the one dispatch Failsafe recorded as succeeding.

The gateway refusing a bad signature, a stale timestamp and a replayed request is covered, over
HTTP against the real gateway process, in tests/corrections/test_sandbox_gateway.py
(test_bad_signature_is_refused, test_stale_timestamp_is_refused_even_with_a_valid_signature,
test_replayed_request_is_refused, test_replayed_put_is_refused_and_applies_nothing_more); it is
not repeated here.

Data: the tests use `transactional_db` so the processes see committed rows; the database is
flushed after each test while the processes keep running, which is safe because each test waits
for the worker to be idle first. Tokens are minted in the database rather than through
POST /api/v1/auth/token/, whose throttle (10 a minute) this module would trip.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from celery import Celery
from django.db import connection
from django.utils import timezone

from accounts.actor import Actor
from accounts.models import ApiToken, LedgerEvent, User
from accounts.roles import Role
from corrections import services
from corrections.models import Correction, DispatchAttempt, OutboxEntry, State
from incidents.models import CustomerAccount, Incident
from tests.conftest import skip_or_fail
from tests.corrections.gateway_fixture import SandboxGateway, start_gateway
from tests.e2e.stack import Stack, database_url, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.real_broker, pytest.mark.slow]

DISPATCH = 15.0  # s: from the final approval to the effect at the edge, with room for a busy 2-core machine
RECOVERY = 45.0  # s: a fault healed by lease expiry, the beat relay, a broker reconnect or backoff
IN_FLIGHT = (State.APPROVED, State.QUEUED, State.APPLYING, State.LIFTING, State.EXPIRED)
DISPATCH_TASK = "corrections.dispatch_outbox_entry"
# The evidence gate (corrections.evidence_gate) asks drastic requests for a snapshot or a reason.
EVIDENCE_OVERRIDE = "e2e: the sandbox keeps its own state; nothing to snapshot."


# --- the processes ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, tmp_path_factory):
    """Redis, web, worker and beat, pointed at the pytest-django test database."""
    if connection.vendor != "postgresql":
        skip_or_fail("the dispatch end-to-end tests need PostgreSQL (set DATABASE_URL=postgres://...)")
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed")
    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    running = Stack(workdir=tmp_path_factory.mktemp("stack"), database_url=url)
    try:
        running.start_redis()
        running.start_web()
        running.start_worker()
        running.start_beat()
        yield running
    finally:
        running.stop_all()


@pytest.fixture(scope="module")
def control(stack):
    """A Celery client on the stack's broker, to ask the worker what it is doing."""
    app = Celery("e2e-control", broker=stack.redis_url, set_as_current=False)
    app.conf.broker_connection_timeout = 2
    yield app
    app.close()


def _alive(stack: Stack, name: str) -> bool:
    process = stack.processes.get(name)
    return process is not None and process.poll() is None


def _heal(stack: Stack) -> None:
    """Bring the broker and the worker back if they are down."""
    if not _alive(stack, "redis"):
        stack.start_redis()
    if not _alive(stack, "worker"):
        stack.start_worker()


def _dispatch_tasks_in_worker(control: Celery) -> list[str] | None:
    """Dispatch tasks the worker is running, holds, or will retry; None if the worker did not answer."""
    found = []
    with control.connection() as conn:  # a fresh connection: the broker may have restarted since the last
        inspect = control.control.inspect(timeout=1.0, limit=1, connection=conn)
        for method in (inspect.active, inspect.reserved, inspect.scheduled):
            replies = method()
            if replies is None:
                return None
            for tasks in replies.values():
                for task in tasks:
                    request = task.get("request", task)  # scheduled() wraps the request
                    if request.get("name") == DISPATCH_TASK:
                        found.append(f"{method.__name__}: {request.get('id')} {request.get('args')}")
    return found


# --- the processes' own words, for failure messages -----------------------------------------------


def _logs(stack: Stack, gateway: SandboxGateway | None = None, lines: int = 25) -> str:
    parts = [f"--- {name} log (last {lines} lines) ---\n{stack.log_tail(name, lines)}"
             for name in ("worker", "beat", "web", "redis")]  # fmt: skip
    if gateway is not None:
        parts.append(f"--- gateway output (last {lines} lines) ---\n" + "\n".join(gateway.output[-lines:]))
    return "\n".join(parts)


# --- one test's world: people, registry, incident, a gateway wired to both deployments ----------


def _token_for(user: User) -> str:
    key = ApiToken.new_key()
    prefix = key[: ApiToken.PREFIX_LENGTH]
    ApiToken.objects.create(user=user, name="e2e", prefix=prefix, key_hash=ApiToken.hash_key(key))
    return key


@dataclass
class World:
    stack: Stack
    gateway: SandboxGateway
    incident: Incident
    users: dict[str, User]
    sessions: dict[str, requests.Session] = field(default_factory=dict)

    # --- failure messages -----------------------------------------------------------------------

    def logs(self) -> str:
        return _logs(self.stack, self.gateway)

    def wait(self, predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.05):
        last: dict[str, Any] = {}

        def probe():
            last["value"] = value = predicate()
            return value

        try:
            return wait_for(probe, timeout=timeout, interval=interval, what=what)
        except TimeoutError as exc:
            raise AssertionError(f"{exc} (last seen: {last.get('value')!r})\n{self.logs()}") from None

    def holds(self, predicate: Callable[[], Any], *, seconds: float, what: str) -> None:
        """`predicate` stays true for `seconds` (for what must *not* happen, e.g. a dispatch)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert predicate(), f"no longer true: {what}\n{self.logs()}"
            time.sleep(0.1)

    # --- the Failsafe API, as each person --------------------------------------------------------

    def api(self, who: str, method: str, path: str, body: dict | None = None, *, expect: int = 200) -> dict:
        response = self.sessions[who].request(method, f"{self.stack.web_url}/api/v1{path}", json=body, timeout=30)
        assert response.status_code == expect, (
            f"{method} {path} as {who}: expected {expect}, got {response.status_code} {response.text[:2000]}\n"
            f"{self.logs()}"
        )
        return response.json()

    def request(self, ctype: str, params: dict, *, duration_minutes: int | None = None) -> dict:
        # The stack's web process has no reportability assessments: drastic types need evidence or a reason.
        body = {"type": ctype, "deployment": "atlas-api", "params": params, "rationale": f"e2e: {ctype}",
                "duration_minutes": duration_minutes, "evidence_override": EVIDENCE_OVERRIDE}  # fmt: skip
        return self.api("responder", "POST", f"/incidents/{self.incident.ref}/corrections/", body, expect=201)

    def approve(self, cid: int, who: str) -> dict:
        reviewed = self.api(who, "GET", f"/corrections/{cid}/")["content_hash"]
        return self.api(who, "POST", f"/corrections/{cid}/approve/", {"comment": f"{who} approves",
                                                                       "content_hash": reviewed})  # fmt: skip

    def lift(self, cid: int) -> dict:
        """Lift; a tier 3–4 lift only asks, and leader1 (who did not ask) approves the lift reviewed."""
        answer = self.api("responder", "POST", f"/corrections/{cid}/lift/", {"reason": "contained; restoring access"})
        waiting = answer["lift_awaiting_approval"]
        if waiting is None:
            return answer
        return self.api("leader1", "POST", f"/corrections/{cid}/lift/approve/",
                        {"content_hash": waiting["content_hash"]})  # fmt: skip

    def retry(self, cid: int, reason: str) -> dict:
        return self.api("responder", "POST", f"/corrections/{cid}/retry/", {"reason": reason})

    def get(self, cid: int) -> dict:
        return self.api("responder", "GET", f"/corrections/{cid}/")

    def wait_state(self, cid: int, state: str, *, timeout: float = DISPATCH) -> dict:
        return self.wait(
            lambda: (c := self.get(cid))["state"] == state and c,
            timeout=timeout, interval=0.1, what=f"correction {cid} to be {state}",
        )  # fmt: skip

    def wait_active(self, cid: int, *, timeout: float = DISPATCH) -> dict:
        """Active and verified: the worker has also asked the gateway and recorded its answer."""
        return self.wait(
            lambda: (c := self.get(cid))["state"] == State.ACTIVE and c["verified_at"] and c,
            timeout=timeout, interval=0.1, what=f"correction {cid} to be active and verified",
        )  # fmt: skip

    # --- the gateway's toy model -------------------------------------------------------------------

    def generate(self, account: str, **kwargs) -> requests.Response:
        return self.gateway.generate(account, **kwargs)

    def wait_generate(self, account: str, status: int, *, timeout: float = DISPATCH, **kwargs) -> requests.Response:
        (answer,) = self.wait(  # in a tuple: a Response with a 4xx or 5xx status is falsy
            lambda: (r := self.generate(account, **kwargs)).status_code == status and (r,),
            timeout=timeout, what=f"/v1/generate to answer {status} to {account} {kwargs or ''}",
        )  # fmt: skip
        return answer


@pytest.fixture
def world(transactional_db, stack, control, tmp_path, make_user, make_incident, registry):
    _heal(stack)
    users = {
        "responder": make_user(Role.RESPONDER, username="responder"),
        "commander": make_user(Role.INCIDENT_COMMANDER, username="commander"),
        "leader1": make_user(Role.LEADERSHIP, username="leader1"),
    }
    for account_id, tier in (("acct-alice", "verified"), ("acct-bob", "standard"), ("acct-mallory", "free")):
        CustomerAccount.objects.create(account_id=account_id, tier=tier)
    incident = make_incident(
        by=users["responder"], title="Mallory automates exploit development through atlas", severity="SEV2",
        deployments=[registry["atlas-api"], registry["atlas-chat"]],
    )  # fmt: skip
    gateway = start_gateway(tmp_path / "sandbox")
    setup = Actor.system("e2e_setup", source="command")
    for slug in ("atlas-api", "atlas-chat"):
        services.actuator_configure(
            actor=setup, deployment=registry[slug], base_url=gateway.base_url, secret=gateway.secret,
            connect_timeout_seconds=1.0, read_timeout_seconds=10.0,
        )  # fmt: skip
    sessions = {}
    for name, user in users.items():
        sessions[name] = requests.Session()
        sessions[name].headers["Authorization"] = f"Token {_token_for(user)}"
    built = World(stack=stack, gateway=gateway, incident=incident, users=users, sessions=sessions)
    try:
        yield built
        _heal(stack)  # a test that failed half-way may have left the broker or the worker down
        _settle(built, control)
    finally:
        for session in sessions.values():
            session.close()
        gateway.stop()


def _settle(world: World, control: Celery) -> None:
    """Nothing in flight before the database is flushed under the running processes."""

    def quiet():
        if OutboxEntry.objects.filter(done_at__isnull=True).exists():
            return False
        if Correction.objects.filter(state__in=IN_FLIGHT).exists():
            return False
        return _dispatch_tasks_in_worker(control) == []

    world.wait(quiet, timeout=30, interval=0.2, what="the worker to be idle and the outbox empty")


# --- exactly once ---------------------------------------------------------------------------------


def assert_applied_exactly_once(world: World, cid: int) -> dict:
    """For a lifted correction: one apply key and one lift key at the gateway, each applied once, and
    Failsafe's record agrees — each successful call it recorded carried that key, and it recorded no
    more of them than the gateway saw requests with it (more than one only when a lease ran out and
    a second worker repeated the call, which the gateway answered from its log)."""
    detail = world.get(cid)
    log = [e for e in world.gateway.idempotency_log() if e["correction_id"] == str(cid)]
    issued = dict(OutboxEntry.objects.filter(correction_id=cid).values_list("idempotency_key", "action"))
    why = f"gateway log: {log}\nissued keys: {issued}\nattempts: {detail['attempts']}\n{world.logs()}"
    foreign = [e for e in log if issued.get(e["idempotency_key"]) != e["action"]]
    assert foreign == [], "the gateway applied a key Failsafe never issued for that action\n" + why
    assert detail["state"] == State.LIFTED, why
    for action in ("apply", "lift"):
        at_gateway = [e for e in log if e["action"] == action]
        assert len(at_gateway) == 1, f"{len(at_gateway)} {action} keys at the gateway\n" + why
        (applied,) = at_gateway
        assert applied["applied_count"] == 1, why
        recorded_ok = list(
            DispatchAttempt.objects.filter(correction_id=cid, action=action, outcome="ok").values_list(
                "outbox_entry__idempotency_key", flat=True
            )
        )
        assert set(recorded_ok) == {applied["idempotency_key"]}, why
        assert 1 <= len(recorded_ok) <= applied["seen_count"], why
        shown_ok = [a for a in detail["attempts"] if a["action"] == action and a["outcome"] == "ok"]
        assert len(shown_ok) == len(recorded_ok), why
    return detail


def attempts(detail: dict) -> list[tuple]:
    return [(a["action"], a["number"], a["outcome"], a["response_status"]) for a in detail["attempts"]]


# --- the /proc view of a process group, to kill the worker while its call is on the wire ----------


def _pids_in_group(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]  # the fields after "(comm)"
        if int(pgrp) == pgid and state != "Z":
            pids.append(int(entry))
    return pids


def _connected_to(pids: list[int], port: int) -> bool:
    """Whether one of the processes holds an established TCP connection to 127.0.0.1:port."""
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            remote, state, inode = cols[2], cols[3], cols[9]
            if state == "01" and int(remote.rsplit(":", 1)[1], 16) == port and inode in inodes:
                return True
    return False


# --- 1. block_accounts ----------------------------------------------------------------------------


def test_block_accounts_refuses_mallory_at_the_gateway_within_seconds_and_lifting_restores_her(world):
    correction = world.request("block_accounts", {"accounts": ["acct-mallory"]})
    cid = correction["id"]
    assert (correction["tier"], correction["still_needed"]) == (1, [])  # pre-authorised: runs on request

    refused = world.wait_generate("mallory", 403)  # within DISPATCH seconds of the request
    assert refused.json() == {"error": "account_blocked", "account": "acct-mallory"}
    assert world.generate("alice").status_code == 200
    assert world.generate("bob").status_code == 200

    active = world.wait_active(cid)
    assert attempts(active) == [("apply", 1, "ok", 200), ("status", 1, "ok", 200)]

    world.lift(cid)
    assert world.wait_generate("mallory", 200).json()["account"] == "acct-mallory"
    lifted = world.wait_state(cid, State.LIFTED)
    assert lifted["lifted_at"]
    assert attempts(lifted)[-1] == ("lift", 1, "ok", 200)
    assert_applied_exactly_once(world, cid)


# --- 2. the other families ----------------------------------------------------------------------


def _capability_enforced(world: World) -> None:
    refused = world.generate("mallory", tools=["code_execution"])
    assert (refused.status_code, refused.json()) == (
        403, {"error": "capability_disabled", "capability": "code_execution"}
    )  # fmt: skip
    assert world.generate("alice", tools=["code_execution"]).status_code == 403  # the whole deployment
    assert world.generate("alice", tools=["browsing"]).status_code == 200
    assert world.generate("mallory").status_code == 200


def _rate_limit_enforced(world: World) -> None:
    served = [world.generate("mallory").status_code for _ in range(3)]
    limited = world.generate("mallory")
    assert served == [200, 200, 200]
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    assert world.generate("alice").status_code == 200  # only mallory is limited


def _rollback_enforced(world: World) -> None:
    for account in ("alice", "mallory"):
        assert world.generate(account).json()["model_version"] == "atlas-1.9"
    assert world.generate("alice", deployment="atlas-chat").json()["model_version"] == "atlas-2.0"


def _pause_enforced(world: World) -> None:
    paused = world.generate("alice")
    assert (paused.status_code, paused.json()) == (503, {"error": "deployment_paused", "deployment": "atlas-api"})
    assert world.generate("alice", deployment="atlas-chat").status_code == 200  # only atlas-api is paused


def _version(world: World) -> str | None:
    return world.generate("alice").json().get("model_version")


@dataclass(frozen=True)
class Case:
    ctype: str
    params: dict
    approvers: tuple[str, ...]
    # polled until the correction bites at the edge (None: wait for `active`, as probing has effects)
    bites: Callable[[World], bool] | None
    enforced: Callable[[World], None]
    restored: Callable[[World], bool]


CASES = [
    pytest.param(
        Case("disable_capability", {"capability": "code_execution"}, ("commander",),
             lambda w: w.generate("mallory", tools=["code_execution"]).status_code == 403, _capability_enforced,
             lambda w: w.generate("mallory", tools=["code_execution"]).status_code == 200),
        id="disable_capability-tier2-commander",
    ),
    pytest.param(
        Case("rate_limit", {"scope": "account", "subject": "acct-mallory", "requests_per_minute": 3}, (),
             None, _rate_limit_enforced, lambda w: w.generate("mallory").status_code == 200),
        id="rate_limit-tier1",
    ),
    pytest.param(
        Case("rollback_model", {"version": "atlas-1.9"}, ("leader1", "commander"),
             lambda w: _version(w) == "atlas-1.9", _rollback_enforced, lambda w: _version(w) == "atlas-2.0"),
        id="rollback_model-tier3-leader-and-commander",
    ),
    pytest.param(
        Case("pause_deployment", {}, ("leader1", "commander"),
             lambda w: w.generate("alice").status_code == 503, _pause_enforced,
             lambda w: w.generate("alice").status_code == 200),
        id="pause_deployment-tier3-leader-and-commander",
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_an_approved_correction_bites_at_the_gateway_and_lifting_it_restores_service(world, case: Case):
    correction = world.request(case.ctype, case.params)
    cid = correction["id"]
    for approver in case.approvers:
        assert correction["state"] == State.PENDING_APPROVAL, correction
        assert not world.gateway.idempotency_log(), "dispatched before its sign-off was complete"
        correction = world.approve(cid, approver)
    assert correction["state"] in (State.APPROVED, State.QUEUED, State.APPLYING, State.ACTIVE), correction
    assert correction["still_needed"] == []

    if case.bites is not None:
        world.wait(lambda: case.bites(world), timeout=DISPATCH, what=f"{case.ctype} to bite at the gateway")
    world.wait_active(cid)
    case.enforced(world)

    world.lift(cid)
    world.wait(lambda: case.restored(world), timeout=DISPATCH, what=f"{case.ctype} to stop biting once lifted")
    world.wait_state(cid, State.LIFTED)
    assert_applied_exactly_once(world, cid)


# --- 3. a worker killed in the middle of an apply ------------------------------------------------


def test_a_worker_killed_mid_apply_is_replaced_and_the_correction_applies_exactly_once(world):
    stack, gateway = world.stack, world.gateway
    gateway.inject_fault(None, times=1, methods=["PUT"], delay_ms=5000)  # the apply hangs for 5 s at the edge
    cid = world.request("disable_capability", {"capability": "code_execution"})["id"]
    world.approve(cid, "commander")
    world.wait_state(cid, State.APPLYING)
    worker_pgid = stack.processes["worker"].pid  # started in its own session: the group is the whole worker
    world.wait(
        lambda: _connected_to(_pids_in_group(worker_pgid), gateway.port),
        timeout=4, interval=0.02, what="the worker's PUT to be on the wire",
    )  # fmt: skip

    stack.stop("worker", sig=signal.SIGKILL)
    world.wait(lambda: _pids_in_group(worker_pgid) == [], timeout=5, what="every worker process to be gone")
    entry = OutboxEntry.objects.get(correction_id=cid)
    assert (entry.done_at, entry.attempt_count) == (None, 1)
    assert world.get(cid)["state"] == State.APPLYING

    stack.start_worker()  # its lease (3 s) runs out; the beat relay resends; the new worker claims it
    active = world.wait_active(cid, timeout=RECOVERY)
    # The killed call left no attempt behind, but its claim counted: the one recorded call is number 2.
    assert attempts(active) == [("apply", 2, "ok", 200), ("status", 2, "ok", 200)]
    # Both PUTs reach the gateway with the same key, in either order: one applies it, the other is answered
    # from the log. (The killed worker's PUT is still held by the injected delay when the new one lands.)
    (applied,) = world.wait(
        lambda: [e for e in gateway.idempotency_log() if e["action"] == "apply" and e["seen_count"] == 2],
        timeout=10, what="the killed worker's PUT to be answered from the idempotency log",
    )  # fmt: skip
    assert (applied["idempotency_key"], applied["applied_count"]) == (entry.idempotency_key, 1), applied
    assert world.generate("mallory", tools=["code_execution"]).status_code == 403

    world.lift(cid)
    world.wait_state(cid, State.LIFTED)
    assert world.generate("mallory", tools=["code_execution"]).status_code == 200
    assert_applied_exactly_once(world, cid)


def test_a_worker_that_outlives_its_lease_is_fenced_out_and_its_late_answer_kept_as_its_own(world):
    # The first PUT hangs 7 s: longer than the lease (3 s) plus a relay tick (2 s), so the relay
    # resends and the worker's other process claims the entry and applies it while the first waits.
    world.gateway.inject_fault(None, times=1, methods=["PUT"], delay_ms=7000)
    cid = world.request("block_accounts", {"accounts": ["acct-mallory"]})["id"]
    world.wait_active(cid, timeout=RECOVERY)
    assert world.generate("mallory").status_code == 403

    def both_calls_recorded():
        detail = world.get(cid)
        return len([a for a in detail["attempts"] if a["action"] == "apply"]) == 2 and detail

    late = world.wait(both_calls_recorded, timeout=RECOVERY, what="the fenced-out call to come back and be recorded")
    # Each call is recorded under its own claim's number; the late one changed nothing.
    assert sorted(attempts(late)) == [("apply", 1, "ok", 200), ("apply", 2, "ok", 200), ("status", 2, "ok", 200)]
    assert late["state"] == State.ACTIVE
    assert LedgerEvent.objects.filter(verb="correction.applied", object_id=str(cid)).count() == 1
    (applied,) = [e for e in world.gateway.idempotency_log() if e["action"] == "apply"]
    assert (applied["applied_count"], applied["seen_count"]) == (1, 2), applied

    world.lift(cid)
    world.wait_state(cid, State.LIFTED)
    assert world.generate("mallory").status_code == 200
    assert_applied_exactly_once(world, cid)


# --- 4. the broker down when the approval commits -------------------------------------------------


def test_an_approval_committed_while_redis_is_down_is_applied_once_redis_is_back(world):
    stack = world.stack
    cid = world.request("disable_capability", {"capability": "code_execution"})["id"]
    stack.stop("redis")

    approved = world.approve(cid, "commander")  # the web answers: the outbox keeps the work
    assert approved["state"] == State.APPROVED
    entry = OutboxEntry.objects.get(correction_id=cid)
    assert (entry.sent_at, entry.send_count) == (None, 0), "the broker was down, yet the entry counts as sent"
    world.holds(
        lambda: world.get(cid)["state"] == State.APPROVED and not world.gateway.idempotency_log(),
        seconds=2.5, what="nothing is dispatched while the broker is down",
    )  # fmt: skip

    stack.start_redis()  # same port, empty: whatever was queued is gone; the relay resends from the outbox
    world.wait_active(cid, timeout=RECOVERY)
    entry.refresh_from_db()
    assert entry.send_count >= 1 and entry.done_at is not None
    assert world.generate("mallory", tools=["code_execution"]).status_code == 403

    world.lift(cid)
    world.wait_state(cid, State.LIFTED)
    assert world.generate("mallory", tools=["code_execution"]).status_code == 200
    assert_applied_exactly_once(world, cid)


# --- 5. a flaky control plane -------------------------------------------------------------------


def test_a_gateway_answering_503_three_times_then_200_ends_active_after_four_attempts(world):
    world.gateway.inject_fault(503, times=3, methods=["PUT"])
    cid = world.request("block_accounts", {"accounts": ["acct-mallory"]})["id"]

    active = world.wait_active(cid, timeout=RECOVERY)
    assert attempts(active) == [
        ("apply", 1, "transient", 503),
        ("apply", 2, "transient", 503),
        ("apply", 3, "transient", 503),
        ("apply", 4, "ok", 200),
        ("status", 4, "ok", 200),
    ]
    assert all(a["error"].startswith("HTTP 503") for a in active["attempts"][:3])
    assert active["failure"] == ""
    assert world.generate("mallory").status_code == 403

    world.lift(cid)
    world.wait_state(cid, State.LIFTED)
    assert world.generate("mallory").status_code == 200
    assert_applied_exactly_once(world, cid)


def _failing(cid: int) -> OutboxEntry | None:
    entry = OutboxEntry.objects.filter(correction_id=cid, done_at__isnull=True, failing_since__isnull=False).first()
    return entry if entry is not None and entry.attempt_count >= 2 else None


def test_a_gateway_restarting_for_8_seconds_delays_a_correction_but_never_fails_it(world):
    # Issue 8, point 10: about 8 s of gateway downtime once used up every attempt and needed a human
    # retry. The retry budget is now a time (2 min by default), so the worker simply keeps trying.
    gateway = world.gateway
    cid = world.request("disable_capability", {"capability": "code_execution"})["id"]
    down_at = time.monotonic()
    gateway.stop()

    world.approve(cid, "commander")
    failing = world.wait(lambda: _failing(cid), timeout=DISPATCH, what="the worker to be retrying the apply")
    assert failing.last_error.startswith("connection failed"), failing.last_error
    assert world.get(cid)["state"] == State.APPLYING

    time.sleep(max(0.0, down_at + 8 - time.monotonic()))
    assert world.get(cid)["state"] == State.APPLYING, "failed while the gateway was restarting"
    gateway.start()  # the same port and state directory: a restart

    active = world.wait_active(cid, timeout=RECOVERY)
    applies = [a for a in attempts(active) if a[0] == "apply"]
    assert applies[-1][2:] == ("ok", 200) and len(applies) >= 3, applies
    assert all(outcome == "transient" and status is None for _, _, outcome, status in applies[:-1]), applies
    assert [a["number"] for a in active["attempts"] if a["action"] == "apply"] == list(range(1, len(applies) + 1))
    assert active["failure"] == ""
    for verb in ("correction.failed", "correction.retried"):  # no failure, and no human retry
        assert not LedgerEvent.objects.filter(verb=verb, object_id=str(cid)).exists(), verb
    entry = OutboxEntry.objects.get(correction_id=cid)
    assert entry.done_at is not None and entry.failing_since is not None
    (applied,) = [e for e in gateway.idempotency_log() if e["action"] == "apply"]
    assert (applied["idempotency_key"], applied["applied_count"]) == (entry.idempotency_key, 1), applied
    assert world.generate("mallory", tools=["code_execution"]).status_code == 403

    world.lift(cid)
    world.wait_state(cid, State.LIFTED)
    assert world.generate("mallory", tools=["code_execution"]).status_code == 200
    assert_applied_exactly_once(world, cid)


def test_a_retry_waiting_on_a_worker_that_dies_is_resent_by_the_relay(world):
    # The worker holds a retry's countdown message unacknowledged: killed, the broker would give it back
    # only after its visibility timeout (an hour). The beat relay resends the entry once its attempt is due.
    stack, gateway = world.stack, world.gateway
    gateway.stop()
    cid = world.request("block_accounts", {"accounts": ["acct-mallory"]})["id"]
    world.wait(lambda: _failing(cid), timeout=DISPATCH, what="the worker to be retrying the apply")
    world.wait(
        lambda: OutboxEntry.objects.filter(correction_id=cid, claimed_until__isnull=True,
                                           next_attempt_at__isnull=False).exists(),
        timeout=5, interval=0.01, what="the entry to be waiting for its next attempt",
    )  # fmt: skip
    worker_pgid = stack.processes["worker"].pid
    stack.stop("worker", sig=signal.SIGKILL)
    world.wait(lambda: _pids_in_group(worker_pgid) == [], timeout=5, what="every worker process to be gone")
    sent_before = OutboxEntry.objects.get(correction_id=cid).send_count

    gateway.start()
    stack.start_worker()
    active = world.wait_active(cid, timeout=RECOVERY)
    entry = OutboxEntry.objects.get(correction_id=cid)
    assert entry.send_count > sent_before, "recovered without the relay resending it"
    assert active["failure"] == ""
    assert not LedgerEvent.objects.filter(verb="correction.failed", object_id=str(cid)).exists()
    (applied,) = [e for e in gateway.idempotency_log() if e["action"] == "apply"]
    assert (applied["idempotency_key"], applied["applied_count"]) == (entry.idempotency_key, 1), applied

    world.lift(cid)
    world.wait_state(cid, State.LIFTED)
    assert_applied_exactly_once(world, cid)


# --- 6. a refusal that retrying cannot fix --------------------------------------------------------


def test_a_gateway_answering_400_fails_at_once_and_a_retry_after_the_fix_succeeds(world):
    world.gateway.inject_fault(400, times=100, methods=["PUT"])  # stays broken until someone fixes it
    cid = world.request("block_accounts", {"accounts": ["acct-mallory"]})["id"]

    failed = world.wait_state(cid, State.FAILED)
    assert attempts(failed) == [("apply", 1, "permanent", 400)]
    assert "HTTP 400" in failed["failure"] and "injected_fault" in failed["failure"], failed["failure"]
    first = OutboxEntry.objects.get(correction_id=cid)
    assert first.done_at is not None and first.attempt_count == 1  # not retried: a 400 will not get better
    assert world.gateway.idempotency_log() == []
    assert world.generate("mallory").status_code == 200

    world.gateway.clear_faults()
    retried = world.retry(cid, "the control plane's schema was fixed")
    assert retried["state"] in (State.QUEUED, State.APPLYING, State.ACTIVE)
    active = world.wait_active(cid)
    assert active["failure"] == ""
    assert attempts(active) == [("apply", 1, "permanent", 400), ("apply", 1, "ok", 200), ("status", 1, "ok", 200)]
    assert LedgerEvent.objects.filter(verb="correction.retried", object_id=str(cid)).count() == 1
    assert world.wait_generate("mallory", 403).json()["error"] == "account_blocked"

    world.lift(cid)
    world.wait_state(cid, State.LIFTED)
    detail = assert_applied_exactly_once(world, cid)
    (applied,) = [e for e in world.gateway.idempotency_log() if e["action"] == "apply"]
    assert applied["idempotency_key"] != first.idempotency_key  # the retry is a new generation
    assert detail["state"] == State.LIFTED


# --- 7. expiry ----------------------------------------------------------------------------------


def test_a_one_minute_correction_is_lifted_by_the_expiry_sweep(world):
    cid = world.request("block_accounts", {"accounts": ["acct-mallory"]}, duration_minutes=1)["id"]
    active = world.wait_active(cid)
    assert active["duration_minutes"] == 1 and active["expires_at"]
    assert world.generate("mallory").status_code == 403

    # Moving the clock: rather than wait a minute, put the correction's expiry in the past, as if the
    # minute had gone by. The gateway keeps its own copy (a minute ahead), so only Failsafe's beat
    # sweep can end it before then.
    Correction.objects.filter(pk=cid).update(expires_at=timezone.now() - timedelta(seconds=1))

    world.wait_generate("mallory", 200, timeout=RECOVERY)
    lifted = world.wait_state(cid, State.LIFTED)
    assert LedgerEvent.objects.filter(verb="correction.expired", object_id=str(cid)).count() == 1
    assert attempts(lifted)[-1] == ("lift", 1, "ok", 200)
    assert_applied_exactly_once(world, cid)


def test_a_retry_long_after_a_failed_apply_still_runs_for_the_full_duration(world):
    world.gateway.inject_fault(400, times=100, methods=["PUT"])
    cid = world.request("block_accounts", {"accounts": ["acct-mallory"]}, duration_minutes=1)["id"]
    world.wait_state(cid, State.FAILED)
    # Moving the clock: the fix took longer than the correction's one-minute duration.
    Correction.objects.filter(pk=cid).update(expires_at=timezone.now() - timedelta(seconds=1))

    world.gateway.clear_faults()
    world.retry(cid, "the control plane's schema was fixed")
    active = world.wait_active(cid)
    assert world.generate("mallory").status_code == 403, "applied, but already expired at the edge"
    remaining = (Correction.objects.get(pk=cid).expires_at - timezone.now()).total_seconds()
    assert 50 < remaining <= 60, active["expires_at"]
    assert world.get(cid)["state"] == State.ACTIVE

    world.lift(cid)
    world.wait_state(cid, State.LIFTED)
    assert_applied_exactly_once(world, cid)


# --- 5. a withdrawal over deployments with and without an actuator (issue 10) ---------------------


def _totp_code(device) -> str:
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


def test_withdraw_model_applies_where_it_can_and_leaves_a_manual_step_for_atlas_eu(world, registry, make_user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from corrections import dispatch
    from corrections.models import Actuator
    from incidents.models import Deployment

    Deployment.objects.create(slug="atlas-eu", name="Atlas EU", model=registry["model"])  # no actuator
    for actuator in Actuator.objects.all():  # both gateway actuators pass their readiness check
        assert dispatch.actuator_check_readiness(actor=Actor.system("e2e_setup", source="command"),
                                                 actuator=actuator).ready  # fmt: skip
    Incident.objects.filter(pk=world.incident.pk).update(commander=world.users["commander"])
    world.users["leader2"] = make_user(Role.LEADERSHIP, username="leader2")
    world.sessions["leader2"] = requests.Session()
    world.sessions["leader2"].headers["Authorization"] = f"Token {_token_for(world.users['leader2'])}"
    devices = {who: TOTPDevice.objects.create(user=world.users[who], name="phone", confirmed=True)
               for who in ("leader1", "leader2")}  # fmt: skip

    body = {"type": "withdraw_model", "deployment": None, "params": {"model": "atlas"},
            "rationale": "e2e: every surface leaks it", "evidence_override": EVIDENCE_OVERRIDE}  # fmt: skip
    requested = world.api("commander", "POST", f"/incidents/{world.incident.ref}/corrections/", body, expect=201)
    cid = requested["id"]
    # Before anyone approves, the representation says atlas-eu cannot be automated (and nothing else).
    seen = world.api("leader1", "GET", f"/corrections/{cid}/")
    assert seen["state"] == "pending_approval"
    assert [(a["deployment"], "no actuator" in a["problem"]) for a in seen["cannot_automate"]] == [("atlas-eu", True)]
    assert world.generate("alice").status_code == 200

    for who in ("leader1", "leader2"):
        world.api(who, "POST", f"/corrections/{cid}/approve/", {
            "content_hash": seen["content_hash"], "otp": _totp_code(devices[who]), "confirm_target": "atlas",
            "comment": f"{who} approves",
        })  # fmt: skip

    withdrawn = world.wait_generate("alice", 503)
    assert withdrawn.json() == {"error": "model_withdrawn", "model": "atlas"}
    assert world.generate("alice", deployment="atlas-chat").status_code == 503
    partly = world.wait_state(cid, State.PARTLY_ACTIVE)
    assert partly["progress"] == "partly in force (2 of 3)"
    assert {t["deployment"]: t["state"] for t in partly["targets"]} == {
        "atlas-api": "active", "atlas-chat": "active", "atlas-eu": "manual_pending"
    }  # fmt: skip
    log = {e["idempotency_key"] for e in world.gateway.idempotency_log() if e["correction_id"] == str(cid)}
    assert log == {f"corr-{cid}-apply-1@atlas-api", f"corr-{cid}-apply-1@atlas-chat"}
    in_force = world.api("responder", "GET", "/in-force/?model=atlas")
    assert {(e["deployment"], e["status"]) for e in in_force} == {
        ("atlas-api", "partly active"), ("atlas-chat", "partly active"), ("atlas-eu", "partly active")
    }  # fmt: skip
