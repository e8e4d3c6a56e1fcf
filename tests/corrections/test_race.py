import threading

import pytest
from django.db import connection

from accounts import ledger
from accounts.actor import Actor
from accounts.models import LedgerEvent
from accounts.roles import Role
from config.errors import DomainError
from corrections import services
from corrections.models import Correction, OutboxEntry, State

THREADS = 20


@pytest.mark.postgres
def test_twenty_simultaneous_approvals_make_one_transition_and_one_outbox_entry(
    transactional_db, make_incident, make_user, task_sends
):
    requester = make_user(Role.RESPONDER)
    incident = make_incident(by=requester)
    correction = services.correction_request(
        actor=Actor(user=requester, source="web"), incident=incident, type="disable_capability",
        deployment="atlas-api", params={"capability": "code_execution"}, rationale="race",
    )  # fmt: skip
    approvers = [make_user(Role.INCIDENT_COMMANDER) for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []

    def approve(user):
        try:
            barrier.wait()
            services.correction_approve(
                actor=Actor(user=user, source="api"), correction=correction, content_hash=correction.content_hash
            )
            outcomes.append("approved")
        except DomainError as err:
            outcomes.append(err.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(u,)) for u in approvers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert sorted(outcomes) == ["approved"] + ["conflict"] * (THREADS - 1)
    assert Correction.objects.get(pk=correction.pk).state == State.APPROVED
    assert OutboxEntry.objects.filter(correction=correction).count() == 1
    assert LedgerEvent.objects.filter(verb="correction.approved", object_id=str(correction.pk)).count() == 1
    assert [name for name, *_ in task_sends] == ["corrections.dispatch_outbox_entry"]
    assert ledger.verify().ok


ROUNDS = 8


def _at_once(**calls) -> dict[str, str]:
    """Run each call in its own thread, released together; returns "ok" or the DomainError code of each."""
    barrier = threading.Barrier(len(calls))
    results: dict[str, str] = {}

    def run(name, call):
        try:
            barrier.wait()
            call()
            results[name] = "ok"
        except DomainError as err:
            results[name] = err.code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in calls.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.postgres
def test_edit_and_approve_at_once_never_count_an_approval_for_content_its_approver_did_not_see(
    transactional_db, make_incident, make_user, task_sends
):
    requester, approver = make_user(Role.RESPONDER), make_user(Role.INCIDENT_COMMANDER)
    incident = make_incident(by=requester)
    for round_ in range(ROUNDS):
        correction = services.correction_request(
            actor=Actor(user=requester, source="web"), incident=incident, type="disable_capability",
            deployment="atlas-api", params={"capability": "code_execution"}, rationale=f"race {round_}",
        )  # fmt: skip
        seen = correction.content_hash  # what the approver's page showed
        results = _at_once(
            edit=lambda c=correction: services.correction_edit(
                actor=Actor(user=requester, source="web"), correction=c, duration_minutes=7
            ),
            approve=lambda c=correction, reviewed=seen: services.correction_approve(
                actor=Actor(user=approver, source="api"), correction=c, content_hash=reviewed
            ),
        )
        final = Correction.objects.get(pk=correction.pk)
        live = list(correction.approvals.filter(voided_at__isnull=True))
        # Never an approval counted for content other than what the approver reviewed.
        assert all(a.content_hash == seen == final.content_hash for a in live), (results, final.state)
        if final.state == State.APPROVED:  # the approval won: the edit came too late and changed nothing
            assert results == {"approve": "ok", "edit": "conflict"} and final.duration_minutes != 7
        else:  # the edit won: the stale approval was refused, or recorded first and then voided by the edit
            assert final.state == State.PENDING_APPROVAL and not live and final.duration_minutes == 7
            assert results["edit"] == "ok"
    assert ledger.verify().ok
