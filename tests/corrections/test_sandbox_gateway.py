"""The sandbox gateway, as a real process over HTTP: the actuator contract and its enforcement."""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import yaml

from corrections.connectors import signing
from corrections.connectors.sandbox_secret import DEV_SANDBOX_SECRET
from corrections.sandbox import contract, vocabulary
from corrections.sandbox.state import STATE_FILE, Store, seed
from tests.corrections import gateway_fixture
from tests.corrections.gateway_fixture import SECRET

sandbox_gateway = gateway_fixture.sandbox_gateway


@pytest.fixture(scope="module")
def shared_gateway(tmp_path_factory):
    """One gateway for the tests that apply nothing, to spare a process start each."""
    gateway = gateway_fixture.start_gateway(tmp_path_factory.mktemp("sandbox"))
    yield gateway
    gateway.stop()


OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "actuator-openapi.yaml"


def _in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


# --- signatures ---------------------------------------------------------------------------------


def test_health_answers_a_signed_request(shared_gateway):
    response = shared_gateway.request("GET", "/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["deployments"] == ["atlas-api", "atlas-chat", "orion-api"]
    assert body["version"]


def test_health_refuses_an_unsigned_request(shared_gateway):
    response = shared_gateway.request("GET", "/health", signed=False)
    assert response.status_code == 401
    assert response.json() == {"error": "missing_signature"}


def test_bad_signature_is_refused(shared_gateway):
    response = shared_gateway.request("GET", "/health", secret="not-the-secret")
    assert (response.status_code, response.json()) == (401, {"error": "bad_signature"})


def test_signature_for_a_get_does_not_authorise_a_delete_of_the_same_path(shared_gateway):
    ts, nonce = str(int(time.time())), "n-1"
    headers = {
        signing.TIMESTAMP_HEADER: ts,
        signing.NONCE_HEADER: nonce,
        signing.SIGNATURE_HEADER: signing.signature(
            SECRET, timestamp=ts, nonce=nonce, method="GET", path="/corrections/7", idempotency_key="k", body=b""
        ),
    }
    response = shared_gateway.request("DELETE", "/corrections/7", key="k", signed=False, headers=headers)
    assert (response.status_code, response.json()) == (401, {"error": "bad_signature"})


def test_stale_timestamp_is_refused_even_with_a_valid_signature(shared_gateway):
    old = shared_gateway.request("GET", "/health", timestamp=int(time.time()) - 301)
    future = shared_gateway.request("GET", "/health", timestamp=int(time.time()) + 400)
    assert (old.status_code, old.json()) == (401, {"error": "stale_timestamp"})
    assert (future.status_code, future.json()) == (401, {"error": "stale_timestamp"})


def test_replayed_request_is_refused(shared_gateway):
    first = shared_gateway.request("GET", "/health")
    again = shared_gateway.resend(first)
    assert first.status_code == 200
    assert again.status_code == 401
    assert again.json()["error"] == "replayed"


def test_identical_requests_signed_with_their_own_nonces_are_not_replays(shared_gateway):
    ts = int(time.time())
    statuses = [shared_gateway.request("GET", "/corrections/404", timestamp=ts).status_code for _ in range(3)]
    assert statuses == [404, 404, 404]


def test_replayed_put_is_refused_and_applies_nothing_more(sandbox_gateway):
    first = sandbox_gateway.apply(1, "block_accounts", {"accounts": ["acct-mallory"]}, key="corr-1-apply-1")
    again = sandbox_gateway.resend(first)
    assert first.status_code == 200
    assert (again.status_code, again.json()["error"]) == (401, "replayed")
    [entry] = sandbox_gateway.idempotency_log()
    assert (entry["applied_count"], entry["seen_count"]) == (1, 1)


# --- idempotency and generations ----------------------------------------------------------------


def test_same_idempotency_key_with_a_new_signature_returns_the_first_response_and_applies_once(sandbox_gateway):
    params = {"accounts": ["acct-mallory"]}
    first = sandbox_gateway.apply(42, "block_accounts", params, key="corr-42-apply-1")
    retry = sandbox_gateway.apply(42, "block_accounts", params, key="corr-42-apply-1")  # a fresh nonce and signature
    assert first.status_code == retry.status_code == 200
    assert first.json()["replayed"] is False
    assert retry.json() == {**first.json(), "replayed": True}
    [entry] = sandbox_gateway.idempotency_log()
    assert entry["idempotency_key"] == "corr-42-apply-1"
    assert (entry["correction_id"], entry["action"]) == ("42", "apply")
    assert (entry["applied_count"], entry["seen_count"]) == (1, 2)


def test_a_new_key_for_an_active_correction_replaces_it(sandbox_gateway):
    sandbox_gateway.apply(5, "block_accounts", {"accounts": ["acct-mallory"]}, generation=1)
    second = sandbox_gateway.apply(5, "block_accounts", {"accounts": ["acct-bob"]}, generation=2)
    assert second.status_code == 200
    assert sandbox_gateway.status(5).json()["params"] == {"accounts": ["acct-bob"]}
    assert sandbox_gateway.generate("mallory").status_code == 200
    assert sandbox_gateway.generate("bob").status_code == 403


def test_an_apply_from_an_older_generation_is_refused(sandbox_gateway):
    params = {"accounts": ["acct-mallory"]}
    assert sandbox_gateway.apply(6, "block_accounts", params, generation=3).status_code == 200
    late = sandbox_gateway.apply(6, "block_accounts", params, generation=2)
    assert (late.status_code, late.json()["error"]) == (409, "stale_generation")


def test_an_apply_arriving_after_its_lift_does_not_reapply(sandbox_gateway):
    params = {"accounts": ["acct-mallory"]}
    assert sandbox_gateway.apply(8, "block_accounts", params, generation=1).status_code == 200
    assert sandbox_gateway.lift(8).status_code == 200
    late = sandbox_gateway.apply(8, "block_accounts", params, generation=1)  # a delayed retry, new key
    assert (late.status_code, late.json()["error"]) == (409, "stale_generation")
    assert sandbox_gateway.generate("mallory").status_code == 200


def test_an_apply_of_an_older_generation_than_a_lift_of_an_unseen_id_is_refused(sandbox_gateway):
    assert sandbox_gateway.lift(9, generation=2).json()["state"] == "lifted"
    late = sandbox_gateway.apply(9, "block_accounts", {"accounts": ["acct-mallory"]}, generation=1)
    assert (late.status_code, late.json()["error"]) == (409, "stale_generation")


def test_an_idempotency_key_reused_for_another_correction_is_a_conflict(sandbox_gateway):
    sandbox_gateway.apply(10, "pause_deployment", {}, key="shared-key")
    other = sandbox_gateway.apply(11, "pause_deployment", {}, key="shared-key")
    assert (other.status_code, other.json()["error"]) == (409, "idempotency_key_reused")


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"type": "teleport_model"}, "Unknown correction type"),
        ({"params": {}}, "params.accounts must be a non-empty list"),
        ({"params": {"accounts": ["acct-mallory"], "reason": "x"}}, "Unexpected parameter"),
        ({"deployment": "atlas-eu"}, "Unknown deployment"),
        ({"model": "orion"}, "serves atlas, not orion"),
        ({"type": "destroy_weights", "deployment": None, "params": {"model": "atlas"}}, "never dispatched"),
        ({"type": "withdraw_model", "params": {"model": "atlas"}}, "deployment must be null"),
        ({"type": "withdraw_model", "deployment": None, "model": "vega", "params": {"model": "vega"}}, "Unknown model"),
        ({"expires_at": "2030-01-01T00:00:00"}, "UTC offset"),
        ({"correction_id": "13"}, "does not match"),
        ({"generation": -1}, "generation"),
        ({"type": "rollback_model", "params": {"version": "atlas-2.0"}}, "already the current version"),
        ({"type": "rollback_model", "params": {"version": "atlas-0.1"}}, "has no version"),
        ({"type": "rate_limit", "params": {"scope": "tier", "subject": "gold", "requests_per_minute": 5}}, "tier"),
    ],
)
def test_a_body_the_gateway_cannot_act_on_is_a_permanent_400(shared_gateway, change, detail):
    body = {
        "correction_id": "12",
        "type": "block_accounts",
        "deployment": "atlas-api",
        "model": "atlas",
        "params": {"accounts": ["acct-mallory"]},
        "expires_at": None,
        "generation": 1,
        **change,
    }
    response = shared_gateway.request("PUT", "/corrections/12", body=body, key="corr-12-apply-1")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert detail in response.json()["detail"]
    assert shared_gateway.status(12).status_code == 404
    assert "corr-12-apply-1" not in {e["idempotency_key"] for e in shared_gateway.idempotency_log()}


def test_put_without_an_idempotency_key_is_refused(shared_gateway):
    body = {"correction_id": "14", "type": "pause_deployment", "deployment": "atlas-api", "model": "atlas",
            "params": {}, "expires_at": None, "generation": 1}  # fmt: skip
    response = shared_gateway.request("PUT", "/corrections/14", body=body)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]


def test_lifting_an_unknown_or_lifted_correction_is_200_lifted(sandbox_gateway):
    unknown = sandbox_gateway.lift(99)
    sandbox_gateway.apply(15, "pause_deployment", {})
    once = sandbox_gateway.lift(15, key="corr-15-lift-2")
    twice = sandbox_gateway.lift(15)  # a new key, already lifted
    replay = sandbox_gateway.request("DELETE", "/corrections/15", key="corr-15-lift-2")
    assert [r.status_code for r in (unknown, once, twice, replay)] == [200, 200, 200, 200]
    assert {r.json()["state"] for r in (unknown, once, twice, replay)} == {"lifted"}
    assert twice.json()["lifted_at"] == once.json()["lifted_at"]
    assert replay.json() == {**once.json(), "replayed": True}


def test_status_reports_an_active_correction_and_404_for_an_unknown_one(sandbox_gateway):
    expires = _in(3600)
    sandbox_gateway.apply(16, "disable_capability", {"capability": "browsing"}, expires_at=expires)
    status = sandbox_gateway.status(16).json()
    assert status["state"] == "active"
    assert status["type"] == "disable_capability"
    assert (status["deployment"], status["model"]) == ("atlas-api", "atlas")
    assert status["params"] == {"capability": "browsing"}
    assert status["applied_at"] and status["lifted_at"] is None
    assert datetime.fromisoformat(status["expires_at"]) == datetime.fromisoformat(expires)
    missing = sandbox_gateway.status(17)
    assert (missing.status_code, missing.json()) == (404, {"error": "not_found"})


# --- enforcement at /v1/generate ----------------------------------------------------------------


def test_unknown_account_key_is_401(shared_gateway):
    assert shared_gateway.generate("sk-demo-nobody").status_code == 401
    assert shared_gateway.generate("alice").json()["model_version"] == "atlas-2.0"


def test_block_accounts_refuses_mallory_serves_alice_and_lifting_restores_mallory(sandbox_gateway):
    assert sandbox_gateway.generate("mallory").status_code == 200
    sandbox_gateway.apply(20, "block_accounts", {"accounts": ["acct-mallory"]})
    blocked = sandbox_gateway.generate("mallory")
    assert (blocked.status_code, blocked.json()["error"]) == (403, "account_blocked")
    assert sandbox_gateway.generate("alice").status_code == 200
    assert sandbox_gateway.generate("mallory", deployment="atlas-chat").status_code == 200  # only atlas-api
    sandbox_gateway.lift(20)
    assert sandbox_gateway.generate("mallory").status_code == 200


def test_disable_capability_refuses_requests_using_it(sandbox_gateway):
    sandbox_gateway.apply(21, "disable_capability", {"capability": "browsing"})
    refused = sandbox_gateway.generate("alice", tools=["browsing"])
    assert refused.status_code == 403
    assert refused.json() == {"error": "capability_disabled", "capability": "browsing"}
    assert sandbox_gateway.generate("alice", tools=["code_execution"]).status_code == 200
    sandbox_gateway.lift(21)
    assert sandbox_gateway.generate("alice", tools=["browsing"]).status_code == 200


def test_rate_limit_answers_429_with_retry_after_once_the_cap_is_reached(sandbox_gateway):
    params = {"scope": "account", "subject": "acct-bob", "requests_per_minute": 2}
    sandbox_gateway.apply(22, "rate_limit", params)
    assert [sandbox_gateway.generate("bob").status_code for _ in range(2)] == [200, 200]
    limited = sandbox_gateway.generate("bob")
    assert (limited.status_code, limited.json()["error"]) == (429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert sandbox_gateway.generate("alice").status_code == 200  # another account is not limited
    sandbox_gateway.lift(22)
    assert sandbox_gateway.generate("bob").status_code == 200


def test_rate_limit_on_a_tier_and_on_the_deployment(sandbox_gateway):
    sandbox_gateway.apply(23, "rate_limit", {"scope": "tier", "subject": "free", "requests_per_minute": 1})
    assert sandbox_gateway.generate("mallory").status_code == 200
    assert sandbox_gateway.generate("mallory").status_code == 429
    assert sandbox_gateway.generate("bob").status_code == 200
    sandbox_gateway.apply(24, "rate_limit", {"scope": "deployment", "subject": "atlas-chat", "requests_per_minute": 1},
                          deployment="atlas-chat")  # fmt: skip
    assert sandbox_gateway.generate("alice", deployment="atlas-chat").status_code == 200
    assert sandbox_gateway.generate("bob", deployment="atlas-chat").status_code == 429


def test_rollback_model_answers_as_the_earlier_version_until_lifted(sandbox_gateway):
    sandbox_gateway.apply(25, "rollback_model", {"version": "atlas-1.9"})
    assert sandbox_gateway.generate("alice").json()["model_version"] == "atlas-1.9"
    assert sandbox_gateway.generate("alice", deployment="atlas-chat").json()["model_version"] == "atlas-2.0"
    sandbox_gateway.lift(25)
    assert sandbox_gateway.generate("alice").json()["model_version"] == "atlas-2.0"


def test_pause_deployment_answers_503_on_that_deployment_only(sandbox_gateway):
    sandbox_gateway.apply(26, "pause_deployment", {})
    paused = sandbox_gateway.generate("alice")
    assert (paused.status_code, paused.json()["error"]) == (503, "deployment_paused")
    assert sandbox_gateway.generate("alice", deployment="atlas-chat").status_code == 200
    sandbox_gateway.lift(26)
    assert sandbox_gateway.generate("alice").status_code == 200


def test_restrict_use_case_refuses_the_forbidden_use(sandbox_gateway):
    sandbox_gateway.apply(27, "restrict_use_case", {"use_cases": ["bio_research", "surveillance"]})
    refused = sandbox_gateway.generate("alice", use_case="bio_research")
    assert refused.status_code == 403
    assert refused.json() == {"error": "use_case_restricted", "use_case": "bio_research"}
    assert sandbox_gateway.generate("alice", use_case="chem_synthesis").status_code == 200
    sandbox_gateway.lift(27)
    assert sandbox_gateway.generate("alice", use_case="bio_research").status_code == 200


def test_restrict_access_tier_serves_only_the_allowed_tiers(sandbox_gateway):
    sandbox_gateway.apply(28, "restrict_access_tier", {"allowed_tiers": ["enterprise", "verified"]})
    assert sandbox_gateway.generate("alice").status_code == 200  # verified
    refused = sandbox_gateway.generate("bob")  # standard
    assert (refused.status_code, refused.json()["error"]) == (403, "tier_restricted")
    sandbox_gateway.lift(28)
    assert sandbox_gateway.generate("bob").status_code == 200


def test_withdraw_model_takes_every_deployment_of_the_model_offline(sandbox_gateway):
    sandbox_gateway.apply(29, "withdraw_model", {"model": "atlas"}, deployment=None)
    for deployment in ("atlas-api", "atlas-chat"):
        refused = sandbox_gateway.generate("alice", deployment=deployment)
        assert (refused.status_code, refused.json()["error"]) == (503, "model_withdrawn")
    assert sandbox_gateway.generate("alice", deployment="orion-api").json()["model_version"] == "orion-1.0"
    sandbox_gateway.lift(29)
    assert sandbox_gateway.generate("alice", deployment="atlas-chat").status_code == 200


def test_tighten_safeguard_to_block_refuses_flagged_prompts(sandbox_gateway):
    sandbox_gateway.apply(30, "tighten_safeguard", {"safeguard": "cbrn_classifier", "setting": "block"})
    refused = sandbox_gateway.generate("alice", "How is sarin made?")
    assert refused.status_code == 403
    assert refused.json() == {"error": "safeguard_blocked", "safeguard": "cbrn_classifier"}
    assert sandbox_gateway.generate("alice", "Write a haiku about spring").status_code == 200
    sandbox_gateway.apply(30, "tighten_safeguard", {"safeguard": "cbrn_classifier", "setting": "strict"}, generation=2)
    assert sandbox_gateway.generate("alice", "How is sarin made?").status_code == 200  # strict does not block


def test_expired_corrections_are_not_enforced(sandbox_gateway):
    sandbox_gateway.apply(31, "block_accounts", {"accounts": ["acct-mallory"]}, expires_at=_in(-1))
    assert sandbox_gateway.generate("mallory").status_code == 200
    assert sandbox_gateway.status(31).json()["enforced"] is False
    sandbox_gateway.apply(32, "block_accounts", {"accounts": ["acct-mallory"]}, expires_at=_in(1.5))
    assert sandbox_gateway.generate("mallory").status_code == 403
    time.sleep(2)
    assert sandbox_gateway.generate("mallory").status_code == 200
    assert sandbox_gateway.status(32).json()["state"] == "active"  # until Failsafe lifts it


# --- durability, faults, process --------------------------------------------------------------


def test_state_survives_a_restart(sandbox_gateway):
    sandbox_gateway.apply(40, "block_accounts", {"accounts": ["acct-mallory"]}, key="corr-40-apply-1")
    sandbox_gateway.restart()
    assert sandbox_gateway.generate("mallory").status_code == 403
    assert sandbox_gateway.status(40).json()["state"] == "active"
    again = sandbox_gateway.apply(40, "block_accounts", {"accounts": ["acct-mallory"]}, key="corr-40-apply-1")
    assert again.json()["replayed"] is True
    assert [e["applied_count"] for e in sandbox_gateway.idempotency_log()] == [1]


def test_fault_injection_503_three_times_then_200_applies_exactly_once(sandbox_gateway):
    sandbox_gateway.inject_fault(503, times=3, methods=["PUT"])
    params = {"accounts": ["acct-mallory"]}
    statuses = [sandbox_gateway.apply(41, "block_accounts", params, key="corr-41-apply-1").status_code
                for _ in range(4)]  # fmt: skip
    assert statuses == [503, 503, 503, 200]
    assert sandbox_gateway.generate("mallory").status_code == 403
    [entry] = sandbox_gateway.idempotency_log()
    assert (entry["idempotency_key"], entry["applied_count"], entry["seen_count"]) == ("corr-41-apply-1", 1, 1)


def test_fault_injection_400_refuses_without_applying_and_a_retry_succeeds(sandbox_gateway):
    sandbox_gateway.inject_fault(400, times=1)
    refused = sandbox_gateway.apply(43, "pause_deployment", {}, generation=1)
    assert refused.status_code == 400
    assert sandbox_gateway.status(43).status_code == 404
    assert sandbox_gateway.generate("alice").status_code == 200
    assert sandbox_gateway.apply(43, "pause_deployment", {}, generation=2).status_code == 200
    assert sandbox_gateway.generate("alice").status_code == 503


def test_a_lost_response_is_retried_and_applied_once(sandbox_gateway):
    sandbox_gateway.inject_fault(503, times=1, methods=["PUT"], apply_first=True)
    lost = sandbox_gateway.apply(44, "pause_deployment", {}, key="corr-44-apply-1")
    retry = sandbox_gateway.apply(44, "pause_deployment", {}, key="corr-44-apply-1")
    assert lost.status_code == 503
    assert (retry.status_code, retry.json()["replayed"]) == (200, True)
    assert [(e["applied_count"], e["seen_count"]) for e in sandbox_gateway.idempotency_log()] == [(1, 2)]


def test_a_fault_on_health_fails_the_readiness_check(shared_gateway):
    shared_gateway.inject_fault(503, methods=["GET"], path_prefix="/health")
    assert shared_gateway.request("GET", "/health").status_code == 503
    assert shared_gateway.request("GET", "/health").status_code == 200


def test_clearing_faults_restores_normal_answers(sandbox_gateway):
    sandbox_gateway.inject_fault(500, times=5)
    sandbox_gateway.clear_faults()
    assert sandbox_gateway.apply(45, "pause_deployment", {}).status_code == 200


def test_sigterm_stops_the_gateway_cleanly_and_the_log_stays_on_disk(sandbox_gateway):
    sandbox_gateway.apply(46, "pause_deployment", {}, key="corr-46-apply-1")
    assert sandbox_gateway.stop(signal.SIGTERM) == 0
    assert sandbox_gateway.idempotency_log_on_disk()["corr-46-apply-1"]["applied_count"] == 1


def test_sigterm_lets_a_request_in_flight_finish(sandbox_gateway):
    sandbox_gateway.inject_fault(None, methods=["PUT"], delay_ms=1500)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(sandbox_gateway.apply, 50, "pause_deployment", {}, key="corr-50-apply-1")
        time.sleep(0.5)  # the PUT is now inside the gateway, waiting out its delay
        sandbox_gateway.process.send_signal(signal.SIGTERM)
        assert pending.result().status_code == 200
    assert sandbox_gateway.process.wait(timeout=15) == 0
    assert sandbox_gateway.idempotency_log_on_disk()["corr-50-apply-1"]["applied_count"] == 1


def test_request_log_never_holds_secrets_signatures_or_account_keys(sandbox_gateway):
    sandbox_gateway.apply(47, "block_accounts", {"accounts": ["acct-mallory"]})
    sandbox_gateway.generate("mallory")
    sandbox_gateway.generate("alice")
    sandbox_gateway.request("GET", "/health", secret="wrong")
    sandbox_gateway.stop()
    output = "\n".join(sandbox_gateway.output)
    # One line per request, from gunicorn's access log: method, path, status, seconds.
    assert re.search(r"^PUT /corrections/47 200 \d+\.\d{6}s$", output, re.M)
    assert re.search(r"^POST /v1/generate 403 \d+\.\d{6}s$", output, re.M)
    assert re.search(r"^GET /health 401 \d+\.\d{6}s$", output, re.M)
    for secret in (SECRET, "sha256=", "sk-demo-"):
        assert secret not in output


def test_seed_while_the_gateway_runs_is_picked_up(sandbox_gateway):
    seed(sandbox_gateway.state_dir, accounts=[{"account_id": "acct-carol", "key": "sk-demo-carol", "tier": "free"}])
    served = sandbox_gateway.generate("sk-demo-carol")
    assert (served.status_code, served.json()["account"]) == (200, "acct-carol")
    sandbox_gateway.apply(48, "pause_deployment", {})  # the gateway's next write keeps carol
    assert "acct-carol" in json.loads((sandbox_gateway.state_dir / STATE_FILE).read_text())["accounts"]


def test_failsafes_http_connector_drives_the_gateway(sandbox_gateway):
    from corrections.connectors.http import HttpActuatorConnector

    connector = HttpActuatorConnector(base_url=sandbox_gateway.base_url, secret=SECRET)
    payload = {"correction_id": "49", "type": "block_accounts", "deployment": "atlas-api", "model": "atlas",
               "params": {"accounts": ["acct-mallory"]}, "expires_at": _in(60), "generation": 1}  # fmt: skip
    assert connector.readiness().ok
    applied = [connector.apply(correction_id="49", payload=payload, idempotency_key="corr-49-apply-1") for _ in "12"]
    assert [r.body["replayed"] for r in applied] == [False, True]
    assert connector.status(correction_id="49").body["state"] == "active"
    assert sandbox_gateway.generate("mallory").status_code == 403
    assert connector.lift(correction_id="49", idempotency_key="corr-49-lift-2").ok
    assert sandbox_gateway.generate("mallory").status_code == 200
    assert [e["applied_count"] for e in sandbox_gateway.idempotency_log()] == [1, 1]
    bad = HttpActuatorConnector(base_url=sandbox_gateway.base_url, secret="wrong").readiness()
    assert (bad.ok, bad.status, bad.transient) == (False, 401, False)


def test_the_gateway_is_served_by_gunicorn_in_one_worker_process(shared_gateway):
    output = "\n".join(shared_gateway.output)
    assert "Starting gunicorn" in output
    assert len(re.findall(r"Booting worker with pid: \d+", output)) == 1


def test_ctrl_c_lets_a_request_in_flight_finish(sandbox_gateway):
    worker = int(re.search(r"Booting worker with pid: (\d+)", "\n".join(sandbox_gateway.output)).group(1))
    sandbox_gateway.inject_fault(None, methods=["PUT"], delay_ms=1500)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(sandbox_gateway.apply, 51, "pause_deployment", {}, key="corr-51-apply-1")
        time.sleep(0.5)  # the PUT is now inside the gateway, waiting out its delay
        # A terminal's Ctrl-C reaches every process of the foreground group: master and worker.
        sandbox_gateway.process.send_signal(signal.SIGINT)
        os.kill(worker, signal.SIGINT)
        assert pending.result().status_code == 200
    assert sandbox_gateway.process.wait(timeout=15) == 0
    assert sandbox_gateway.idempotency_log_on_disk()["corr-51-apply-1"]["applied_count"] == 1


# --- hostile JSON -------------------------------------------------------------------------------

DEEP_BODIES = [b"[" * 100_000, b'{"a":' * 100_000]


def _nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


def _generate_raw(gateway, body: bytes) -> requests.Response:
    headers = {"Authorization": "Bearer sk-demo-alice", "Content-Type": "application/json"}
    return requests.post(gateway.base_url + "/v1/generate", data=body, headers=headers, timeout=30)


@pytest.mark.parametrize("body", DEEP_BODIES, ids=["arrays", "objects"])
def test_generate_answers_400_to_100000_levels_of_nesting(shared_gateway, body):
    response = _generate_raw(shared_gateway, body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert f"more than {contract.MAX_JSON_DEPTH} levels" in response.json()["detail"]


@pytest.mark.parametrize("body", DEEP_BODIES, ids=["arrays", "objects"])
@pytest.mark.parametrize(("method", "path"), [("PUT", "/corrections/60"), ("DELETE", "/corrections/60"),
                                              ("POST", "/_sandbox/faults")])  # fmt: skip
def test_signed_routes_answer_400_to_100000_levels_of_nesting(shared_gateway, method, path, body):
    response = shared_gateway.request(method, path, body=body, key="corr-60-deep-1")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert f"more than {contract.MAX_JSON_DEPTH} levels" in response.json()["detail"]
    assert shared_gateway.status(60).status_code == 404
    assert shared_gateway.request("GET", "/health").status_code == 200  # and the gateway is still up


def test_generate_serves_a_body_nested_up_to_the_limit_and_refuses_one_level_more(shared_gateway):
    at_limit = json.dumps({"prompt": "hi", "metadata": _nested(contract.MAX_JSON_DEPTH - 1)}).encode()
    past_it = json.dumps({"prompt": "hi", "metadata": _nested(contract.MAX_JSON_DEPTH)}).encode()
    assert _generate_raw(shared_gateway, at_limit).status_code == 200
    assert _generate_raw(shared_gateway, past_it).status_code == 400


def test_brackets_inside_strings_do_not_count_as_nesting(shared_gateway):
    body = json.dumps({"prompt": '\\"[' * 20_000 + "{" * 20_000}).encode()
    response = _generate_raw(shared_gateway, body)
    assert response.status_code == 200
    assert response.json()["account"] == "acct-alice"


def test_an_apply_with_modest_nesting_is_applied(sandbox_gateway):
    payload = {"correction_id": "61", "type": "block_accounts", "deployment": "atlas-api", "model": "atlas",
               "params": {"accounts": ["acct-mallory"]}, "expires_at": None, "generation": 1,
               "annotations": {"source": _nested(10)}}  # fmt: skip
    response = sandbox_gateway.request("PUT", "/corrections/61", body=payload, key="corr-61-apply-1")
    assert response.status_code == 200, response.text
    assert sandbox_gateway.generate("mallory").status_code == 403


@pytest.mark.parametrize(
    ("text", "deeper_than_2"),
    [
        (b"[[1]]", False),
        (b"[[[1]]]", True),
        (b'{"a": {"b": {"c": 1}}}', True),
        (b'["[[[[", "]]]]"]', False),
        (b'["\\"[[[[", 1]', False),  # an escaped quote does not end the string
        (b'["\\\\", [[1]]]', True),  # an escaped backslash does not escape the closing quote
        (b"[[]][[]][[]]", False),
    ],
)
def test_nesting_depth_is_measured_outside_strings(text, deeper_than_2):
    assert contract.nests_deeper_than(text, 2) is deeper_than_2


# --- the secret outside debug ---------------------------------------------------------------------

PRODUCTION = {"DJANGO_SECRET_KEY": "production-" + "k" * 40, "DJANGO_DEBUG": "0"}


def _run_command(tmp_path, env: dict[str, str | None], *args: str) -> subprocess.CompletedProcess:
    merged = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    cmd = [sys.executable, "manage.py", "run_sandbox_gateway", "--port", "0", "--state-dir", str(tmp_path / "s")]
    return subprocess.run([*cmd, *args], cwd=gateway_fixture.REPO, env=merged, capture_output=True, text=True,
                          timeout=60)  # fmt: skip


@pytest.mark.parametrize(
    ("secret", "args", "reason"),
    [
        (None, [], "no secret is set"),
        (DEV_SANDBOX_SECRET, [], "the public development one"),
        ("s" * 31, [], "use at least 32"),
        (None, ["--secret", DEV_SANDBOX_SECRET], "the public development one"),
    ],
    ids=["unset", "dev-secret", "too-short", "dev-secret-on-the-command-line"],
)
def test_outside_debug_the_gateway_refuses_to_start_without_a_real_secret(tmp_path, secret, args, reason):
    result = _run_command(tmp_path, {**PRODUCTION, "FAILSAFE_SANDBOX_SECRET": secret}, *args)
    assert result.returncode != 0
    assert "refuses to start outside debug" in result.stderr
    assert reason in result.stderr
    assert "listening on" not in result.stdout + result.stderr


def test_the_serving_module_started_directly_refuses_the_development_secret(tmp_path):
    env = {**os.environ, "FAILSAFE_SANDBOX_SECRET": DEV_SANDBOX_SECRET}
    cmd = [sys.executable, "-m", "corrections.sandbox.serve", "--port", "0", "--state-dir", str(tmp_path / "s")]
    result = subprocess.run(cmd, cwd=gateway_fixture.REPO, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "refuses to start: the secret is the public development one" in result.stderr


def test_the_wsgi_module_refuses_the_development_secret(tmp_path):
    env = {**os.environ, "FAILSAFE_SANDBOX_SECRET": DEV_SANDBOX_SECRET, "FAILSAFE_SANDBOX_STATE_DIR": str(tmp_path)}
    cmd = [sys.executable, "-c", "import corrections.sandbox.wsgi"]
    result = subprocess.run(cmd, cwd=gateway_fixture.REPO, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "refuses to start: the secret is the public development one" in result.stderr


def test_outside_debug_a_real_secret_starts_the_gateway(tmp_path):
    gateway = gateway_fixture.start_gateway(tmp_path / "s", env=PRODUCTION)
    try:
        assert gateway.request("GET", "/health").status_code == 200
    finally:
        gateway.stop()


def test_in_debug_the_development_secret_still_serves(tmp_path):
    debug = {"DJANGO_SECRET_KEY": None, "DJANGO_DEBUG": "1", "FAILSAFE_SANDBOX_SECRET": None}  # as `make run`
    gateway = gateway_fixture.start_gateway(tmp_path / "s", secret=DEV_SANDBOX_SECRET, env=debug)
    try:
        assert gateway.request("GET", "/health").status_code == 200
    finally:
        gateway.stop()
    assert "INSECURE" in "\n".join(gateway.output)


# --- the package's boundaries --------------------------------------------------------------------


def test_the_gateway_imports_without_django():
    code = (
        "import sys, corrections.sandbox.gateway, corrections.sandbox.app, corrections.sandbox.serve; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'django', 'rest_framework', 'celery', 'config', "
        "'accounts', 'incidents'} or m == 'corrections.models'); print(bad); sys.exit(1 if bad else 0)"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run([sys.executable, "-c", code], cwd=gateway_fixture.REPO, env=env, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_app_imports_the_sandbox_and_the_sandbox_has_no_http_server_of_its_own():
    repo = gateway_fixture.REPO
    allowed = {Path("corrections/management/commands/seed_sandbox_gateway.py")}
    offenders = []
    for path in repo.rglob("*.py"):
        relative = path.relative_to(repo)
        if relative.parts[0] in {".venv", "tests", "var"} or relative in allowed:
            continue
        imported = _imports(path)
        if relative.parts[:2] == ("corrections", "sandbox"):
            servers = {m for m in imported if m == "http.server" or m.split(".")[0] == "socketserver"}
            offenders += [f"{relative}: {m}" for m in servers]
        else:
            offenders += [f"{relative}: {m}" for m in imported if m.startswith("corrections.sandbox")]
    assert offenders == []


# --- without the process ----------------------------------------------------------------------


def test_seed_is_idempotent_and_leaves_corrections_alone(tmp_path):
    accounts = [{"account_id": "acct-alice", "key": "sk-demo-alice", "tier": "verified"}]
    deployments = [{"slug": "atlas-api", "model": "atlas", "current_version": "atlas-2.0"}]
    assert seed(tmp_path, accounts=accounts, deployments=deployments)["changed"] == 2
    store = Store(tmp_path)
    with store.locked():
        store.state["corrections"]["1"] = {"state": "active"}
        store.save_state()
    assert seed(tmp_path, accounts=accounts, deployments=deployments)["changed"] == 0
    state = json.loads((tmp_path / STATE_FILE).read_text())
    assert state["corrections"] == {"1": {"state": "active"}}
    assert state["deployments"]["atlas-api"]["versions"] == ["atlas-2.0"]


def test_seed_refuses_two_accounts_sharing_a_key(tmp_path):
    accounts = [
        {"account_id": "acct-a", "key": "sk-same", "tier": "free"},
        {"account_id": "acct-b", "key": "sk-same", "tier": "free"},
    ]
    with pytest.raises(ValueError, match="share one API key"):
        seed(tmp_path, accounts=accounts)


def test_gateway_vocabulary_matches_the_catalogue():
    from corrections import catalogue

    assert tuple(catalogue.TYPES) == vocabulary.CORRECTION_TYPES
    assert {k for k, t in catalogue.TYPES.items() if t.target_kind == "model"} == vocabulary.MODEL_WIDE_TYPES
    assert {k for k, t in catalogue.TYPES.items() if not t.dispatchable} == vocabulary.NEVER_DISPATCHED
    assert set(catalogue.CAPABILITIES) == vocabulary.CAPABILITIES
    assert set(catalogue.SAFEGUARDS) == vocabulary.SAFEGUARDS == set(vocabulary.FLAGGED_WORDS)
    assert set(catalogue.SAFEGUARD_SETTINGS) == vocabulary.SAFEGUARD_SETTINGS
    assert set(catalogue.USE_CASES) == vocabulary.USE_CASES
    assert set(catalogue.ACCESS_TIERS) == vocabulary.ACCESS_TIERS
    assert set(catalogue.RATE_LIMIT_SCOPES) == vocabulary.RATE_LIMIT_SCOPES
    for ctype in catalogue.TYPES.values():
        if ctype.dispatchable:
            assert ctype.key in contract._PARAMS


# --- the OpenAPI document -----------------------------------------------------------------------


def _openapi() -> dict:
    return yaml.safe_load(OPENAPI.read_text())


def _validator(doc: dict, name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": doc["components"]})


def test_openapi_document_describes_the_whole_contract():
    doc = _openapi()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]["/corrections/{id}"]) >= {"put", "delete", "get", "parameters"}
    assert "get" in doc["paths"]["/health"]
    for name, schema in doc["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema), name
    dispatchable = [t for t in vocabulary.CORRECTION_TYPES if t not in vocabulary.NEVER_DISPATCHED]
    assert doc["components"]["schemas"]["CorrectionType"]["enum"] == dispatchable
    assert set(doc["components"]["schemas"]["ApplyRequest"]["discriminator"]["mapping"]) == set(dispatchable)
    for vocab, schema in (
        (vocabulary.CAPABILITIES, "Capability"),
        (vocabulary.SAFEGUARDS, "Safeguard"),
        (vocabulary.SAFEGUARD_SETTINGS, "SafeguardSetting"),
        (vocabulary.USE_CASES, "UseCase"),
        (vocabulary.ACCESS_TIERS, "AccessTier"),
    ):
        assert set(doc["components"]["schemas"][schema]["enum"]) == vocab


@pytest.mark.parametrize(
    ("ctype", "params", "deployment"),
    [
        ("block_accounts", {"accounts": ["acct-mallory"]}, "atlas-api"),
        ("restrict_access_tier", {"allowed_tiers": ["verified"]}, "atlas-api"),
        ("rate_limit", {"scope": "deployment", "subject": "atlas-api", "requests_per_minute": 100}, "atlas-api"),
        ("disable_capability", {"capability": "browsing"}, "atlas-api"),
        ("tighten_safeguard", {"safeguard": "cyber_classifier", "setting": "maximum"}, "atlas-api"),
        ("restrict_use_case", {"use_cases": ["surveillance"]}, "atlas-api"),
        ("rollback_model", {"version": "atlas-1.9"}, "atlas-api"),
        ("pause_deployment", {}, "atlas-api"),
        ("withdraw_model", {"model": "atlas"}, None),
    ],
)
def test_every_body_the_gateway_accepts_matches_the_openapi_schema(ctype, params, deployment):
    body = {"correction_id": "7", "type": ctype, "deployment": deployment, "model": "atlas", "params": params,
            "expires_at": _in(60), "generation": 1}  # fmt: skip
    deployments = {"atlas-api": {"model": "atlas", "current_version": "atlas-2.0", "versions": ["atlas-1.9"]}}
    contract.parse_apply(json.dumps(body).encode(), correction_id="7", deployments=deployments)
    _validator(_openapi(), "ApplyRequest").validate(body)


def test_openapi_schema_refuses_what_the_gateway_refuses():
    validator = _validator(_openapi(), "ApplyRequest")
    base = {"correction_id": "7", "type": "block_accounts", "deployment": "atlas-api", "model": "atlas",
            "params": {"accounts": ["acct-mallory"]}, "expires_at": None, "generation": 1}  # fmt: skip
    assert validator.is_valid(base)
    for change in (
        {"type": "destroy_weights"},
        {"params": {"accounts": []}},
        {"params": {"accounts": ["acct-mallory"], "extra": 1}},
        {"type": "rate_limit", "params": {"scope": "tier", "subject": "gold", "requests_per_minute": 5}},
        {"type": "pause_deployment", "params": {"x": 1}},
        {"type": "withdraw_model", "params": {"model": "atlas"}},  # a deployment given to a model-wide type
        {"generation": -1},
    ):
        assert not validator.is_valid({**base, **change}), change
