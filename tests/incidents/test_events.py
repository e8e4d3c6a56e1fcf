"""The ledger's vocabulary (incidents.events): every verb recorded anywhere is a member of one
registered enumeration, each member reads as a sentence, and row locks go through incidents.locks."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import pytest
from django.contrib import admin
from django.core.management import call_command

from accounts import events
from accounts.events import AccountEvent
from accounts.models import LedgerEvent
from incidents.admin import RegistryAdmin
from incidents.audit import narrative
from incidents.events import IncidentEvent

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "config", "corrections", "incidents")
VERB_SHAPE = re.compile(r"[a-z_]+\.[a-z_]+")


def _sources(app: str):
    for path in sorted((ROOT / app).rglob("*.py")):
        if "migrations" not in path.parts:
            yield path, ast.parse(path.read_text(), filename=str(path))


def _verb_argument(call: ast.Call) -> ast.expr | None:
    """The verb a call records: ledger.record(verb=...), an app's helper record/_record(actor,
    verb, ...), seed_ledger's _base(seq, actor, verb, ...)."""
    name = getattr(call.func, "attr", None) or getattr(call.func, "id", "")
    for keyword in call.keywords:
        if keyword.arg == "verb" and name in {"record", "_record", "_base"}:
            return keyword.value
    position = {"record": 1, "_record": 1, "_base": 2}.get(name)  # ledger.record itself is keyword-only
    return call.args[position] if position is not None and len(call.args) > position else None


def _verbs_in(node: ast.expr):
    """Each verb an expression can be: a literal, Enum.MEMBER, either branch of `a if c else b`,
    or any element of a tuple (rnd.choice((...))). A bare name is a forwarded parameter; a call
    such as IncidentEvent.registry_change(...) returns a member or raises."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        yield (node.value.id, node.attr)
    elif isinstance(node, ast.IfExp):
        yield from _verbs_in(node.body)
        yield from _verbs_in(node.orelse)
    elif isinstance(node, ast.Tuple | ast.List):
        for element in node.elts:
            yield from _verbs_in(element)
    elif isinstance(node, ast.Call):  # a choice among literals; other calls build verbs (tested below)
        for argument in node.args:
            if isinstance(argument, ast.Tuple | ast.List):
                yield from _verbs_in(argument)


def recorded_verbs():
    """(app, where, verb) for every verb the code records: a string, or (enum name, member name)."""
    for app in APPS:
        for path, tree in _sources(app):
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    argument = _verb_argument(node)
                elif isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "verb" for t in node.targets):
                    argument = node.value
                else:
                    continue
                for verb in _verbs_in(argument) if argument is not None else ():
                    # `verb = ...` also names words in messages ("granted"): only verb-shaped text counts.
                    if isinstance(node, ast.Call) or isinstance(verb, tuple) or VERB_SHAPE.fullmatch(verb):
                        yield app, f"{path.relative_to(ROOT)}:{node.lineno}", verb


def test_every_verb_recorded_in_the_code_is_a_member_of_a_registered_enumeration():
    enums = {enum.__name__: enum for enum in events.registered_enums()}
    apps_with_enums = {enum.__module__.split(".")[0] for enum in enums.values()}
    assert {"incidents", "accounts", "corrections"} <= apps_with_enums
    found, strays = {app: 0 for app in APPS}, []
    for app, where, verb in recorded_verbs():
        found[app] += 1
        if isinstance(verb, tuple):
            enum_name, member = verb
            if enum_name not in enums or member not in enums[enum_name].__members__:
                strays.append((where, f"{enum_name}.{member}"))
        else:
            # A literal: in an app with its own enumeration it should have been a member.
            strays.append((where, verb))
    # An Enum.MEMBER listed here: register the enumeration (accounts.events.register_verbs).
    assert strays == []
    assert found["incidents"] >= 20 and found["accounts"] >= 6  # the walk reaches the record calls


def test_every_verb_seed_ledger_writes_is_registered(db):
    call_command("seed_ledger", events=400, seed=7, stdout=open("/dev/null", "w"))  # noqa: SIM115

    written = set(LedgerEvent.objects.values_list("verb", flat=True))

    assert len(written) >= 8
    assert written - events.registered_verbs() == set()


@pytest.mark.parametrize("model_admin", [m for m in admin.site._registry.values() if isinstance(m, RegistryAdmin)])
def test_every_change_the_registry_admin_records_has_a_verb(model_admin):
    models = [model_admin.model, *(inline.model for inline in model_admin.inlines)]
    for model in models:
        for what in ("created", "changed", "deleted"):
            assert isinstance(model_admin._verb(model(), what), IncidentEvent)


def test_a_verb_outside_the_vocabulary_is_refused_not_recorded():
    with pytest.raises(ValueError):
        IncidentEvent.registry_change("incident", "deleted")  # incidents are not edited in the admin


def test_a_verb_belongs_to_one_enumeration_only():
    class Clash(StrEnum):
        NOTE = "timeline.note_added"

    with pytest.raises(ValueError, match="timeline.note_added"):
        events.register_verbs(Clash)
    assert events.verb_member("timeline.note_added") is IncidentEvent.NOTE_ADDED


@pytest.mark.parametrize("member", [*IncidentEvent, *AccountEvent], ids=str)
def test_every_member_reads_as_a_sentence(member):
    event = LedgerEvent(verb=member.value, object_id="3", incident_ref="INC-2026-0001", at=datetime.now(UTC),
                        before={}, after={})  # fmt: skip
    sentence = narrative.describe(event)
    assert sentence.strip() and sentence == member.phrase(event)


def test_the_narratives_phrases_for_incidents_come_from_the_enumeration(monkeypatch):
    event = LedgerEvent(verb="incident.escalated", object_id="1", at=datetime.now(UTC),
                        before={"severity": "SEV3"}, after={"severity": "SEV1", "called_in": "leadership"})  # fmt: skip
    assert narrative.describe(event) == "escalated the incident to SEV1, calling in leadership"
    monkeypatch.setattr(IncidentEvent.ESCALATED, "_phrase", lambda e: "raised the alarm")
    assert narrative.describe(event) == "raised the alarm"


def test_every_row_lock_in_incidents_goes_through_incidents_locks():
    outside = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path, tree in _sources("incidents")
        if path.name != "locks.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "select_for_update"
    ]
    assert outside == []
