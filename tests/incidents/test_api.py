"""The incidents API (issue 2 §7): happy paths, roles, restricted incidents, signals, query counts."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import LedgerEvent, User
from accounts.roles import Role
from incidents import services
from incidents.models import Incident, Signal, Status, TimelineEntry

API = "/api/v1"


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()


@pytest.fixture
def client_for():
    def make(user: User | None) -> APIClient:
        client = APIClient()
        client.default_format = "json"
        if user is not None:
            client.force_authenticate(user=user)
        return client

    return make


@pytest.fixture
def responder(make_user):
    return make_user(Role.RESPONDER)


@pytest.fixture
def api(client_for, responder):
    return client_for(responder)


def new_incident_body(**fields):
    return {
        "title": "Model gives synthesis route uplift",
        "summary": "Red team found step-by-step uplift in atlas-api.",
        "category": "dangerous_capability",
        "risk_domain": "cbrn",
        "severity": "SEV2",
        "source": "red_team",
        "deployments": ["atlas-api"],
    } | fields


def events(verb: str, ref: str = "") -> list[LedgerEvent]:
    qs = LedgerEvent.objects.filter(verb=verb)
    return list(qs.filter(incident_ref=ref) if ref else qs)


# --- incidents: create, list, detail ------------------------------------------------------------


def test_create_incident_returns_ref_status_and_details(api, responder, registry):
    response = api.post(f"{API}/incidents/", new_incident_body(occurred_at="2024-01-02T03:04:05Z"), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert re.fullmatch(r"INC-\d{4}-\d{4,}", body["ref"])
    assert body["status"] == "reported"
    assert body["severity"] == "SEV2"
    assert body["deployments"] == ["atlas-api"]
    assert body["reporter"] == responder.username
    assert body["participants"] == [responder.username]
    assert body["commander"] is None
    assert body["occurred_at"] == "2024-01-02T03:04:05Z"
    assert body["reported_at"] and body["detected_at"]
    assert body["restricted"] is False
    assert "triaged" in body["allowed_next_statuses"]
    [event] = events("incident.created", body["ref"])
    assert event.source == "api"


def test_create_incident_with_unknown_deployment_is_400_on_deployments(api, registry):
    response = api.post(f"{API}/incidents/", new_incident_body(deployments=["atlas-api", "nope"]), format="json")

    assert response.status_code == 400
    assert "deployments" in response.json()["errors"]
    assert Incident.objects.count() == 0


def test_create_incident_with_missing_fields_names_each(api, registry):
    response = api.post(f"{API}/incidents/", {"summary": "no title"}, format="json")

    assert response.status_code == 400
    assert {"title", "category", "risk_domain", "severity"} <= set(response.json()["errors"])


def test_list_filters_by_severity_status_category_deployment_and_text(api, make_incident, registry):
    sev1 = make_incident(title="Weights exfiltrated", severity="SEV1", category="security")
    chat = make_incident(title="Jailbreak wave", deployments=[registry["atlas-chat"]])
    make_incident(title="Something else")

    def refs(**params):
        response = api.get(f"{API}/incidents/", params)
        assert response.status_code == 200, response.json()
        return {row["ref"] for row in response.json()["results"]}

    assert refs(severity="SEV1") == {sev1.ref}
    assert refs(category="security") == {sev1.ref}
    assert refs(deployment="atlas-chat") == {chat.ref}
    assert refs(q="jailbreak") == {chat.ref}
    assert refs(q=sev1.ref) == {sev1.ref}
    assert refs(status="triaged") == set()
    assert len(refs()) == 3
    assert len(refs(severity="", q="")) == 3


def test_list_is_paginated_most_severe_first(api, make_incident):
    make_incident(severity="SEV4")
    top = make_incident(severity="SEV1")

    body = api.get(f"{API}/incidents/").json()

    assert body["count"] == 2
    assert {"next", "previous", "results"} <= set(body)
    assert body["results"][0]["ref"] == top.ref


@pytest.mark.parametrize(
    "params, field",
    [
        ({"severity": "SEV9"}, "severity"),
        ({"status": "open"}, "status"),
        ({"category": "bad"}, "category"),
        ({"deployment": "no-such-deployment"}, "deployment"),
        ({"q": "x" * 201}, "q"),
    ],
)
def test_list_with_invalid_filter_is_400_naming_the_field(api, registry, params, field):
    response = api.get(f"{API}/incidents/", params)

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_get_incident_by_ref(api, make_incident):
    incident = make_incident(title="Dangerous tool use")

    response = api.get(f"{API}/incidents/{incident.ref}/")

    assert response.status_code == 200
    assert response.json()["title"] == "Dangerous tool use"
    assert response.json()["summary"] == "Something went wrong."


def test_unknown_ref_is_404(api, registry):
    response = api.get(f"{API}/incidents/INC-1999-0001/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# --- incidents: change ----------------------------------------------------------------------------


def test_patch_changes_fields_and_severity_with_reason(api, make_incident, registry):
    incident = make_incident(severity="SEV3")

    response = api.patch(
        f"{API}/incidents/{incident.ref}/",
        {"title": "Renamed", "severity": "SEV2", "deployments": ["atlas-chat"], "reason": "Wider than thought"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["title"], body["severity"], body["deployments"]) == ("Renamed", "SEV2", ["atlas-chat"])
    [severity_event] = events("incident.severity_changed", incident.ref)
    assert severity_event.reason == "Wider than thought"
    [update_event] = events("incident.updated", incident.ref)
    assert update_event.after == {"title": "Renamed", "deployments": ["atlas-chat"]}


def test_patch_status_with_reason_moves_the_lifecycle(api, make_incident):
    incident = make_incident()

    response = api.patch(f"{API}/incidents/{incident.ref}/", {"status": "triaged", "reason": "Real"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "triaged"
    assert response.json()["acknowledged_at"] is not None


@pytest.mark.parametrize("change", [{"severity": "SEV1"}, {"status": "triaged"}, {"severity": "SEV1", "reason": " "}])
def test_patch_severity_or_status_without_reason_is_400_naming_reason(api, make_incident, change):
    incident = make_incident(severity="SEV3")
    before = LedgerEvent.objects.count()

    response = api.patch(f"{API}/incidents/{incident.ref}/", change, format="json")

    assert response.status_code == 400
    assert "reason" in response.json()["errors"]
    incident.refresh_from_db()
    assert (incident.severity, incident.status) == ("SEV3", "reported")
    assert LedgerEvent.objects.count() == before


def test_patch_illegal_transition_is_409_and_changes_nothing(api, make_incident):
    incident = make_incident(severity="SEV3")
    title = incident.title
    before = LedgerEvent.objects.count()

    response = api.patch(
        f"{API}/incidents/{incident.ref}/",
        {"title": "Should not stick", "severity": "SEV2", "status": "closed", "reason": "Done"},
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert "status" in response.json()["errors"]
    incident.refresh_from_db()
    assert (incident.title, incident.severity, incident.status) == (title, "SEV3", "reported")
    assert LedgerEvent.objects.count() == before


def test_patch_refuses_fields_that_cannot_be_changed(api, make_incident):
    incident = make_incident()

    response = api.patch(f"{API}/incidents/{incident.ref}/", {"restricted": True, "ref": "X"}, format="json")

    assert response.status_code == 400
    assert {"restricted", "ref"} <= set(response.json()["errors"])


def test_escalate_raises_severity_and_calls_in_the_next_role(api, make_incident, make_user):
    leader = make_user(Role.LEADERSHIP)
    commander = make_user(Role.INCIDENT_COMMANDER)
    incident = make_incident(severity="SEV3")

    response = api.post(
        f"{API}/incidents/{incident.ref}/escalate/", {"severity": "SEV1", "reason": "Uplift confirmed"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["severity"] == "SEV1"
    [event] = events("incident.escalated", incident.ref)
    assert event.after["called_in"] == Role.INCIDENT_COMMANDER
    assert {leader.username, commander.username} <= set(event.after["paged"])


def test_escalate_cannot_lower_severity(api, make_incident):
    incident = make_incident(severity="SEV2")

    response = api.post(f"{API}/incidents/{incident.ref}/escalate/", {"severity": "SEV4", "reason": "x"}, format="json")

    assert response.status_code == 400
    assert "severity" in response.json()["errors"]


# --- timeline -----------------------------------------------------------------------------------


def test_timeline_records_note_and_decision_and_merges_events(api, make_incident, responder):
    incident = make_incident(by=responder)
    url = f"{API}/incidents/{incident.ref}/timeline/"

    note = api.post(url, {"kind": "note", "body": "Seen first at 09:12", "occurred_at": "2024-01-01T09:12:00Z"})
    decision = api.post(
        url,
        {
            "kind": "decision",
            "body": "Disable tool use on atlas-api",
            "options_considered": "rate limit; disable tool use; pause",
            "rationale": "Stops the uplift path with least collateral",
        },
        format="json",
    )

    assert note.status_code == 201, note.json()
    assert note.json()["occurred_at"] == "2024-01-01T09:12:00Z"
    assert decision.status_code == 201, decision.json()
    assert decision.json()["author"] == responder.username
    timeline = api.get(url).json()
    assert timeline["ref"] == incident.ref
    kinds = [item["kind"] for item in timeline["items"]]
    assert kinds == ["note", "event", "decision"]  # backdated note first
    assert timeline["items"][1]["event"]["verb"] == "incident.created"
    assert timeline["items"][2]["entry"]["rationale"] == "Stops the uplift path with least collateral"
    assert timeline["items"][0]["event"] is None


def test_decision_without_rationale_is_400_naming_rationale(api, make_incident):
    incident = make_incident()

    response = api.post(
        f"{API}/incidents/{incident.ref}/timeline/", {"kind": "decision", "body": "Pause"}, format="json"
    )

    assert response.status_code == 400
    assert "rationale" in response.json()["errors"]
    assert TimelineEntry.objects.count() == 0


# --- deployments ----------------------------------------------------------------------------------


def test_deployments_list_carries_model_and_versions(api, registry):
    body = api.get(f"{API}/deployments/").json()

    assert [d["slug"] for d in body["results"]] == ["atlas-api", "atlas-chat"]
    first = body["results"][0]
    assert first["model"] == "atlas"
    assert {v["name"]: v["is_current"] for v in first["versions"]} == {"atlas-2.0": True, "atlas-1.9": False}


# --- signals ------------------------------------------------------------------------------------


def signal_body(**fields):
    return {
        "source": "internal_monitoring",
        "title": "Classifier: bio uplift spike",
        "detail": "42 flagged conversations in 10 minutes",
        "severity_hint": "SEV2",
        "deployment": "atlas-api",
        "dedup_key": "bio-spike-atlas-api",
    } | fields


def test_signal_post_creates_a_signal(api, registry):
    response = api.post(f"{API}/signals/", signal_body(), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["folded"], body["occurrences"], body["state"]) == (False, 1, "open")
    assert body["deployment"] == "atlas-api"
    assert Signal.objects.count() == 1


def test_signal_with_same_dedup_key_folds_into_the_open_one(api, registry):
    first = api.post(f"{API}/signals/", signal_body(), format="json").json()

    response = api.post(f"{API}/signals/", signal_body(title="again"), format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["folded"] is True
    assert body["id"] == first["id"]
    assert body["occurrences"] == 2
    assert body["last_seen_at"] >= first["last_seen_at"]
    assert Signal.objects.count() == 1


def test_signal_folds_into_promoted_signal_until_its_incident_is_closed(api, registry, make_user, actor_for):
    signal_id = api.post(f"{API}/signals/", signal_body(), format="json").json()["id"]
    promoted = api.post(
        f"{API}/signals/{signal_id}/promote/",
        {"category": "dangerous_capability", "risk_domain": "cbrn", "severity": "SEV2"},
        format="json",
    )
    assert promoted.status_code == 201, promoted.json()

    folded = api.post(f"{API}/signals/", signal_body(), format="json")
    assert folded.status_code == 200
    assert folded.json()["incident"] == promoted.json()["ref"]
    assert Signal.objects.count() == 1

    commander = actor_for(make_user(Role.INCIDENT_COMMANDER))
    incident = Incident.objects.get(ref=promoted.json()["ref"])
    for status in (Status.RESPONDING, Status.RESOLVED, Status.CLOSED):
        exception = "No review for a duplicate signal." if status == Status.CLOSED else ""
        services.incident_edit(actor=commander, incident=incident, changes={"status": status}, reason="wrap up",
                               closing_exception=exception)  # fmt: skip

    fresh = api.post(f"{API}/signals/", signal_body(), format="json")
    assert fresh.status_code == 201
    assert fresh.json()["id"] != signal_id
    assert Signal.objects.count() == 2


def test_promote_signal_creates_incident_once(api, registry):
    signal_id = api.post(f"{API}/signals/", signal_body(), format="json").json()["id"]

    response = api.post(f"{API}/signals/{signal_id}/promote/", {}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["severity"], body["category"], body["source"]) == ("SEV2", "other", "internal_monitoring")
    assert body["deployments"] == ["atlas-api"]
    assert Signal.objects.get(pk=signal_id).incident.ref == body["ref"]
    again = api.post(f"{API}/signals/{signal_id}/promote/", {}, format="json")
    assert again.status_code == 409


def test_dismiss_signal_needs_a_reason(api, registry):
    signal_id = api.post(f"{API}/signals/", signal_body(), format="json").json()["id"]

    without = api.post(f"{API}/signals/{signal_id}/dismiss/", {}, format="json")
    response = api.post(f"{API}/signals/{signal_id}/dismiss/", {"reason": "Known test traffic"}, format="json")

    assert without.status_code == 400
    assert "reason" in without.json()["errors"]
    assert response.status_code == 200
    assert response.json()["state"] == "dismissed"
    [event] = events("signal.dismissed")
    assert event.reason == "Known test traffic"


def test_signal_list_filters_by_state(api, registry):
    api.post(f"{API}/signals/", signal_body(dedup_key="a"), format="json")
    dismissed = api.post(f"{API}/signals/", signal_body(dedup_key="b"), format="json").json()["id"]
    api.post(f"{API}/signals/{dismissed}/dismiss/", {"reason": "noise"}, format="json")

    assert api.get(f"{API}/signals/").json()["count"] == 2
    open_signals = api.get(f"{API}/signals/", {"state": "open"}).json()
    assert [s["dedup_key"] for s in open_signals["results"]] == ["a"]
    assert api.get(f"{API}/signals/", {"state": "bogus"}).status_code == 400


def test_unknown_signal_is_404(api, registry):
    assert api.post(f"{API}/signals/999999/promote/", {}, format="json").status_code == 404
    assert (
        api.post(f"{API}/signals/99999999999999999999999/dismiss/", {"reason": "x"}, format="json").status_code == 404
    )


# --- who may do what ------------------------------------------------------------------------------


@pytest.fixture
def world(make_incident, registry, responder, actor_for):
    incident = make_incident(by=responder)
    signal, _ = services.signal_ingest(actor=actor_for(responder), source="other", title="s", dedup_key="k")
    return {"ref": incident.ref, "signal": signal.pk}


def write_requests(world):
    ref, signal = world["ref"], world["signal"]
    return [
        ("post", f"{API}/incidents/", new_incident_body()),
        ("patch", f"{API}/incidents/{ref}/", {"title": "x"}),
        ("post", f"{API}/incidents/{ref}/escalate/", {"reason": "x"}),
        ("post", f"{API}/incidents/{ref}/timeline/", {"kind": "note", "body": "x"}),
        ("post", f"{API}/signals/", signal_body()),
        ("post", f"{API}/signals/{signal}/promote/", {}),
        ("post", f"{API}/signals/{signal}/dismiss/", {"reason": "x"}),
    ]


def read_urls(world):
    ref = world["ref"]
    return [
        f"{API}/incidents/",
        f"{API}/incidents/{ref}/",
        f"{API}/incidents/{ref}/timeline/",
        f"{API}/deployments/",
        f"{API}/signals/",
    ]


def test_auditor_can_read_every_endpoint(client_for, make_user, world):
    auditor = client_for(make_user(Role.AUDITOR))

    for url in read_urls(world):
        assert auditor.get(url).status_code == 200, url


def test_auditor_gets_403_on_every_write_and_nothing_is_written(client_for, make_user, world):
    auditor = client_for(make_user(Role.AUDITOR))
    before = (Incident.objects.count(), LedgerEvent.objects.count(), Signal.objects.get().occurrences)

    for method, url, body in write_requests(world):
        response = getattr(auditor, method)(url, body, format="json")
        assert response.status_code == 403, (method, url, response.json())
        assert response.json()["code"] in {"permission_denied", "forbidden"}

    assert (Incident.objects.count(), LedgerEvent.objects.count(), Signal.objects.get().occurrences) == before


def test_user_without_role_gets_403_everywhere(client_for, make_user, world):
    nobody = client_for(make_user(None))

    for url in read_urls(world):
        assert nobody.get(url).status_code == 403, url
    for method, url, body in write_requests(world):
        assert getattr(nobody, method)(url, body, format="json").status_code == 403, url


def test_unauthenticated_requests_are_401(client_for, world):
    anonymous = client_for(None)

    for url in read_urls(world):
        response = anonymous.get(url)
        assert response.status_code == 401, url
        assert response["WWW-Authenticate"] == "Token"
    for method, url, body in write_requests(world):
        assert getattr(anonymous, method)(url, body, format="json").status_code == 401, url


def test_every_role_that_writes_can_log_an_incident(client_for, make_user, registry):
    for role in (Role.RESPONDER, Role.INCIDENT_COMMANDER, Role.LEADERSHIP, Role.ADMIN):
        response = client_for(make_user(role)).post(f"{API}/incidents/", new_incident_body(), format="json")
        assert response.status_code == 201, role


# --- restricted incidents -----------------------------------------------------------------------


@pytest.fixture
def restricted(make_incident, make_user):
    owner = make_user(Role.RESPONDER)
    make_incident(by=owner, title="Open one")
    return make_incident(by=owner, title="Hazardous details", restricted=True), owner


def test_restricted_incident_is_404_and_absent_from_lists_for_ungranted_responder(client_for, restricted, make_user):
    incident, _ = restricted
    outsider = client_for(make_user(Role.RESPONDER))
    ref = incident.ref

    listing = outsider.get(f"{API}/incidents/").json()
    assert listing["count"] == 1
    assert ref not in {row["ref"] for row in listing["results"]}
    assert outsider.get(f"{API}/incidents/", {"q": ref}).json()["count"] == 0
    assert outsider.get(f"{API}/incidents/{ref}/").status_code == 404
    assert outsider.get(f"{API}/incidents/{ref}/timeline/").status_code == 404
    assert outsider.patch(f"{API}/incidents/{ref}/", {"title": "x"}, format="json").status_code == 404
    assert outsider.post(f"{API}/incidents/{ref}/escalate/", {"reason": "x"}, format="json").status_code == 404
    note = {"kind": "note", "body": "x"}
    assert outsider.post(f"{API}/incidents/{ref}/timeline/", note, format="json").status_code == 404
    assert TimelineEntry.objects.count() == 0


def test_restricted_incident_is_visible_to_leadership_and_its_reporter(client_for, restricted, make_user):
    incident, owner = restricted

    for user in (make_user(Role.LEADERSHIP), owner):
        client = client_for(user)
        assert client.get(f"{API}/incidents/").json()["count"] == 2
        assert client.get(f"{API}/incidents/{incident.ref}/").json()["restricted"] is True


def test_auditor_not_granted_cannot_see_restricted_incident(client_for, restricted, make_user):
    incident, _ = restricted
    auditor = client_for(make_user(Role.AUDITOR))

    assert auditor.get(f"{API}/incidents/{incident.ref}/").status_code == 404
    assert auditor.get(f"{API}/incidents/").json()["count"] == 1


def test_signal_folded_into_restricted_incident_reveals_nothing_to_ungranted_poster(
    client_for, make_user, registry, actor_for
):
    owner = make_user(Role.RESPONDER)
    signal, _ = services.signal_ingest(
        actor=actor_for(owner), source="other", title="Secret recipe", detail="hazard", dedup_key="k"
    )
    incident = services.signal_promote(actor=actor_for(owner), signal=signal)
    Incident.objects.filter(pk=incident.pk).update(restricted=True)
    monitor = client_for(make_user(Role.RESPONDER))

    response = monitor.post(f"{API}/signals/", signal_body(dedup_key="k"), format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["folded"] is True
    assert (body["title"], body["detail"], body["incident"]) == ("", "", None)
    assert monitor.get(f"{API}/signals/").json()["count"] == 0


# --- cost -----------------------------------------------------------------------------------------


def test_incident_list_costs_the_same_queries_for_10_and_1000_incidents(client, make_user, make_incident, registry):
    reader = make_user(Role.RESPONDER)
    for n in range(10):
        make_incident(by=reader, severity=f"SEV{n % 4 + 1}")
    client.force_login(reader)

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"{API}/incidents/")
        assert response.status_code == 200
        return len(ctx.captured_queries)

    with_10 = count_queries()
    now = timezone.now()
    Incident.objects.bulk_create(
        Incident(
            ref=f"INC-1990-{n:05d}",
            title=f"Bulk {n}",
            category="misuse",
            risk_domain="cyber",
            severity=f"SEV{n % 4 + 1}",
            reporter=reader,
            commander=reader if n % 2 else None,
            reported_at=now,
        )
        for n in range(990)
    )
    Through = Incident.deployments.through
    Through.objects.bulk_create(
        Through(incident_id=pk, deployment_id=registry["atlas-api" if pk % 2 else "atlas-chat"].pk)
        for pk in Incident.objects.filter(ref__startswith="INC-1990-").values_list("pk", flat=True)
    )
    assert Incident.objects.count() == 1000

    with_1000 = count_queries()

    assert with_1000 == with_10
    page = client.get(f"{API}/incidents/").json()
    assert page["count"] == 1000
    assert all(row["deployments"] for row in page["results"])
