"""The audit API (issue 5 §6): events with filters and cursor pagination, verification, streamed
exports that carry the head hash, the regulator bundle, and restricted incidents."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import ledger
from accounts.models import LedgerEvent, LedgerHead
from accounts.roles import Role
from incidents import audit, services
from incidents.audit import sections

API = "/api/v1"
READ_ONLY_ENDPOINTS = [
    "/api/v1/audit/events/",
    "/api/v1/audit/verify/",
    "/api/v1/audit/export.jsonl",
    "/api/v1/audit/export.csv",
]


@pytest.fixture
def client_for():
    def make(user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user=user)
        return client

    return make


@pytest.fixture
def people(make_user):
    return {role: make_user(role) for role in Role}


@pytest.fixture
def story(make_incident, people, actor_for):
    """A public SEV1 with a decision and an escalation, and a restricted incident."""
    commander = people[Role.INCIDENT_COMMANDER]
    sev1 = make_incident(title="Weights exfiltration attempt", severity="SEV1", category="security")
    services.timeline_entry_add(
        actor=actor_for(commander), incident=sev1, kind="decision", body="Rotate all serving credentials",
        options_considered="rotate now; wait for forensics", rationale="Containment beats evidence here.",
    )  # fmt: skip
    services.incident_assign(actor=actor_for(commander), incident=sev1, commander=commander)
    secret = make_incident(title="Hazardous synthesis details", restricted=True, by=commander)
    services.timeline_entry_add(actor=actor_for(commander), incident=secret, kind="note", body="Details withheld.")
    return {"sev1": sev1, "secret": secret}


def _lines(response) -> list[dict]:
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode()
    return [json.loads(line) for line in body.splitlines()]


def _csv_rows(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


# --- who may use it ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.LEADERSHIP, Role.INCIDENT_COMMANDER, Role.ADMIN])
@pytest.mark.parametrize("url", READ_ONLY_ENDPOINTS)
def test_audit_roles_may_read_every_audit_endpoint(client_for, people, story, role, url):
    assert client_for(people[role]).get(url).status_code == 200


@pytest.mark.parametrize("url", [*READ_ONLY_ENDPOINTS, "/api/v1/incidents/{ref}/bundle/"])
def test_responders_may_not_read_the_audit_trail(client_for, people, story, url):
    response = client_for(people[Role.RESPONDER]).get(url.format(ref=story["sev1"].ref))
    assert response.status_code == 403
    assert response.json()["code"] in ("permission_denied", "forbidden")


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("url", [*READ_ONLY_ENDPOINTS, "/api/v1/incidents/{ref}/bundle/"])
@pytest.mark.parametrize("role", [Role.AUDITOR, Role.LEADERSHIP])
def test_the_audit_api_is_read_only_for_everyone(client_for, people, story, method, url, role):
    response = getattr(client_for(people[role]), method)(url.format(ref=story["sev1"].ref), {}, format="json")
    assert response.status_code == 403


def test_anonymous_callers_are_refused(story):
    assert APIClient().get("/api/v1/audit/events/").status_code in (401, 403)


# --- events: filters and cursor pagination ----------------------------------------------------------


def test_events_are_listed_oldest_first_with_hashes(client_for, people, story):
    body = client_for(people[Role.AUDITOR]).get(f"{API}/audit/events/").json()
    seqs = [event["seq"] for event in body["results"]]
    assert seqs == sorted(seqs)
    first = body["results"][0]
    assert {"prev_hash", "hash", "actor_name", "actor_roles", "before", "after", "reason"} <= set(first)
    fields = {name: first[name] for name in ledger.HASHED_FIELDS}
    fields["at"] = timezone.datetime.fromisoformat(first["at"].replace("Z", "+00:00"))
    assert ledger.chain_hash(first["prev_hash"], fields) == first["hash"]


def test_cursor_pagination_walks_every_visible_event_once(client_for, people, story):
    client = client_for(people[Role.LEADERSHIP])
    url, seen = f"{API}/audit/events/?page_size=2", []
    while url:
        body = client.get(url).json()
        assert len(body["results"]) <= 2
        seen += [event["seq"] for event in body["results"]]
        url = body["next"]
    assert seen == list(LedgerEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert "page" not in body  # a cursor, not page numbers


def test_events_list_costs_a_fixed_number_of_queries(
    client_for, people, story, make_incident, django_assert_max_num_queries
):
    client = client_for(people[Role.AUDITOR])
    client.get(f"{API}/audit/events/")  # warm up
    for _ in range(5):
        make_incident()
    with django_assert_max_num_queries(4):
        assert client.get(f"{API}/audit/events/").status_code == 200


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"verb": "timeline.decision_recorded"}, {"timeline.decision_recorded"}),
        ({"verb": "timeline."}, {"timeline.decision_recorded"}),  # the restricted note is not visible
        ({"verb": "incident.assigned"}, {"incident.assigned"}),
    ],
)
def test_events_filter_by_verb_exactly_or_by_prefix(client_for, people, story, params, expected):
    body = client_for(people[Role.AUDITOR]).get(f"{API}/audit/events/", params).json()
    assert {event["verb"] for event in body["results"]} == expected


def test_events_filter_by_incident_and_actor(client_for, people, story):
    client = client_for(people[Role.AUDITOR])
    commander = people[Role.INCIDENT_COMMANDER].username
    by_incident = client.get(f"{API}/audit/events/", {"incident": story["sev1"].ref}).json()["results"]
    assert by_incident and {e["incident_ref"] for e in by_incident} == {story["sev1"].ref}
    by_actor = client.get(f"{API}/audit/events/", {"actor": commander}).json()["results"]
    assert by_actor and {e["actor_name"] for e in by_actor} == {commander}


def test_events_filter_by_time_range(client_for, people, story):
    client = client_for(people[Role.AUDITOR])
    now = timezone.now()
    assert client.get(f"{API}/audit/events/", {"since": (now + timedelta(hours=1)).isoformat()}).json()["results"] == []
    earlier = client.get(f"{API}/audit/events/", {"until": (now - timedelta(hours=1)).isoformat()}).json()
    assert earlier["results"] == []
    window = {"since": (now - timedelta(hours=1)).isoformat(), "until": (now + timedelta(hours=1)).isoformat()}
    assert client.get(f"{API}/audit/events/", window).json()["results"]


@pytest.mark.parametrize(
    "params", [{"since": "yesterday"}, {"incident": "INC 1; drop"}, {"since": "2026-02-01", "until": "2026-01-01"}]
)
def test_bad_filters_are_a_400_naming_the_parameter(client_for, people, story, params):
    response = client_for(people[Role.AUDITOR]).get(f"{API}/audit/events/", params)
    assert response.status_code == 400
    assert set(response.json()["errors"]) & {"since", "until", "incident"}


# --- restricted incidents ---------------------------------------------------------------------------


def _visible_refs(events) -> set[str]:
    return {event["incident_ref"] for event in events if event.get("incident_ref")}


def test_restricted_incident_events_are_hidden_from_an_auditor_without_a_grant(client_for, people, story):
    client = client_for(people[Role.AUDITOR])
    secret = story["secret"].ref
    assert secret not in _visible_refs(client.get(f"{API}/audit/events/?page_size=1000").json()["results"])
    assert client.get(f"{API}/audit/events/", {"incident": secret}).json()["results"] == []
    assert client.get(f"{API}/incidents/{secret}/bundle/").status_code == 404
    exported = _lines(client.get(f"{API}/audit/export.jsonl"))
    assert secret not in _visible_refs(exported)
    assert all(secret not in ",".join(row) for row in _csv_rows(client.get(f"{API}/audit/export.csv")))


def test_a_grant_shows_the_restricted_incident_and_is_itself_an_event(client_for, people, story, actor_for):
    auditor = people[Role.AUDITOR]
    secret = story["secret"]
    services.incident_grant_access(
        actor=actor_for(people[Role.INCIDENT_COMMANDER]), incident=secret, user=auditor, reason="Annual audit"
    )
    client = client_for(auditor)
    events = client.get(f"{API}/audit/events/", {"incident": secret.ref}).json()["results"]
    assert "incident.access_granted" in {e["verb"] for e in events}
    assert client.get(f"{API}/incidents/{secret.ref}/bundle/").status_code == 200
    assert secret.ref in _visible_refs(_lines(client.get(f"{API}/audit/export.jsonl")))


def test_leadership_sees_restricted_incidents_without_a_grant(client_for, people, story):
    events = client_for(people[Role.LEADERSHIP]).get(f"{API}/audit/events/?page_size=1000").json()["results"]
    assert story["secret"].ref in _visible_refs(events)


def test_events_about_no_incident_are_visible_to_every_audit_role(client_for, people, story, actor_for):
    services.signal_ingest(actor=actor_for(people[Role.RESPONDER]), source="user_report", title="Odd output")
    events = client_for(people[Role.AUDITOR]).get(f"{API}/audit/events/", {"verb": "signal.received"}).json()
    assert len(events["results"]) == 1


# --- verification ------------------------------------------------------------------------------------


def test_verify_reports_an_intact_chain_with_its_head(client_for, people, story):
    body = client_for(people[Role.AUDITOR]).get(f"{API}/audit/verify/").json()
    head = LedgerHead.objects.get()
    assert body == {"ok": True, "events": head.seq, "head_hash": head.hash, "first_bad_seq": None, "problem": ""}


def test_verify_names_the_altered_event(client_for, people, story, tamper):
    tamper("UPDATE {ledger} SET reason = %s WHERE seq = 3", ["rewritten"])
    body = client_for(people[Role.AUDITOR]).get(f"{API}/audit/verify/").json()
    assert (body["ok"], body["first_bad_seq"], body["events"]) == (False, 3, 2)


# --- exports -------------------------------------------------------------------------------------------


def test_jsonl_export_streams_head_events_and_verification(client_for, people, story):
    response = client_for(people[Role.LEADERSHIP]).get(f"{API}/audit/export.jsonl")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert "attachment" in response["Content-Disposition"]
    records = _lines(response)
    head = LedgerHead.objects.get()
    assert records[0]["record"] == "head"
    assert (records[0]["head_seq"], records[0]["head_hash"]) == (head.seq, head.hash)
    assert records[-1] == {
        "record": "verification", "ok": True, "events": head.seq, "head_hash": head.hash,
        "first_bad_seq": None, "problem": "", "exported_events": head.seq,
    }  # fmt: skip
    events = records[1:-1]
    assert [e["record"] for e in events] == ["event"] * head.seq
    # The export is faithful: an outsider can re-verify the chain from the file alone.
    rows = [{**e, "at": timezone.datetime.fromisoformat(e["at"].replace("Z", "+00:00"))} for e in events]
    assert ledger.verify(rows).ok


def test_csv_export_has_a_header_and_carries_the_head_hash(client_for, people, story):
    rows = _csv_rows(client_for(people[Role.LEADERSHIP]).get(f"{API}/audit/export.csv"))
    head = LedgerHead.objects.get()
    header = rows[0]
    assert header == list(audit.CSV_COLUMNS)
    records = [dict(zip(header, row, strict=True)) for row in rows[1:]]
    assert records[0]["record"] == "head" and records[0]["hash"] == head.hash and records[0]["seq"] == str(head.seq)
    assert records[-1]["record"] == "verification" and records[-1]["hash"] == head.hash
    assert records[-1]["note"].startswith("ok;")
    events = records[1:-1]
    assert [int(e["seq"]) for e in events] == list(range(1, head.seq + 1))
    assert json.loads(events[0]["after"])["title"]


def test_exports_apply_the_same_filters_as_the_list(client_for, people, story):
    client = client_for(people[Role.AUDITOR])
    params = {"incident": story["sev1"].ref, "verb": "incident."}
    listed = [e["seq"] for e in client.get(f"{API}/audit/events/", params).json()["results"]]
    records = _lines(client.get(f"{API}/audit/export.jsonl", params))
    assert [r["seq"] for r in records[1:-1]] == listed
    assert records[0]["filters"] == params
    assert records[-1]["ok"] is True and records[-1]["exported_events"] == len(listed)


def test_exports_report_a_broken_chain_in_their_last_record(client_for, people, story, tamper):
    tamper("UPDATE {ledger} SET actor_name = %s WHERE seq = 2", ["someone-else"])
    client = client_for(people[Role.AUDITOR])
    trailer = _lines(client.get(f"{API}/audit/export.jsonl"))[-1]
    assert (trailer["ok"], trailer["first_bad_seq"]) == (False, 2)
    last = _csv_rows(client.get(f"{API}/audit/export.csv"))[-1]
    assert last[0] == "verification" and "BROKEN at seq 2" in last[-1]


def test_exports_bad_filters_are_refused_before_streaming(client_for, people, story):
    response = client_for(people[Role.AUDITOR]).get(f"{API}/audit/export.jsonl", {"until": "soon"})
    assert response.status_code == 400
    assert response.json()["errors"]["until"]


def test_export_generator_never_materialises_the_table(db, make_user, make_incident):
    for _ in range(3):
        make_incident()
    stream = audit.export_jsonl(user=make_user(Role.LEADERSHIP), chunk_size=1)
    assert not isinstance(stream, list | tuple)
    assert json.loads(next(stream))["record"] == "head"


# --- the regulator bundle ----------------------------------------------------------------------------


def test_bundle_is_one_document_with_incident_timeline_decisions_and_ledger_slice(client_for, people, story):
    sev1 = story["sev1"]
    response = client_for(people[Role.AUDITOR]).get(f"{API}/incidents/{sev1.ref}/bundle/")
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["format"] == audit.BUNDLE_FORMAT
    assert bundle["incident"]["ref"] == sev1.ref and bundle["incident"]["severity"] == "SEV1"
    assert bundle["incident"]["commander"] == people[Role.INCIDENT_COMMANDER].username
    (decision,) = bundle["decisions"]
    assert decision["rationale"] == "Containment beats evidence here."
    assert decision["options_considered"] == "rotate now; wait for forensics"
    slice_ = bundle["ledger"]
    assert slice_["events_hash_ok"] is True
    assert slice_["head_hash"] == LedgerHead.objects.get().hash
    expected = list(LedgerEvent.objects.filter(incident_ref=sev1.ref).values_list("seq", "hash"))
    assert [(e["seq"], e["hash"]) for e in slice_["events"]] == expected
    assert all(e["incident_ref"] == sev1.ref for e in slice_["events"])


def test_bundle_flags_an_event_whose_content_no_longer_matches_its_hash(client_for, people, story, tamper):
    seq = LedgerEvent.objects.filter(incident_ref=story["sev1"].ref).order_by("seq").values_list("seq", flat=True)[0]
    tamper("UPDATE {ledger} SET reason = %s WHERE seq = %s", ["quietly edited", seq])
    bundle = client_for(people[Role.AUDITOR]).get(f"{API}/incidents/{story['sev1'].ref}/bundle/").json()
    assert bundle["ledger"]["events_hash_ok"] is False
    assert bundle["ledger"]["events_hash_mismatch"] == [seq]


def test_other_apps_add_sections_to_the_bundle(client_for, people, story, monkeypatch):
    monkeypatch.setattr(sections, "_SECTIONS", {})
    audit.register_section(
        audit.AuditSection(key="corrections", title="Corrections", build=lambda incident: [{"ref": incident.ref}])
    )
    bundle = client_for(people[Role.AUDITOR]).get(f"{API}/incidents/{story['sev1'].ref}/bundle/").json()
    assert bundle["corrections"] == [{"ref": story["sev1"].ref}]


def test_a_section_may_not_take_a_reserved_bundle_key():
    with pytest.raises(ValueError):
        audit.register_section(audit.AuditSection(key="ledger", title="x", build=lambda incident: None))


def test_unknown_bundle_is_404(client_for, people, story):
    assert client_for(people[Role.AUDITOR]).get(f"{API}/incidents/INC-1999-9999/bundle/").status_code == 404


def test_csv_export_defuses_spreadsheet_formulas_from_outsiders(client_for, people, actor_for):
    services.signal_ingest(
        actor=actor_for(people[Role.RESPONDER]), source="user_report", title='=HYPERLINK("http://evil.test","x")'
    )
    rows = _csv_rows(client_for(people[Role.AUDITOR]).get(f"{API}/audit/export.csv"))
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row)
    # JSON columns keep their exact text (the title sits inside the JSON, not at a cell start).
    assert any('"=HYPERLINK' in cell for row in rows for cell in row)
