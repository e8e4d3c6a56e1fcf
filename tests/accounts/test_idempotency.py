"""The idempotency records: keys scoped to a user, answers replayed, old records purged."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import idempotency
from accounts.actor import Actor
from accounts.models import IdempotencyRecord
from accounts.roles import Role
from accounts.tasks import purge_idempotency_records
from config.errors import DomainError

API = idempotency.Channel.API
CREATED = idempotency.Answer(201, "application/json", "{}")


@pytest.fixture
def actor(make_user):
    return Actor(user=make_user(Role.RESPONDER), source="api")


def run_once(actor, key="k", print_="p", answer=CREATED):
    calls = []

    def run():
        calls.append(1)
        return answer

    outcome = idempotency.idempotency_run_once(actor=actor, channel=API, key=key, fingerprint=print_, run=run)
    return outcome, len(calls)


def test_the_first_answer_is_stored_and_replayed_without_running_again(actor):
    first, ran_first = run_once(actor)
    second, ran_second = run_once(actor, answer=idempotency.Answer(500, "", "different"))

    assert (ran_first, ran_second) == (1, 0)
    assert first.replayed is False and second.replayed is True
    assert second.answer == CREATED


def test_an_answer_not_kept_leaves_no_record_and_the_key_free(actor):
    outcome, _ = run_once(actor, answer=None)
    assert outcome.answer is None and IdempotencyRecord.objects.count() == 0
    assert run_once(actor)[1] == 1


def test_a_different_fingerprint_is_refused_with_422(actor):
    run_once(actor, print_="one")
    with pytest.raises(idempotency.IdempotencyKeyReused) as refused:
        run_once(actor, print_="two")
    assert refused.value.status == 422 and isinstance(refused.value, DomainError)


def test_the_web_and_api_channels_do_not_share_keys(actor):
    run_once(actor)
    outcome = idempotency.idempotency_run_once(
        actor=actor, channel=idempotency.Channel.WEB, key="k", fingerprint="other",
        run=lambda: idempotency.Answer(302, "", "/x/"),
    )  # fmt: skip
    assert outcome.replayed is False


def test_a_system_actor_has_no_keys():
    with pytest.raises(DomainError) as refused:
        run_once(Actor.system("t"))
    assert refused.value.code == "forbidden"


@pytest.mark.parametrize("key", ["", " " * 256, "\x7f", "\x00", "ü"])
def test_keys_are_1_to_255_printable_ascii(key):
    with pytest.raises(DomainError) as refused:
        idempotency.validate_key(key, field="Idempotency-Key")
    assert refused.value.fields == {"Idempotency-Key": ["Must be 1 to 255 printable ASCII characters."]}


def test_fingerprint_parts_cannot_run_together():
    assert idempotency.fingerprint("POST", "/a/b") != idempotency.fingerprint("POST", "/a", "/b")
    assert idempotency.fingerprint("POST", "/a\ud800") != idempotency.fingerprint("POST", "/a")


def test_the_beat_sweep_purges_records_older_than_a_day(actor):
    run_once(actor, key="old")
    run_once(actor, key="fresh")
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=24, minutes=1))

    assert purge_idempotency_records() == 1

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]
