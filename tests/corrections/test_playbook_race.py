"""Concurrency of playbooks and checklists, on PostgreSQL: a step ticked by many at once is ticked
once (and counted once); two commanders saving the same playbook at once make versions 2 and 3, never
two current ones; two overlapping playbooks created at once cannot both be saved."""

import threading

import pytest
from django.db import connection

from accounts import ledger
from accounts.actor import Actor
from accounts.models import LedgerEvent
from accounts.roles import Role
from config.errors import DomainError
from corrections.models import PlaybookVersion
from corrections.playbooks import services as playbooks
from incidents import services as incidents
from incidents.events import IncidentEvent
from tests.conftest import CBRN_PLAYBOOK

THREADS = 10


def _at_once(calls) -> list[str]:
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []

    def run(call):
        try:
            barrier.wait()
            call()
            outcomes.append("ok")
        except DomainError as err:
            outcomes.append(err.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return sorted(outcomes)


@pytest.mark.postgres
def test_many_ticks_of_one_step_at_once_tick_it_once(transactional_db, make_playbook, make_incident, make_user):
    make_playbook()
    incident = make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV2")
    item = incident.checklist.first()
    people = [make_user(Role.RESPONDER) for _ in range(THREADS)]
    calls = [
        (lambda u=u: incidents.checklist_item_tick(actor=Actor(user=u, source="api"), incident=incident,
                                                   item_id=item.pk))
        for u in people
    ]  # fmt: skip
    assert _at_once(calls) == ["conflict"] * (THREADS - 1) + ["ok"]
    incident.refresh_from_db()
    assert incident.checklist_done == 1
    assert LedgerEvent.objects.filter(verb=IncidentEvent.CHECKLIST_TICKED).count() == 1
    assert ledger.verify().ok


@pytest.mark.postgres
def test_simultaneous_saves_make_consecutive_versions_and_one_current(transactional_db, make_playbook, make_user):
    first = make_playbook()
    editors = [make_user(Role.ADMIN) for _ in range(4)]
    calls = [
        (lambda u=u: playbooks.playbook_version_create(actor=Actor(user=u, source="api"), playbook=first.playbook,
                                                       data=CBRN_PLAYBOOK))
        for u in editors
    ]  # fmt: skip
    assert _at_once(calls) == ["ok"] * 4
    versions = PlaybookVersion.objects.filter(playbook=first.playbook)
    assert sorted(versions.values_list("number", flat=True)) == [1, 2, 3, 4, 5]
    assert list(versions.filter(is_current=True).values_list("number", flat=True)) == [5]


@pytest.mark.postgres
def test_two_overlapping_playbooks_created_at_once_cannot_both_be_saved(transactional_db, registry, make_user):
    make_playbook_first = make_user(Role.ADMIN)  # one playbook must exist: creation locks every playbook row
    playbooks.playbook_create(actor=Actor(user=make_playbook_first, source="api"), slug="unrelated",
                              data=CBRN_PLAYBOOK | {"risk_domains": ["privacy"], "preauthorised_type": ""})  # fmt: skip
    authors = [make_user(Role.ADMIN) for _ in range(2)]
    calls = [
        (lambda u=u, n=n: playbooks.playbook_create(actor=Actor(user=u, source="api"), slug=f"cbrn-{n}",
                                                    data=CBRN_PLAYBOOK))
        for n, u in enumerate(authors)
    ]  # fmt: skip
    assert _at_once(calls) == ["invalid", "ok"]
