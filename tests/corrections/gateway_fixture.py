"""A real sandbox gateway for tests: a separate process on a free port, over HTTP.

Use the `sandbox_gateway` fixture by binding it in a test module (or a conftest):

    from tests.corrections import gateway_fixture

    sandbox_gateway = gateway_fixture.sandbox_gateway

It seeds a temp state dir with the demo accounts and deployments, starts
`manage.py run_sandbox_gateway --port 0` with a known secret, waits for a signed /health, yields a
`SandboxGateway` (base_url, secret, state_dir, and helpers to sign calls, apply and lift
corrections, call /v1/generate, inject faults and read the idempotency log), and stops it after.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from corrections.connectors import signing
from corrections.sandbox.state import STATE_FILE, seed

REPO = Path(__file__).resolve().parents[2]
SECRET = "test-sandbox-secret-7c1e9a-0f3b2d4e9a"
ACCOUNTS = [
    {"account_id": "acct-alice", "key": "sk-demo-alice", "tier": "verified"},
    {"account_id": "acct-bob", "key": "sk-demo-bob", "tier": "standard"},
    {"account_id": "acct-mallory", "key": "sk-demo-mallory", "tier": "free"},
]
KEYS = {a["account_id"].removeprefix("acct-"): a["key"] for a in ACCOUNTS}
DEPLOYMENTS = [
    {"slug": "atlas-api", "model": "atlas", "current_version": "atlas-2.0", "versions": ["atlas-1.9"]},
    {"slug": "atlas-chat", "model": "atlas", "current_version": "atlas-2.0", "versions": ["atlas-1.9"]},
    {"slug": "orion-api", "model": "orion", "current_version": "orion-1.0"},
]
_LISTENING = re.compile(r"listening on (http://\S+)")


class SandboxGateway:
    """One gateway process and the means to talk to it."""

    def __init__(self, state_dir: Path, *, secret: str = SECRET, env: dict[str, str | None] | None = None):
        self.state_dir = Path(state_dir)
        self.secret = secret
        self.env = env or {}  # overrides for the process's environment; None removes a variable
        self.port = 0
        self.base_url = ""
        self.process: subprocess.Popen | None = None
        self.output: list[str] = []  # everything the process wrote, stdout and stderr
        self._session = requests.Session()

    # --- the process ----------------------------------------------------------------------------

    def start(self, timeout: float = 30) -> SandboxGateway:
        env = {**os.environ, "FAILSAFE_SANDBOX_SECRET": self.secret, "PYTHONUNBUFFERED": "1", **self.env}
        env = {name: value for name, value in env.items() if value is not None}
        cmd = [sys.executable, "manage.py", "run_sandbox_gateway", "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*cmd, "--state-dir", str(self.state_dir)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        announced = threading.Event()

        def read(stream):
            for line in stream:
                self.output.append(line.rstrip("\n"))
                match = _LISTENING.search(line)
                if match and not announced.is_set():
                    self.base_url = match.group(1)
                    announced.set()

        threading.Thread(target=read, args=(self.process.stdout,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while not announced.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("The sandbox gateway did not start:\n" + "\n".join(self.output))
        self.port = int(self.base_url.rsplit(":", 1)[1])
        while True:
            try:
                if self.request("GET", "/health").status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("The sandbox gateway never answered /health:\n" + "\n".join(self.output))
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int | None:
        """Stop the process (SIGTERM: gracefully); returns its exit status."""
        if self.process is None:
            return None
        process, self.process = self.process, None
        self._session.close()
        self._session = requests.Session()
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def restart(self) -> SandboxGateway:
        """Stop, then start again on the same port and state dir."""
        self.stop()
        return self.start()

    # --- signed calls ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        key: str = "",
        timestamp: int | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
        signed: bool = True,
    ) -> requests.Response:
        """A call signed as Failsafe signs it; `timestamp` and `secret` let a test sign it wrongly."""
        raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
        sent = {"Content-Type": "application/json"} if raw else {}
        if signed:
            ts, nonce = str(int(time.time()) if timestamp is None else timestamp), secrets.token_hex(16)
            sent[signing.TIMESTAMP_HEADER] = ts
            sent[signing.NONCE_HEADER] = nonce
            sent[signing.SIGNATURE_HEADER] = signing.signature(
                secret or self.secret,
                timestamp=ts,
                nonce=nonce,
                method=method,
                path=path,
                idempotency_key=key,
                body=raw,
            )
        if key:
            sent[signing.IDEMPOTENCY_HEADER] = key
        sent.update(headers or {})
        return self._session.request(method, self.base_url + path, data=raw or None, headers=sent, timeout=30)

    def resend(self, response: requests.Response) -> requests.Response:
        """Send the very same signed request again: a replay."""
        return self._session.send(response.request, timeout=30)

    def apply(
        self,
        correction_id: str | int,
        ctype: str,
        params: dict[str, Any],
        *,
        deployment: str | None = "atlas-api",
        model: str = "atlas",
        expires_at: str | None = None,
        generation: int = 1,
        key: str | None = None,
        dry_run: Any = None,
    ) -> requests.Response:
        cid = str(correction_id)
        payload = {
            "correction_id": cid,
            "type": ctype,
            "deployment": deployment,
            "model": model,
            "params": params,
            "expires_at": expires_at,
            "generation": generation,
        }
        if dry_run is not None:  # absent: an apply as before the contract had it
            payload["dry_run"] = dry_run
        key = key or f"corr-{cid}-apply-{generation}-{uuid.uuid4().hex[:8]}"
        return self.request("PUT", f"/corrections/{cid}", body=payload, key=key)

    def lift(self, correction_id: str | int, *, key: str | None = None, generation: int | None = None):
        cid = str(correction_id)
        key = key or f"corr-{cid}-lift-{uuid.uuid4().hex[:8]}"
        body = {"generation": generation} if generation is not None else None
        return self.request("DELETE", f"/corrections/{cid}", body=body, key=key)

    def status(self, correction_id: str | int) -> requests.Response:
        return self.request("GET", f"/corrections/{correction_id}")

    def inject_fault(self, status: int | None, times: int = 1, methods: list[str] | None = None, **extra):
        rule = {"status": status, "times": times, **extra}
        if methods:
            rule["methods"] = methods
        response = self.request("POST", "/_sandbox/faults", body=rule)
        assert response.status_code == 200, response.text
        return response.json()

    def clear_faults(self) -> None:
        assert self.request("DELETE", "/_sandbox/faults").status_code == 200

    def idempotency_log(self) -> list[dict[str, Any]]:
        """The log over HTTP (GET /_sandbox/log)."""
        response = self.request("GET", "/_sandbox/log")
        assert response.status_code == 200, response.text
        return response.json()["entries"]

    def idempotency_log_on_disk(self) -> dict[str, dict[str, Any]]:
        """The log read from the state file: works while the gateway is down."""
        return json.loads((self.state_dir / STATE_FILE).read_text())["idempotency"]

    # --- the toy model --------------------------------------------------------------------------

    def generate(
        self,
        account: str,
        prompt: str = "Hello",
        *,
        tools: list[str] | None = None,
        use_case: str | None = None,
        deployment: str | None = None,
    ) -> requests.Response:
        """POST /v1/generate as a demo account ("alice", "bob", "mallory") or with a raw key."""
        body: dict[str, Any] = {"prompt": prompt, "tools": tools or []}
        if use_case is not None:
            body["use_case"] = use_case
        if deployment is not None:
            body["deployment"] = deployment
        return self._session.post(
            self.base_url + "/v1/generate",
            json=body,
            headers={"Authorization": f"Bearer {KEYS.get(account, account)}"},
            timeout=30,
        )


def start_gateway(state_dir: Path, *, secret: str = SECRET, env: dict[str, str | None] | None = None) -> SandboxGateway:
    """Seed the demo accounts and deployments into state_dir and start a gateway on it."""
    seed(state_dir, accounts=ACCOUNTS, deployments=DEPLOYMENTS)
    return SandboxGateway(state_dir, secret=secret, env=env).start()


@pytest.fixture
def sandbox_gateway(tmp_path):
    gateway = start_gateway(tmp_path / "sandbox")
    try:
        yield gateway
    finally:
        gateway.stop()
