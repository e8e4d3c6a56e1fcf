"""Regulator reports: pre-filled drafts, checked fields, frozen hashed versions, amendments with
their diff, hooks, visibility and drills (issue 13 §3)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction

from accounts import ledger
from accounts.models import LedgerEvent
from config.errors import DomainError
from corrections import services as corrections
from incidents import audit
from incidents.models.reports import ReportVersion
from incidents.reports import bundle, hooks, records, selectors, services
from incidents.reports.events import ReportEvent
from tests.incidents.reports.conftest import GPAI, GPAI_INITIAL


def _start(actor, incident, regime=GPAI, **kwargs) -> ReportVersion:
    return services.report_start(actor=actor, incident=incident, regime=regime, **kwargs)


def _fill_and_submit(actor, incident, *, regime=GPAI, fields=None, channel="portal") -> ReportVersion:
    draft = services.report_save_draft(actor=actor, incident=incident, regime=regime, fields=fields or GPAI_INITIAL)
    return services.report_submit(
        actor=actor, incident=incident, regime=regime, content_hash=draft.content_hash, channel=channel,
        channel_reference="AIO-2026-17",
    )  # fmt: skip


def test_a_new_draft_is_prefilled_from_the_incident(exfiltration, people, actor_for):
    incident = exfiltration()
    corrections.correction_request(
        actor=actor_for(people["responder"]), incident=incident, type="pause_deployment", deployment="atlas-api",
        params={}, rationale="Stop serving the stolen model",
    )  # fmt: skip

    draft = _start(actor_for(people["commander"]), incident)

    fields = draft.fields
    assert (draft.number, draft.kind, draft.is_submitted) == (1, "initial", False)
    assert fields["title"] == "Weights exfiltrated"
    assert fields["description"] == "An attacker copied the model weights."
    assert fields["deployments"] == ["atlas-api"] and fields["models"] and fields["model_involved"]
    assert fields["detected_at"] == ledger.format_time(incident.detected_at)
    assert fields["occurred_at"] == fields["start_date"] == ledger.format_time(incident.occurred_at)
    assert fields["aware_of_involvement_at"] == fields["detected_at"]
    (correction,) = fields["corrections"]
    assert (correction["type"], correction["target"], correction["state"]) == ("pause_deployment", "atlas-api",
                                                                               "pending_approval")  # fmt: skip
    assert correction["requested_at"].endswith("Z")
    decisions = [d for d in fields["decisions"] if d["kind"] == "decision"]
    assert decisions[0]["text"].startswith("Rotate every credential (rationale:")
    assert any("correction" in d["text"] or d["kind"] == "event" for d in fields["decisions"])
    assert "pause_deployment on atlas-api: pending_approval" in fields["actions"]
    assert services.field_errors(GPAI, fields) == {}  # the pre-fill fits the regime's schema


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"incident_type": "meteor"}, "incident_type", "Choose one of"),
        ({"start_date": "yesterday"}, "start_date", "Give a date and time"),
        ({"start_date": "2026-11-30T09:00:00"}, "start_date", "Give the time zone too"),
        ({"harm_and_affected": 12}, "harm_and_affected", "Give text"),
        ({"title": "x" * 201}, "title", "At most 200 characters"),
        ({"models": "not a list"}, "models", "Give a list"),
        ({"favourite_colour": "blue"}, "favourite_colour", "not a field of this report"),
    ],
)
def test_a_draft_refuses_bad_fields_naming_each(exfiltration, people, actor_for, changes, field, message):
    incident = exfiltration()
    actor = actor_for(people["commander"])
    draft = _start(actor, incident)

    with pytest.raises(DomainError) as refused:
        services.report_save_draft(actor=actor, incident=incident, regime=GPAI, fields=changes)

    assert refused.value.code == "invalid"
    assert any(message in m for m in refused.value.fields[field]), refused.value.fields
    assert ReportVersion.objects.get(pk=draft.pk).content_hash == draft.content_hash  # nothing saved


def test_submitting_needs_what_the_regime_requires_named_per_field(exfiltration, people, actor_for):
    incident = exfiltration()
    actor = actor_for(people["commander"])
    draft = _start(actor, incident)

    with pytest.raises(DomainError) as refused:
        services.report_submit(actor=actor, incident=incident, regime=GPAI, content_hash=draft.content_hash,
                               channel="portal")  # fmt: skip

    assert {"incident_type", "harm_and_affected", "chain_of_events", "submitter_contact"} <= set(refused.value.fields)
    assert "root_cause_analysis" not in refused.value.fields  # needed only in the final report
    assert not ReportVersion.objects.get(pk=draft.pk).is_submitted


def test_submitting_freezes_the_version_hashes_and_ledgers_it(exfiltration, people, actor_for):
    incident = exfiltration()
    actor = actor_for(people["commander"])
    _start(actor, incident)

    version = _fill_and_submit(actor, incident)

    assert version.is_submitted and version.submitted_by == people["commander"]
    assert (version.channel, version.channel_reference) == ("portal", "AIO-2026-17")
    record = records.version_record(version.report, version)
    assert version.sha256 == records.sha256_of(record) and len(version.sha256) == 64
    assert record["fields"]["incident_type"] == "cybersecurity_breach"
    event = LedgerEvent.objects.get(verb=ReportEvent.SUBMITTED)
    assert (event.incident_ref, event.after["sha256"], event.after["version"]) == (incident.ref, version.sha256, 1)
    with pytest.raises(DomainError) as refused:
        services.report_save_draft(actor=actor, incident=incident, regime=GPAI, fields={"title": "Rewritten"})
    assert refused.value.code == "conflict"
    assert ReportVersion.objects.get(pk=version.pk).fields["title"] == "Weights exfiltrated"


@pytest.mark.postgres
def test_the_database_refuses_to_change_or_delete_a_submitted_version_on_postgresql(exfiltration, people, actor_for):
    incident = exfiltration()
    actor = actor_for(people["commander"])
    _start(actor, incident)
    version = _fill_and_submit(actor, incident)

    for attempt in (
        lambda: ReportVersion.objects.filter(pk=version.pk).update(fields={"title": "Behind the app's back"}),
        lambda: ReportVersion.objects.filter(pk=version.pk).update(submitted_at=None),
        lambda: ReportVersion.objects.filter(pk=version.pk).delete(),
    ):
        with pytest.raises(DatabaseError, match="was submitted"), transaction.atomic():
            attempt()
    assert ReportVersion.objects.get(pk=version.pk).sha256 == version.sha256


def test_a_stale_submit_is_refused(exfiltration, people, actor_for):
    incident = exfiltration()
    actor = actor_for(people["commander"])
    draft = _start(actor, incident)
    services.report_save_draft(actor=actor, incident=incident, regime=GPAI, fields=GPAI_INITIAL)

    with pytest.raises(DomainError) as refused:
        services.report_submit(actor=actor, incident=incident, regime=GPAI, content_hash=draft.content_hash,
                               channel="email")  # fmt: skip
    assert refused.value.code == "conflict" and "content_hash" in refused.value.fields


def test_an_amendment_is_a_new_version_with_its_diff(exfiltration, people, actor_for):
    incident = exfiltration()
    actor = actor_for(people["commander"])
    _start(actor, incident)
    first = _fill_and_submit(actor, incident)

    with pytest.raises(DomainError) as no_reason:
        _start(actor, incident, kind="amended")
    assert "reason" in no_reason.value.fields
    second = _start(actor, incident, kind="amended", reason="The breach started earlier.")
    assert (second.number, second.kind, second.fields["harm_and_affected"]) == (
        2, "amended", GPAI_INITIAL["harm_and_affected"]
    )  # fmt: skip
    second = _fill_and_submit(actor, incident, fields={"chain_of_events": "A phished credential, then a bulk copy."})

    report = selectors.report_for(user=people["auditor"], incident=incident, regime=GPAI)
    lines = selectors.version_diff(report, selectors.previous_of(report, second), second)
    changed = {line.field: line for line in lines}
    assert set(changed) == {"Kind", "Chain of events"}
    assert (changed["Chain of events"].before, changed["Chain of events"].after) == (
        "Stolen credential, then a bulk copy.", "A phished credential, then a bulk copy."
    )  # fmt: skip
    assert first.sha256 != second.sha256
    assert ReportVersion.objects.get(pk=first.pk).fields["chain_of_events"] == "Stolen credential, then a bulk copy."


def test_the_first_version_is_the_initial_report_and_later_ones_are_not(exfiltration, people, actor_for):
    incident = exfiltration()
    actor = actor_for(people["commander"])
    with pytest.raises(DomainError) as refused:
        _start(actor, incident, kind="final")
    assert "kind" in refused.value.fields
    _start(actor, incident)
    with pytest.raises(DomainError) as twice:
        _start(actor, incident)
    assert twice.value.code == "conflict"  # one draft at a time
    _fill_and_submit(actor, incident)
    with pytest.raises(DomainError):
        _start(actor, incident, kind="initial")


def test_a_final_report_also_needs_the_root_cause_analysis(exfiltration, people, actor_for):
    incident = exfiltration()
    actor = actor_for(people["commander"])
    _start(actor, incident)
    _fill_and_submit(actor, incident)
    draft = _start(actor, incident, kind="final")

    with pytest.raises(DomainError) as refused:
        services.report_submit(actor=actor, incident=incident, regime=GPAI, content_hash=draft.content_hash,
                               channel="portal")  # fmt: skip
    assert set(refused.value.fields) == {"root_cause_analysis"}


def test_a_submission_runs_the_registered_hooks_in_its_transaction(exfiltration, people, actor_for):
    incident = exfiltration()
    actor = actor_for(people["commander"])
    _start(actor, incident)
    seen = []

    def meet(*, actor, version):
        seen.append((version.report.regime, version.kind, version.number, transaction.get_connection().in_atomic_block))

    hooks.on_submitted(meet)
    try:
        _fill_and_submit(actor, incident)
    finally:
        hooks.remove(meet)
    assert seen == [(GPAI, "initial", 1, True)]


def test_a_failing_hook_undoes_the_submission(exfiltration, people, actor_for):
    incident = exfiltration()
    actor = actor_for(people["commander"])
    _start(actor, incident)

    def broken(*, actor, version):
        raise DomainError("The clock refused.", code="conflict")

    hooks.on_submitted(broken)
    try:
        with pytest.raises(DomainError):
            _fill_and_submit(actor, incident)
    finally:
        hooks.remove(broken)
    assert not ReportVersion.objects.filter(submitted_at__isnull=False).exists()
    assert not LedgerEvent.objects.filter(verb=ReportEvent.SUBMITTED).exists()


def test_responders_and_auditors_do_not_write_reports(exfiltration, people, actor_for):
    incident = exfiltration()
    for person in ("responder", "auditor"):
        with pytest.raises(DomainError) as refused:
            _start(actor_for(people[person]), incident)
        assert refused.value.code == "forbidden"
    assert _start(actor_for(people["leader"]), incident).number == 1  # leadership too


def test_a_drill_gets_no_reports(make_incident, people, actor_for):
    drill = make_incident(by=people["leader"], is_drill=True)
    with pytest.raises(DomainError) as refused:
        _start(actor_for(people["leader"]), drill)
    assert refused.value.code == "conflict" and "drill" in refused.value.message


def test_a_restricted_incidents_report_is_no_such_incident_to_the_ungranted(exfiltration, people, actor_for, make_user):
    incident = exfiltration(restricted=True)
    outsider = make_user("incident_commander")
    with pytest.raises(DomainError) as refused:
        _start(actor_for(outsider), incident)
    assert refused.value.code == "not_found"
    _start(actor_for(people["commander"]), incident)
    assert selectors.reports_of(user=outsider, incident=incident).count() == 0
    assert selectors.reports_of(user=people["commander"], incident=incident).count() == 1


def test_the_bundle_carries_every_submitted_version_with_its_hash_and_verifies_them(exfiltration, people, actor_for):
    incident = exfiltration()
    actor = actor_for(people["commander"])
    _start(actor, incident)
    first = _fill_and_submit(actor, incident)
    _start(actor, incident, kind="amended", reason="More known.")
    second = _fill_and_submit(actor, incident, fields={"actions": "Rotated credentials; restored from backup."})
    _start(actor, incident, kind="intermediate")  # a draft: not sent, not in the bundle

    bundle = audit.incident_bundle(user=people["auditor"], ref=incident.ref)

    section = bundle["reports"]
    assert section["all_verified"] is True
    assert [(v["record"]["version"], v["sha256"]) for v in section["versions"]] == [
        (1, first.sha256), (2, second.sha256)
    ]  # fmt: skip
    for row in section["versions"]:  # a regulator re-computes each hash from the bundle alone
        assert records.sha256_of(row["record"]) == row["sha256"]
        event = next(e for e in bundle["ledger"]["events"] if e["seq"] == row["ledger_seq"])
        assert event["verb"] == "report.submitted" and event["after"]["sha256"] == row["sha256"]
    assert bundle["ledger"]["events_hash_ok"]


def test_the_bundle_shows_a_tampered_version_as_not_verified(exfiltration, people, actor_for):
    incident = exfiltration()
    actor = actor_for(people["commander"])
    _start(actor, incident)
    _fill_and_submit(actor, incident)
    (version,) = ReportVersion.objects.filter(submitted_at__isnull=False).select_related("report__incident")
    untouched = bundle.verify_versions(incident, [version])
    version.fields = {**version.fields, "actions": "Nothing."}  # as a rewrite behind the app's back would read

    (tampered,) = bundle.verify_versions(incident, [version])

    assert (untouched[0]["hash_ok"], untouched[0]["ledger_hash_matches"]) == (True, True)
    assert tampered["hash_ok"] is False and tampered["sha256"] == version.sha256
