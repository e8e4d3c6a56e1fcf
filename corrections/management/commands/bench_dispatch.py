"""`python manage.py bench_dispatch --n 100`: time to correction over the real path.

Needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL). Starts its own sandbox gateway and
Celery worker as separate processes, wires atlas-api to the gateway, then measures:

  1. latency, N times one after another: from the commit that approves a correction (a tier 1
     block_accounts, pre-authorised, so the request's commit is the final approval) to
     (a) the gateway acknowledging the apply (its idempotency log's applied_at) and
     (b) POST /v1/generate refusing the blocked account (polled every 2 ms);
  2. a burst: N corrections approved in one commit, until all are `active` in the database.

Use a scratch database: it creates users, accounts, an incident and corrections.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import requests
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from accounts.actor import Actor
from accounts.models import User
from accounts.roles import Role
from corrections import services
from corrections.connectors import signing
from corrections.models import Correction, State
from incidents import services as incident_services
from incidents.models import AIModel, CustomerAccount, Deployment, ModelVersion

SECRET = "bench-" + "s" * 32


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class Command(BaseCommand):
    help = "Benchmark time to correction over PostgreSQL, Redis, a worker process and the sandbox gateway."

    def add_arguments(self, parser):
        parser.add_argument("--n", type=int, default=100, help="corrections per measurement (default 100)")
        parser.add_argument("--concurrency", type=int, default=2, help="worker processes (default 2)")

    def handle(self, *args, n, concurrency, **options):
        if connection.vendor != "postgresql" or not settings.REDIS_URL:
            raise CommandError("bench_dispatch needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL).")
        if n < 1:
            raise CommandError("--n must be at least 1")
        self.children: list[subprocess.Popen] = []
        with tempfile.TemporaryDirectory(prefix="failsafe-bench-") as tmp:
            try:
                self._run(Path(tmp), n, concurrency)
            finally:
                for child in self.children:
                    child.terminate()
                for child in self.children:
                    try:
                        child.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        child.kill()

    # --- set-up -----------------------------------------------------------------------------------

    def _spawn(self, cmd: list[str], log: Path, env: dict) -> subprocess.Popen:
        child = subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                 cwd=settings.BASE_DIR)  # fmt: skip
        self.children.append(child)
        return child

    def _start_gateway(self, tmp: Path, accounts: list[dict]) -> str:
        state_dir = tmp / "gateway"
        deployments = [{"slug": "atlas-api", "model": "atlas", "current_version": "atlas-2.0",
                        "versions": ["atlas-1.9"]}]  # fmt: skip
        spec = json.dumps({"accounts": accounts, "deployments": deployments})
        call_command("seed_sandbox_gateway", state_dir=str(state_dir), spec=spec, stdout=io.StringIO())
        env = {**os.environ, "FAILSAFE_SANDBOX_SECRET": SECRET}
        log = tmp / "gateway.log"
        self._spawn([sys.executable, "manage.py", "run_sandbox_gateway", "--port", "0", "--state-dir",
                     str(state_dir)], log, env)  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            match = re.search(r"listening on (http://\S+)", log.read_text())
            if match:
                return match.group(1)
            time.sleep(0.05)
        raise CommandError("the sandbox gateway did not start:\n" + log.read_text())

    def _start_worker(self, tmp: Path, concurrency: int) -> None:
        log = tmp / "worker.log"
        self._spawn([sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "warning", "-Q",
                     "dispatch,notify,sweeps,default", "--concurrency", str(concurrency), "--without-gossip",
                     "--without-mingle", "-n", f"bench-{os.getpid()}@%h"], log, dict(os.environ))  # fmt: skip
        time.sleep(0.5)
        self._wait_worker(log)

    def _wait_worker(self, log: Path) -> None:
        from config.celery import app

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if app.control.ping(timeout=0.5):
                return
        raise CommandError("the worker did not start:\n" + log.read_text())

    def _registry(self, ids: list[str], gateway_url: str, run: str):
        atlas, _ = AIModel.objects.get_or_create(name="atlas")
        ModelVersion.objects.get_or_create(name="atlas-2.0", defaults={"model": atlas, "is_current": True})
        api, _ = Deployment.objects.get_or_create(slug="atlas-api", defaults={"name": "Atlas API", "model": atlas})
        responder, _ = User.objects.get_or_create(username="bench-responder")
        responder.groups.add(Group.objects.get(name=Role.RESPONDER))
        responder = User.objects.get(pk=responder.pk)
        system = Actor.system("bench_dispatch", source="command")
        services.actuator_configure(actor=system, deployment=api, base_url=gateway_url, secret=SECRET,
                                    connect_timeout_seconds=1.0, read_timeout_seconds=5.0)  # fmt: skip
        CustomerAccount.objects.bulk_create([CustomerAccount(account_id=a, tier="free") for a in ids])
        incident = incident_services.incident_create(
            actor=Actor(user=responder, source="command"), title=f"bench {run}", category="misuse",
            risk_domain="cyber", severity="SEV2", deployments=[api],
        )  # fmt: skip
        return responder, incident

    # --- the measurements -------------------------------------------------------------------------

    def _run(self, tmp: Path, n: int, concurrency: int) -> None:
        run = str(int(time.time()))
        ids = [f"acct-bench-{run}-{i}" for i in range(2 * n + 1)]
        gateway = self._start_gateway(tmp, [{"account_id": a, "key": f"sk-{a}", "tier": "free"} for a in ids])
        responder, incident = self._registry(ids, gateway, run)
        self._start_worker(tmp, concurrency)
        actor = Actor(user=responder, source="command")
        session = requests.Session()

        def block(account: str) -> Correction:
            return services.correction_request(
                actor=actor, incident=incident, type="block_accounts", deployment="atlas-api",
                params={"accounts": [account]}, rationale="benchmark",
            )  # fmt: skip

        self.stdout.write(f"warming up, then {n} corrections one after another…")
        self._measure_one(block, ids[-1], gateway, session)
        acks, enforced = [], []
        for account in ids[:n]:
            ack, enforce = self._measure_one(block, account, gateway, session)
            acks.append(ack)
            enforced.append(enforce)
        self.stdout.write(f"{n} corrections approved in one commit…")
        started = time.time()
        with transaction.atomic():
            burst = [block(a).pk for a in ids[n : 2 * n]]
        committed = time.time()
        while Correction.objects.filter(pk__in=burst, state=State.ACTIVE).count() < n:
            if time.time() - committed > 120:
                raise CommandError("the burst did not finish within 120 s")
            time.sleep(0.02)
        all_active = time.time() - committed
        self.stdout.write("")
        self.stdout.write(f"time to correction over {n} sequential corrections (ms):")
        for label, values in (("gateway acknowledged", acks), ("/v1/generate enforcing", enforced)):
            self.stdout.write(
                f"  {label:<24} p50 {percentile(values, 50):7.1f}  p95 {percentile(values, 95):7.1f}  "
                f"p99 {percentile(values, 99):7.1f}  max {max(values):7.1f}"
            )
        self.stdout.write(f"burst: {n} corrections approved at once, all active after {all_active:.2f} s "
                          f"(commit took {committed - started:.2f} s; worker concurrency {concurrency})")  # fmt: skip

    def _measure_one(self, block, account: str, gateway: str, session: requests.Session) -> tuple[float, float]:
        correction = block(account)  # returns after its commit: the outbox entry is sent on commit
        committed = time.time()
        enforced_at = None
        deadline = committed + 30
        while enforced_at is None and time.time() < deadline:
            answer = session.post(f"{gateway}/v1/generate", json={"prompt": "hi"},
                                  headers={"Authorization": f"Bearer sk-{account}"}, timeout=5)  # fmt: skip
            if answer.status_code == 403:
                enforced_at = time.time()
            else:
                time.sleep(0.002)
        if enforced_at is None:
            raise CommandError(f"correction {correction.pk} was not enforced within 30 s")
        applied_at = self._applied_at(gateway, session, f"corr-{correction.pk}-apply-1")
        return (applied_at - committed) * 1000, (enforced_at - committed) * 1000

    def _applied_at(self, gateway: str, session: requests.Session, key: str) -> float:
        headers = signing.sign(SECRET, method="GET", path="/_sandbox/log")
        entries = session.get(f"{gateway}/_sandbox/log", headers=headers, timeout=5).json()["entries"]
        entry = next(e for e in entries if e["idempotency_key"] == key)
        return datetime.fromisoformat(entry["applied_at"]).timestamp()
