import threading

import pytest
from django.db import connection

from accounts.actor import Actor
from accounts.roles import Role
from config.errors import DomainError
from corrections import services
from corrections.models import Correction, OutboxEntry, State
from incidents import ledger
from incidents.models import LedgerEvent

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
            services.correction_approve(actor=Actor(user=user, source="api"), correction=correction)
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
