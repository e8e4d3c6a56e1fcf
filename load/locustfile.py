"""Load test: responders, leadership, auditors and monitoring against a running Failsafe.

Not part of the test suite or CI (pytest collects only tests/). Seed first, then run headless:

    .venv/bin/python manage.py seed_load            # writes var/load/seed.json (tokens; mode 0600)
    /work/venvs/locust/bin/locust -f load/locustfile.py --headless -u 50 -r 10 -t 2m --host http://127.0.0.1:8000

Page requests are named `page <what>`, API ones `api <what>`, webhooks `hook <kind>`. At the end it
prints the alerts ingested per second and what dedup did with them (from the webhooks' receipts);
load/check.sh compares that with the database.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from locust import HttpUser, between, constant_throughput, events, task

SEED = json.loads(Path(os.environ.get("FAILSAFE_LOAD_SEED", "var/load/seed.json")).read_text())
ALERTS_PER_DELIVERY = int(os.environ.get("FAILSAFE_LOAD_ALERTS", "50"))  # Alertmanager groups many
# Each integration fires from a pool of fingerprints, so the same alerts come back: a repeat of the
# same episode (unchanged), a new episode while open (folded), a resolved one, or a brand-new one.
FINGERPRINTS = int(os.environ.get("FAILSAFE_LOAD_FINGERPRINTS", "3000"))
# Deliveries per second per monitoring user; unset, monitors post as fast as the app answers (a flood).
# Set, they post at that steady rate, so pages are measured beside a known ingest rate, not a flood.
MONITOR_RATE = float(os.environ.get("FAILSAFE_LOAD_MONITOR_RATE", "0"))
RUN = uuid.uuid4().hex[:8]  # fingerprints are new in each run, so runs do not fold into each other

ingest: Counter[str] = Counter()
clock: dict[str, float] = {}


@events.test_start.add_listener
def _started(environment, **kwargs):
    clock["start"] = time.monotonic()
    clock["wall"] = time.time()


@events.test_stop.add_listener
def _stopped(environment, **kwargs):
    elapsed = time.monotonic() - clock.get("start", time.monotonic())
    received = ingest["received"]
    print(f"\nrun {RUN}: started {datetime.fromtimestamp(clock.get('wall', 0), UTC).isoformat()}, {elapsed:.1f} s")
    print(
        f"signals ingested: {received} alerts in {ingest['deliveries']} deliveries = {received / elapsed:.1f} alerts/s"
    )
    print(
        "  dedup outcomes: "
        + ", ".join(f"{k} {ingest[k]}" for k in ("created", "folded", "reopened", "resolved", "unchanged", "ignored"))
    )
    deduplicated = ingest["folded"] + ingest["unchanged"] + ingest["reopened"] + ingest["resolved"]
    print(f"  deduplicated (folded/unchanged/reopened/resolved into an existing signal): {deduplicated}")
    print(f"  alerts sent: {ingest['sent']} (those without an answer before the stop are not in the receipts)")
    print(f"  check against the database: load/check.sh {RUN}")


class PageUser(HttpUser):
    """A person with a signed-in session (pages) and an API token (API)."""

    abstract = True
    role = ""

    def on_start(self):
        person = random.choice(SEED["people"][self.role])
        self.username = person["username"]
        self.api_headers = {"Authorization": f"Token {person['token']}", "Accept": "application/json"}
        # Signed in already (seed_load made the session): people sign in once a day, not per visit.
        self.client.cookies.set(SEED["session_cookie"], person["session"])

    def page(self, path: str, name: str):
        with self.client.get(path, name=f"page {name}", catch_response=True) as response:
            if response.status_code != 200 or "/accounts/login/" in response.url:
                response.failure(f"{response.status_code} at {response.url}")
            return response

    def api(self, method: str, path: str, name: str, *, ok=(200, 201), **kwargs):
        headers = {**self.api_headers, **kwargs.pop("headers", {})}
        if method != "GET":
            headers["Idempotency-Key"] = uuid.uuid4().hex
        with self.client.request(method, path, name=f"api {name}", headers=headers, catch_response=True,
                                 **kwargs) as response:  # fmt: skip
            if response.status_code not in ok:
                response.failure(f"{response.status_code}: {response.text[:200]}")
            else:
                response.success()
            return response

    def some_incident(self) -> str:
        return random.choice(SEED["incidents"])


class Responder(PageUser):
    """Files incidents and updates them through the API; reads the dashboard and incident pages."""

    weight = 4
    role = "responder"
    wait_time = between(1, 3)

    def on_start(self):
        super().on_start()
        self.mine: list[str] = []

    @task(2)
    def file_incident(self):
        response = self.api(
            "POST", "/api/v1/incidents/", "file incident",
            json={"title": f"[load] filed by {self.username} at {time.time():.0f}",
                  "summary": "A responder's report during the load test.",
                  "category": random.choice(["misuse", "dangerous_capability", "security"]),
                  "risk_domain": random.choice(["cyber", "cbrn", "other"]), "severity": random.choice(["SEV3", "SEV4"]),
                  "deployments": [random.choice(SEED["deployments"])]},
        )  # fmt: skip
        if response.status_code == 201:
            self.mine.append(response.json()["ref"])

    @task(2)
    def update_incident(self):
        if not self.mine:
            return
        ref = random.choice(self.mine)
        self.api("PATCH", f"/api/v1/incidents/{ref}/", "update incident",
                 json={"summary": f"Updated at {time.time():.0f}: more accounts found."})  # fmt: skip

    @task(1)
    def request_correction(self):
        if not self.mine:
            return
        ref = random.choice(self.mine)
        self.api(
            "POST", f"/api/v1/incidents/{ref}/corrections/", "request correction", ok=(201, 409),
            json={"type": "restrict_access_tier", "deployment": random.choice(SEED["deployments"]),
                  "params": {"allowed_tiers": ["verified", "enterprise"]}, "duration_minutes": 60,
                  "rationale": "Load test: restrict while we look."},
        )  # fmt: skip

    @task(3)
    def dashboard(self):
        self.page("/", "dashboard")

    @task(3)
    def incident_page(self):
        self.page(f"/incidents/{random.choice(self.mine or SEED['incidents'])}/", "incident")

    @task(2)
    def incident_list(self):
        self.page("/incidents/", "incident list")

    @task(1)
    def signal_list(self):
        self.page("/signals/", "signal list")


class Leader(PageUser):
    """Leadership: looks at what waits for approval and approves it through the API."""

    weight = 1
    role = "leadership"
    wait_time = between(1, 3)

    @task(3)
    def approve(self):
        pending = self.api("GET", "/api/v1/approvals/pending/", "pending approvals")
        if pending.status_code != 200:
            return
        body = pending.json()
        results = body.get("results", []) if isinstance(body, dict) else body
        if not results:
            return
        correction = random.choice(results)
        detail = self.api("GET", f"/api/v1/corrections/{correction['id']}/", "correction")
        if detail.status_code != 200:
            return
        self.api(
            "POST", f"/api/v1/corrections/{correction['id']}/approve/", "approve correction", ok=(200, 409),
            json={"content_hash": detail.json()["content_hash"], "comment": "Approved under load.",
                  "notice_explanation": "Load test: no customer notice."},
        )  # fmt: skip

    @task(2)
    def approvals_page(self):
        self.page("/approvals/", "approvals")

    @task(2)
    def in_force_page(self):
        self.page("/in-force/", "in force")

    @task(1)
    def dashboard(self):
        self.page("/", "dashboard")


class Auditor(PageUser):
    """Reads: incident list and pages, the audit trail, exports."""

    weight = 2
    role = "auditor"
    wait_time = between(1, 3)

    @task(3)
    def incident_list(self):
        self.page("/incidents/", "incident list")

    @task(3)
    def incident_page(self):
        self.page(f"/incidents/{self.some_incident()}/", "incident")

    @task(2)
    def audit_trail(self):
        self.page("/audit/", "audit trail")

    @task(1)
    def audit_incident(self):
        self.page(f"/audit/incidents/{self.some_incident()}/", "audit incident history")

    @task(1)
    def audit_events_api(self):
        self.api("GET", "/api/v1/audit/events/", "audit events")

    @task(1)
    def bundle(self):
        self.api("GET", f"/api/v1/incidents/{self.some_incident()}/bundle/", "incident bundle")

    @task(1)
    def export_csv(self):
        self.api("GET", "/api/v1/audit/export.csv", "audit export csv (one incident)",
                 params={"incident": self.some_incident()})  # fmt: skip


class Monitoring(HttpUser):
    """Alertmanager, Grafana and generic monitors posting to the integrations' webhooks."""

    weight = 3
    wait_time = constant_throughput(MONITOR_RATE) if MONITOR_RATE else between(0.05, 0.2)

    def on_start(self):
        self.hook = random.choice(SEED["integrations"])
        self.started: dict[str, str] = {}  # fingerprint -> the startsAt of its current episode

    def _alert(self) -> dict[str, object]:
        fingerprint = f"{RUN}-{self.hook['id']}-{random.randrange(FINGERPRINTS)}"
        roll = random.random()
        if fingerprint not in self.started or roll < 0.1:  # a new episode (folds if still open)
            self.started[fingerprint] = datetime.now(UTC).isoformat()
        status = "resolved" if roll > 0.95 else "firing"
        return {
            "status": status, "fingerprint": fingerprint, "startsAt": self.started[fingerprint],
            "labels": {"alertname": "HighJailbreakRate", "severity": random.choice(["warning", "critical"]),
                       "deployment": random.choice(SEED["deployments"]), "instance": fingerprint},
            "annotations": {"summary": f"Jailbreak classifier rate high ({fingerprint})",
                            "description": "Rate of flagged completions over 5% for 10 minutes."},
            "generatorURL": "https://prometheus.load.example/graph",
        }  # fmt: skip

    @task
    def post(self):
        kind = self.hook["kind"]
        headers = {"Authorization": f"Bearer {self.hook['token']}"}
        if kind == "generic":
            alert = self._alert()
            body: dict[str, object] = {
                "title": alert["annotations"]["summary"], "dedup_key": alert["fingerprint"],  # type: ignore[index]
                "status": alert["status"], "started_at": alert["startsAt"], "severity_hint": "SEV3",
            }  # fmt: skip
        else:
            body = {"version": "4" if kind == "alertmanager" else "1", "status": "firing",
                    "receiver": "failsafe", "groupLabels": {}, "commonLabels": {}, "externalURL": "",
                    "alerts": [self._alert() for _ in range(ALERTS_PER_DELIVERY)]}  # fmt: skip
        ingest["sent"] += len(body["alerts"]) if "alerts" in body else 1  # type: ignore[arg-type]
        with self.client.post(f"/api/v1/integrations/{kind}/", json=body, headers=headers, name=f"hook {kind}",
                              catch_response=True) as response:  # fmt: skip
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            receipt = response.json()
            ingest["deliveries"] += 1
            for key in ("received", "created", "folded", "reopened", "resolved", "unchanged", "ignored"):
                ingest[key] += receipt[key]
