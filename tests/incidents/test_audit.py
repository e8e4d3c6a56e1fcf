"""incidents.audit in isolation: diffs, phrases, filters, visibility."""

from __future__ import annotations

from datetime import UTC, datetime

from accounts.models import LedgerEvent
from accounts.roles import Role
from incidents import audit


def test_diff_shows_only_what_changed():
    lines = audit.event_diff({"severity": "SEV3", "title": "Same"}, {"severity": "SEV1", "title": "Same"})
    assert [(line.field, line.change, line.before, line.after) for line in lines] == [
        ("severity", "changed", "SEV3", "SEV1")
    ]


def test_diff_of_a_creation_lists_every_field_as_set_and_skips_empty_ones():
    lines = audit.event_diff(None, {"title": "Leak", "participants_added": [], "restricted": False})
    assert [(line.field, line.change, line.after) for line in lines] == [
        ("title", "set", "Leak"),
        ("restricted", "set", "no"),
    ]


def test_diff_names_cleared_and_removed_fields():
    lines = audit.event_diff({"commander": "casey", "old": 1}, {"commander": None})
    assert [(line.field, line.change) for line in lines] == [("commander", "cleared"), ("old", "removed")]


def test_diff_of_long_text_is_word_by_word():
    before = "The model refuses to give synthesis steps unless the user claims to be a licensed chemist."
    after = "The model gives synthesis steps when the user claims to be a licensed chemist."
    (line,) = audit.event_diff({"summary": before}, {"summary": after})
    assert ("del", "refuses to give") in line.inline and ("ins", "gives") in line.inline


def _event(verb: str, **fields) -> LedgerEvent:
    return LedgerEvent(verb=verb, object_id=fields.pop("object_id", "1"), at=datetime.now(UTC), **fields)


def test_known_verbs_read_as_sentences():
    assert (
        audit.describe(_event("incident.status_changed", before={"status": "triaged"}, after={"status": "in_review"}))
        == "moved the incident from triaged to in review"
    )
    assert audit.describe(_event("incident.access_granted", after={"user": "avery"})) == (
        "granted avery access to this restricted incident"
    )


def test_unknown_verbs_still_read_sensibly():
    assert audit.describe(_event("deployment_probe.result_recorded", object_id="12")) == (
        "deployment probe 12: result recorded"
    )


def test_a_decision_is_told_with_its_options_and_rationale():
    item = audit.narrate(
        _event("timeline.decision_recorded", after={"body": "Pause", "options_considered": "pause; wait",
                                                    "rationale": "Stops harm", "occurred_at": None})
    )  # fmt: skip
    assert item.details == [("Decision", "Pause"), ("Options considered", "pause; wait"), ("Rationale", "Stops harm")]
    assert item.diff == []


def test_filters_describe_themselves_for_the_export_header():
    filters = audit.AuditEventFilter(
        {"incident": "INC-2026-0001", "verb": "incident.", "since": "2026-01-02T03:04:05Z"}
    )
    expected = {"incident": "INC-2026-0001", "verb": "incident.", "since": "2026-01-02T03:04:05.000000Z"}
    assert filters.as_dict() == expected
    assert filters.filtering and not audit.AuditEventFilter({}).filtering


def test_users_without_an_audit_role_see_no_events(make_user, make_incident):
    make_incident()
    assert not audit.events_for(user=make_user(Role.RESPONDER)).exists()
    assert audit.events_for(user=make_user(Role.AUDITOR)).exists()
    assert audit.incident_history_for(user=make_user(Role.RESPONDER), ref="INC-2026-0001") is None
