import pytest
from django.db import connection

from incidents import ledger
from incidents.models import LedgerEvent


def test_every_incident_change_appends_a_linked_event(make_incident):
    make_incident()
    make_incident()
    events = list(LedgerEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev_hash == ledger.GENESIS_HASH
    for prev, event in zip(events, events[1:], strict=False):
        assert event.prev_hash == prev.hash
    assert ledger.verify().ok


def test_verification_reports_the_altered_event(make_incident):
    for _ in range(3):
        make_incident()
    target = LedgerEvent.objects.order_by("seq")[1]
    # Alter the stored row behind the application's back (as an attacker with SQL would).
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {LedgerEvent._meta.db_table} SET reason = %s WHERE seq = %s", ["tampered", target.seq]
        )
    result = ledger.verify()
    assert not result.ok
    assert result.first_bad_seq == target.seq


def test_verification_reports_a_deleted_event(make_incident):
    for _ in range(3):
        make_incident()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {LedgerEvent._meta.db_table} WHERE seq = 2")
    result = ledger.verify()
    assert not result.ok
    assert result.first_bad_seq == 2


def test_record_refuses_to_run_outside_a_transaction(transactional_db, make_user, actor_for):
    with pytest.raises(RuntimeError):
        ledger.record(actor=actor_for(make_user()), verb="test.outside", object_type="x", object_id="1")
