"""Two people at once, on PostgreSQL: the incident row lock serialises review writes."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts import ledger
from config.errors import DomainError
from incidents.models.reviews import FollowUpAction, ReviewVersion
from incidents.reviews import services

ROUNDS = 5


def _at_once(*calls) -> list[str]:
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = [""] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            call()
            outcomes[i] = "ok"
        except DomainError as err:
            outcomes[i] = err.code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


@pytest.mark.postgres
def test_an_edit_racing_the_publication_never_slips_into_the_published_version(
    transactional_db, resolved_incident, draft_of, people, actor_for
):
    incident = resolved_incident()
    draft = draft_of(incident)
    commander, participant = actor_for(people["commander"]), actor_for(people["participant"])
    for n in range(ROUNDS):
        read = draft.content_hash
        edit, publish = _at_once(
            lambda n=n: services.review_save_draft(actor=participant, incident=incident, sections={"lessons": f"L{n}"}),
            lambda read=read: services.review_publish(actor=commander, incident=incident, content_hash=read),
        )
        published = ReviewVersion.objects.filter(published_at__isnull=False).order_by("-number").first()
        if publish == "ok":
            assert published.content_hash == read  # exactly what the commander read
            assert edit == "conflict"  # the edit came second and met a published version
        else:
            assert (edit, publish) == ("ok", "conflict")  # the edit came first: the hash went stale
        if published is not None and published.content_hash == read:
            draft = services.review_amend(actor=participant, incident=incident, reason=f"round {n}")
        draft = services.review_save_draft(actor=participant, incident=incident, sections={"impact": f"I{n}"})
    assert ledger.verify().ok


@pytest.mark.postgres
def test_two_amendments_at_once_start_one_new_version(transactional_db, resolved_incident, draft_of, people, actor_for):
    incident = resolved_incident()
    draft = draft_of(incident)
    services.review_publish(actor=actor_for(people["commander"]), incident=incident, content_hash=draft.content_hash)

    outcomes = _at_once(
        lambda: services.review_amend(actor=actor_for(people["participant"]), incident=incident, reason="a"),
        lambda: services.review_amend(actor=actor_for(people["commander"]), incident=incident, reason="b"),
    )

    assert sorted(outcomes) == ["conflict", "ok"]
    assert list(ReviewVersion.objects.order_by("number").values_list("number", flat=True)) == [1, 2]


@pytest.mark.postgres
def test_adding_a_follow_up_outside_any_request_transaction_locks_and_writes(
    transactional_db, resolved_incident, draft_of, people, actor_for
):
    """follow_up_add is its own transaction: its row locks need one on PostgreSQL (no 500), and the
    action and its ledger event are written together."""
    incident = resolved_incident()
    draft_of(incident)

    action = services.follow_up_add(
        actor=actor_for(people["participant"]), incident=incident, title="Add a canary",
        owner=people["participant"], due_date=timezone.localdate() + timedelta(days=7),
    )  # fmt: skip

    assert FollowUpAction.objects.filter(pk=action.pk).exists()
    assert ledger.verify().ok
