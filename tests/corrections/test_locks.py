"""Row locks in one order — incident, correction, approvals, outbox entry — through corrections.locks."""

import ast
import threading
import time
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

import corrections
from accounts.actor import Actor
from accounts.roles import Role
from config.errors import DomainError
from corrections import dispatch, locks, services
from corrections.connectors import CallResult
from corrections.models import Correction, CorrectionTarget, OutboxEntry, State
from incidents.models import Incident

APP = Path(corrections.__file__).parent


def test_every_row_lock_of_the_app_is_taken_in_corrections_locks():
    elsewhere = [
        f"{path.relative_to(APP)}:{node.lineno}"
        for path in sorted(APP.rglob("*.py"))
        if path.name != "locks.py" or path.parent != APP
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr == "select_for_update"
    ]
    assert elsewhere == []


@pytest.mark.postgres
def test_a_worker_finishing_and_a_person_acting_on_the_same_correction_queue_instead_of_deadlocking(
    transactional_db, make_incident, make_user, registry, accounts, monkeypatch, task_sends
):
    """The person's service locks the incident, then the correction. The worker's success stamps the
    incident as contained: were it to lock the correction first, each would hold what the other waits for."""
    responder = make_user(Role.RESPONDER)
    incident = make_incident(by=responder)
    correction = services.correction_request(
        actor=Actor(user=responder, source="web"), incident=incident, type="block_accounts",
        deployment="atlas-api", params={"accounts": ["acct-mallory"]}, rationale="lock order",
    )  # fmt: skip
    entry = OutboxEntry.objects.get(correction=correction, action="apply")
    claimed_entry, claimed = dispatch._claim(entry.pk, timezone.now())
    assert claimed.state == State.APPLYING
    ok = CallResult(ok=True, method="PUT", url="http://actuator.test/corrections/1", status=200, body={})

    person_has_incident, worker_started = threading.Event(), threading.Event()
    real_correction = locks.correction

    def correction_after_a_pause(correction_id, **kwargs):
        if threading.current_thread().name == "person":  # holds the incident: let the worker run into it
            person_has_incident.set()
            worker_started.wait(10)
            time.sleep(0.5)
        return real_correction(correction_id, **kwargs)

    monkeypatch.setattr(locks, "correction", correction_after_a_pause)
    results: dict[str, str] = {}

    def person():
        try:
            services.correction_cancel(actor=Actor(user=responder, source="web"), correction=correction, reason="x")
            results["person"] = "ok"
        except DomainError as err:
            results["person"] = err.code
        except Exception as exc:  # noqa: BLE001 - a deadlock is what this test looks for
            results["person"] = type(exc).__name__
        finally:
            connection.close()

    def worker():
        try:
            person_has_incident.wait(10)
            worker_started.set()
            target = CorrectionTarget.objects.get(correction=correction)
            results["worker"] = dispatch._finish(claimed_entry, claimed, [(target, ok)]).result
        except Exception as exc:  # noqa: BLE001
            results["worker"] = type(exc).__name__
        finally:
            connection.close()

    threads = [threading.Thread(target=person, name="person"), threading.Thread(target=worker, name="worker")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert results == {"person": "conflict", "worker": "done"}  # an applying correction cannot be cancelled
    assert Correction.objects.get(pk=correction.pk).state == State.ACTIVE
    assert Incident.objects.get(pk=incident.pk).contained_at is not None
