import json

import pytest
from django.core.management import CommandError, call_command

from accounts import ledger
from accounts.actor import Actor
from accounts.models import LedgerEvent, LedgerHead
from incidents.models import Incident


def _verify_output(**kwargs) -> str:
    from io import StringIO

    out = StringIO()
    call_command("verify_ledger", stdout=out, **kwargs)
    return out.getvalue()


def test_verify_ledger_prints_the_count_and_head_hash(make_incident):
    make_incident()
    make_incident()
    head = LedgerHead.objects.get()
    output = _verify_output()
    assert f"events: {head.seq}" in output
    assert f"head hash: {head.hash}" in output
    assert "intact" in output


def test_verify_ledger_names_the_first_bad_seq_and_exits_non_zero(make_incident, tamper, capsys):
    for _ in range(3):
        make_incident()
    tamper("UPDATE {ledger} SET verb = %s WHERE seq = 2", ["incident.forged"])
    with pytest.raises(CommandError) as broken:
        _verify_output()
    assert broken.value.returncode == 1
    assert "seq 2" in str(broken.value)
    assert "content does not match its hash" in str(broken.value)


def test_verify_ledger_exit_status_from_the_shell(make_incident, tamper, capsys):
    make_incident()
    make_incident()
    tamper("DELETE FROM {ledger} WHERE seq = 1")
    with pytest.raises(SystemExit) as exited:
        from django.core.management import ManagementUtility

        ManagementUtility(["manage.py", "verify_ledger"]).execute()
    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert "first bad seq: 1" in captured.out
    assert "BROKEN" in captured.err


def test_seed_ledger_appends_a_valid_chain_after_the_existing_head(make_incident):
    make_incident()
    before = LedgerHead.objects.get().seq
    call_command("seed_ledger", events=500, seed=7, batch=120, stdout=None)
    head = LedgerHead.objects.get()
    assert head.seq == before + 500 == LedgerEvent.objects.count()
    result = ledger.verify()
    assert result.ok, result
    assert result.head_hash == head.hash


def test_seed_ledger_events_describe_incidents_that_exist(db):
    call_command("seed_ledger", events=300, seed=3)
    refs = set(LedgerEvent.objects.exclude(incident_ref="").values_list("incident_ref", flat=True))
    assert refs and refs <= set(Incident.objects.values_list("ref", flat=True))
    verbs = set(LedgerEvent.objects.values_list("verb", flat=True))
    assert {"incident.created", "incident.status_changed", "timeline.note_added"} <= verbs


def test_seeded_chain_still_accepts_ordinary_appends(db, make_incident):
    call_command("seed_ledger", events=50, seed=1)
    make_incident()
    assert ledger.verify().ok


# --- the fast verification path is the same function as canonical() --------------------------

AWKWARD_VALUES = [
    None,
    {},
    {"title": 'quotes " and \\ backslashes', "emoji": "🚨 naïve — ünïcode", "ctl": "tab\tnew\nline\x01"},
    {"nested": {"z": [3, 2, {"b": None, "a": True}], "a": 1.5, "n": -7}, "empty": [], "big": 12345678901234},
    {"b": 1, "a": 2, "aa": 0.1, "é": "accent", "A": "upper"},
]


@pytest.mark.parametrize("value", AWKWARD_VALUES)
def test_fast_canonical_form_matches_the_definition(db, make_user, value):
    from django.db import transaction

    user = make_user()
    actor = Actor(user=user, source="web", request_id="req-\u00e9", client_ip="203.0.113.9")
    with transaction.atomic():
        ledger.record(
            actor=actor, verb="test.awkward", object_type="x\"y", object_id="1",
            incident_ref="", before=value, after={"v": value}, reason="why:\n\"because\" ✓",
        )  # fmt: skip
    event = LedgerEvent.objects.get(verb="test.awkward")
    fields = {name: getattr(event, name) for name in ledger.HASHED_FIELDS}
    (row,) = ledger.chain_rows(LedgerEvent.objects.filter(pk=event.pk))
    assert ledger.ChainCheck().canonical(row) == ledger.canonical(fields)
    assert ledger.verify().ok
    json.loads(ledger.canonical(fields))
