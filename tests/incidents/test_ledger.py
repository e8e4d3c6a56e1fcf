import pytest
from django.db import DatabaseError, connection, transaction

from accounts import ledger
from accounts.models import LedgerEvent, LedgerHead
from tests.incidents.conftest import LEDGER


def test_every_incident_change_appends_a_linked_event(make_incident):
    make_incident()
    make_incident()
    events = list(LedgerEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev_hash == ledger.GENESIS_HASH
    for prev, event in zip(events, events[1:], strict=False):
        assert event.prev_hash == prev.hash
    assert ledger.verify().ok


def test_verification_reports_the_altered_event(make_incident, tamper):
    for _ in range(3):
        make_incident()
    target = LedgerEvent.objects.order_by("seq")[1]
    tamper("UPDATE {ledger} SET reason = %s WHERE seq = %s", ["tampered", target.seq])
    result = ledger.verify()
    assert not result.ok
    assert result.first_bad_seq == target.seq
    assert result.problem == "content does not match its hash"


def test_verification_reports_a_deleted_event(make_incident, tamper):
    for _ in range(3):
        make_incident()
    tamper("DELETE FROM {ledger} WHERE seq = 2")
    result = ledger.verify()
    assert not result.ok
    assert result.first_bad_seq == 2


def test_verification_reports_a_truncated_tail(make_incident, tamper):
    for _ in range(3):
        make_incident()
    tamper("DELETE FROM {ledger} WHERE seq = 3")
    result = ledger.verify()
    assert not result.ok
    assert result.first_bad_seq == 3
    assert result.problem == "chain truncated"


def test_verification_reports_a_rewritten_hash_by_its_broken_link(make_incident, tamper):
    for _ in range(3):
        make_incident()
    # Re-hashing the altered event is not enough: the next event still points at the old hash.
    event = LedgerEvent.objects.get(seq=2)
    fields = {name: getattr(event, name) for name in ledger.HASHED_FIELDS} | {"reason": "rewritten"}
    tamper(
        "UPDATE {ledger} SET reason = %s, hash = %s WHERE seq = 2",
        ["rewritten", ledger.chain_hash(event.prev_hash, fields)],
    )
    result = ledger.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 3, "previous-hash link broken")


def test_verification_of_an_empty_ledger_is_ok_at_genesis(db):
    result = ledger.verify()
    assert (result.ok, result.events, result.head_hash) == (True, 0, ledger.GENESIS_HASH)


def test_verification_accepts_rows_given_as_dicts(make_incident):
    make_incident()
    rows = list(LedgerEvent.objects.order_by("seq").values(*ledger.HASHED_FIELDS, "prev_hash", "hash"))
    assert ledger.verify(rows).ok
    rows[0]["verb"] = "incident.forged"
    assert ledger.verify(rows).first_bad_seq == 1


def test_record_refuses_to_run_outside_a_transaction(transactional_db, make_user, actor_for):
    with pytest.raises(RuntimeError):
        ledger.record(actor=actor_for(make_user()), verb="test.outside", object_type="x", object_id="1")


# --- the database itself refuses changes (PostgreSQL) -----------------------------------------


def _refused(sql: str, params: list | None = None) -> str:
    with pytest.raises(DatabaseError) as refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(refused.value)


@pytest.mark.postgres
def test_database_refuses_update_of_a_ledger_event(make_incident):
    make_incident()
    message = _refused(f"UPDATE {LEDGER} SET reason = %s WHERE seq = 1", ["tampered"])
    assert "append-only" in message and "UPDATE" in message
    assert LedgerEvent.objects.get(seq=1).reason == ""


@pytest.mark.postgres
def test_database_refuses_delete_of_a_ledger_event(make_incident):
    make_incident()
    message = _refused(f"DELETE FROM {LEDGER} WHERE seq = 1")
    assert "append-only" in message and "DELETE" in message
    assert LedgerEvent.objects.filter(seq=1).exists()


@pytest.mark.postgres
def test_database_refuses_truncate_of_the_ledger(make_incident):
    make_incident()
    message = _refused(f"TRUNCATE {LEDGER}")
    assert "append-only" in message and "TRUNCATE" in message
    assert LedgerEvent.objects.count() == 1


@pytest.mark.postgres
def test_orm_update_and_delete_are_refused_too(make_incident):
    make_incident()
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerEvent.objects.filter(seq=1).update(reason="tampered")
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerEvent.objects.filter(seq=1).delete()


@pytest.mark.postgres
def test_appends_still_work_and_the_head_still_moves(make_incident):
    make_incident()
    make_incident()
    assert LedgerHead.objects.get().seq == LedgerEvent.objects.count() == 2
    assert ledger.verify().ok


@pytest.mark.postgres
def test_superuser_tampering_with_the_trigger_disabled_is_named_by_verification(make_incident):
    for _ in range(4):
        make_incident()
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone()[0], "this test alters the ledger as a PostgreSQL superuser"
        cursor.execute(f"ALTER TABLE {LEDGER} DISABLE TRIGGER incidents_ledgerevent_append_only")
        cursor.execute(f"UPDATE {LEDGER} SET actor_name = %s WHERE seq = 3", ["someone-else"])
        cursor.execute(f"ALTER TABLE {LEDGER} ENABLE TRIGGER incidents_ledgerevent_append_only")
    result = ledger.verify()
    assert (result.ok, result.first_bad_seq) == (False, 3)
    # The trigger is back on: a second attempt is refused again.
    _refused(f"UPDATE {LEDGER} SET actor_name = %s WHERE seq = 3", ["again"])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_transactional_tests_can_still_flush_a_protected_ledger(make_incident):
    make_incident()
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgenabled FROM pg_trigger WHERE tgname = 'incidents_ledgerevent_append_only'")
        assert cursor.fetchone()[0] == "O"  # enabled (origin)


@pytest.mark.postgres
def test_prefetched_verification_names_a_break_in_a_later_chunk_and_leaves_the_connection_usable(make_incident, tamper):
    for _ in range(12):
        make_incident()
    total = LedgerEvent.objects.count()
    assert ledger.verify(chunk_size=3) == ledger.verify(chunk_size=1000)
    assert ledger.verify(chunk_size=3).events == total
    tamper("UPDATE {ledger} SET reason = %s WHERE seq = %s", ["tampered", total - 1])
    result = ledger.verify(chunk_size=3)  # the break is several chunks in; the consumer stops early
    assert (result.ok, result.first_bad_seq, result.events) == (False, total - 1, total - 2)
    with connection.cursor() as cursor:  # the prefetch cursor is closed and the transaction intact
        cursor.execute("SELECT count(*) FROM pg_cursors")
        assert cursor.fetchone()[0] == 0
    assert LedgerEvent.objects.count() == total


TRICKY = [
    'quote " backslash \\ slash /',
    "controls \b\f\n\r\t \x01\x1f \x7f",
    "unicode é ü 漢字 emoji 🚨 line-sep \u2028 para-sep \u2029",
    "",
]


@pytest.mark.postgres
@pytest.mark.parametrize("text", TRICKY)
def test_postgresql_writes_the_same_canonical_bytes_as_python(make_user, actor_for, text):
    with transaction.atomic():
        event = ledger.record(
            actor=actor_for(make_user(username="ann")), verb="incident.created", object_type="x", object_id=text[:60],
            incident_ref="INC-1", before={"b": text, "n": 1.5, "z": [1, None, True]}, after={text or "k": {"é": text}},
            reason=text,
        )  # fmt: skip
    fields = {name: getattr(event, name) for name in ledger.HASHED_FIELDS}
    (row,) = ledger.canonical_parts(LedgerEvent.objects.filter(pk=event.pk))
    check = ledger.ChainCheck()
    seq, prev, digest, s0, roles, s1, after, s2, before, s3 = row
    built = (s0 + check._json(roles) + s1 + check._json(after) + s2 + check._json(before) + s3).encode()
    assert built == ledger.canonical(fields)
    assert ledger.verify().ok
