"""The corrections ledger vocabulary is one enumeration: every verb the app records is a member,
and the audit history tells each one with the member's own phrase."""

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

import corrections
from accounts.actor import Actor
from accounts.models import LedgerEvent
from corrections.events import CorrectionEvent
from corrections.services import common
from incidents import audit

APP = Path(corrections.__file__).parent
# The verbs this app records are "correction.*", "actuator.*", "policy.*", "playbook.*" and "drill.*".
VERB = re.compile(r"^(correction|actuator|policy|playbook|drill)\.[a-z_]+$")


def _app_modules():
    for path in sorted(APP.rglob("*.py")):
        parts = path.relative_to(APP).parts
        if parts[0] in ("migrations", "sandbox") or path.name == "events.py":
            continue  # the gateway is a separate process with its own vocabulary
        yield path, ast.parse(path.read_text(), filename=str(path))


def _verb_argument(call: ast.Call) -> ast.expr | None:
    """The verb passed to ledger.record(verb=...) or the services' record(actor, verb, ...)."""
    func = call.func
    is_ledger = isinstance(func, ast.Attribute) and func.attr == "record" and getattr(func.value, "id", "") == "ledger"
    is_helper = isinstance(func, ast.Name) and func.id == "record"
    if not (is_ledger or is_helper):
        return None
    for keyword in call.keywords:
        if keyword.arg == "verb":
            return keyword.value
    return call.args[1] if is_helper and len(call.args) > 1 else None


def test_no_module_of_the_app_spells_a_ledger_verb_as_a_string():
    literals = [
        f"{path.relative_to(APP)}:{node.lineno} {node.value}"
        for path, tree in _app_modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and VERB.match(node.value)
    ]
    assert literals == []


def test_every_verb_the_app_records_is_a_correction_event():
    calls, not_members = 0, []
    for path, tree in _app_modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or (verb := _verb_argument(node)) is None:
                continue
            calls += 1
            named = isinstance(verb, ast.Attribute) and getattr(verb.value, "id", "") == "CorrectionEvent"
            if isinstance(verb, ast.Constant) or (named and verb.attr not in CorrectionEvent.__members__):
                not_members.append(f"{path.relative_to(APP)}:{node.lineno} {ast.unparse(verb)}")
    assert calls >= 20, "the scan no longer finds the app's ledger.record calls"
    assert not_members == []


def test_every_member_is_a_verb_of_this_app():
    assert [event.value for event in CorrectionEvent if not VERB.match(event.value)] == []


def test_the_services_refuse_to_record_a_verb_that_is_not_a_member():
    with pytest.raises(ValueError, match="correction.made_up"):
        common.record(Actor.system("test"), "correction.made_up", None)  # refused before anything is read


@pytest.mark.parametrize("event", [e for e in CorrectionEvent if e.phrase is not None], ids=str)
def test_the_history_tells_each_event_with_its_members_phrase(event):
    ledger_event = LedgerEvent(verb=event.value, object_id="7", at=datetime.now(UTC), after={"paged": ["leader1"]})
    assert event.value in audit.registered_verbs()
    assert audit.describe(ledger_event) == event.phrase(ledger_event)


def test_a_correction_event_reads_as_its_phrase():
    approved = LedgerEvent(verb="correction.approved", object_id="12", at=datetime.now(UTC))
    assert audit.describe(approved) == "— correction 12 is approved"
    lapsed = LedgerEvent(verb="correction.lapsed", object_id="3", after={"deadline": "execute_by"})
    assert audit.describe(lapsed) == "— correction 3 lapsed (execute_by passed)"
