import pytest
from rest_framework.test import APIClient

from accounts.models import LedgerEvent
from corrections.catalogue import TYPES
from corrections.models import Correction, OutboxEntry


@pytest.fixture
def client_for():
    def make(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def incident(make_incident, people):
    return make_incident(by=people["responder"], severity="SEV1")


def post_request(client, incident, **body):
    return client.post(f"/api/v1/incidents/{incident.ref}/corrections/", body, format="json")


def post_approve(client, cid, **body):
    """Approve as someone who just read the correction: send the content_hash it shows now."""
    body.setdefault("content_hash", client.get(f"/api/v1/corrections/{cid}/").json()["content_hash"])
    return client.post(f"/api/v1/corrections/{cid}/approve/", body, format="json")


def test_correction_types_lists_the_whole_catalogue(client_for, people):
    response = client_for(people["auditor"]).get("/api/v1/correction-types/")
    assert response.status_code == 200
    assert {t["key"] for t in response.json()} == set(TYPES)


def test_request_approve_and_see_state(client_for, incident, people):
    response = post_request(client_for(people["responder"]), incident, type="pause_deployment",
                            deployment="atlas-chat", params={}, rationale="Under way.")  # fmt: skip
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "pending_approval"
    assert body["still_needed"] == [{"roles": ["leadership"], "count": 1}, {"roles": ["incident_commander"],
                                                                           "count": 1}]  # fmt: skip
    cid = body["id"]
    pending = client_for(people["leader1"]).get("/api/v1/approvals/pending/").json()
    assert [c["id"] for c in pending] == [cid]
    assert post_approve(client_for(people["leader1"]), cid).status_code == 200
    response = post_approve(client_for(people["commander"]), cid, comment="ok")
    assert response.status_code == 200
    assert response.json()["state"] == "approved"
    assert client_for(people["leader1"]).get("/api/v1/approvals/pending/").json() == []


def test_requester_approving_own_request_is_409(client_for, incident, people):
    cid = post_request(client_for(people["commander"]), incident, type="disable_capability", deployment="atlas-api",
                       params={"capability": "browsing"}, rationale="x").json()["id"]  # fmt: skip
    response = post_approve(client_for(people["commander"]), cid)
    assert response.status_code == 409
    assert "someone else" in response.json()["detail"]


def test_approving_twice_is_409_and_cancelled_is_409(client_for, incident, people):
    cid = post_request(client_for(people["responder"]), incident, type="pause_deployment", deployment="atlas-chat",
                       params={}, rationale="x").json()["id"]  # fmt: skip
    leader = client_for(people["leader1"])
    assert post_approve(leader, cid).status_code == 200
    assert post_approve(leader, cid).status_code == 409
    assert client_for(people["responder"]).post(f"/api/v1/corrections/{cid}/cancel/", {"reason": "wrong"},
                                                format="json").status_code == 200  # fmt: skip
    assert post_approve(client_for(people["commander"]), cid).status_code == 409


def test_auditor_cannot_request_or_decide(client_for, incident, people):
    auditor = client_for(people["auditor"])
    assert post_request(auditor, incident, type="pause_deployment", deployment="atlas-chat", params={},
                        rationale="x").status_code == 403  # fmt: skip
    cid = post_request(client_for(people["responder"]), incident, type="pause_deployment", deployment="atlas-chat",
                       params={}, rationale="x").json()["id"]  # fmt: skip
    for action in ("approve", "reject", "cancel", "lift", "retry", "confirm"):
        assert auditor.post(f"/api/v1/corrections/{cid}/{action}/", {}, format="json").status_code == 403
    assert auditor.get(f"/api/v1/corrections/{cid}/").status_code == 200


BAD_PARAMS = [
    ("block_accounts", "atlas-api", {"accounts": ["acct-nobody"]}, "params.accounts"),
    ("block_accounts", "atlas-api", {"accounts": "acct-mallory,"}, None),  # a string list is accepted
    ("block_accounts", "atlas-api", {}, "params.accounts"),
    ("restrict_access_tier", "atlas-api", {"allowed_tiers": ["gold"]}, "params.allowed_tiers"),
    ("rate_limit", "atlas-api", {"scope": "account", "subject": "acct-nobody", "requests_per_minute": 5},
     "params.subject"),
    ("rate_limit", "atlas-api", {"scope": "galaxy", "requests_per_minute": 5}, "params.scope"),
    ("rate_limit", "atlas-api", {"scope": "deployment", "requests_per_minute": "lots"}, "params.requests_per_minute"),
    ("disable_capability", "atlas-api", {"capability": "telepathy"}, "params.capability"),
    ("tighten_safeguard", "atlas-api", {"safeguard": "cbrn_classifier", "setting": 11}, "params.setting"),
    ("restrict_use_case", "atlas-api", {"use_cases": []}, "params.use_cases"),
    ("rollback_model", "atlas-api", {"version": "atlas-0.1"}, "params.version"),
    ("rollback_model", "atlas-api", {"version": "atlas-2.0"}, "params.version"),
    ("pause_deployment", "atlas-nowhere", {}, "deployment"),
    ("pause_deployment", "atlas-api", {"extra": 1}, "params.extra"),
    ("withdraw_model", None, {"model": "zeus"}, "params.model"),
    ("destroy_weights", None, {}, "params.model"),
    ("teleport_model", "atlas-api", {}, "type"),
]  # fmt: skip


@pytest.mark.parametrize(("type_", "deployment", "params", "field"), BAD_PARAMS)
def test_bad_parameters_answer_400_naming_the_field_and_write_nothing(
    client_for, incident, people, accounts, type_, deployment, params, field
):
    events = LedgerEvent.objects.count()
    response = post_request(client_for(people["commander"]), incident, type=type_, deployment=deployment,
                            params=params, rationale="x")  # fmt: skip
    if field is None:
        assert response.status_code == 201
        return
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()
    assert Correction.objects.count() == 0
    assert LedgerEvent.objects.count() == events


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"type": 5, "rationale": "x"}',
        b'{"type": "pause_deployment", "deployment": "atlas-chat", "params": [], "rationale": "x"}',
        b'{"type": "pause_deployment", "deployment": "atlas-chat", "params": {}, "rationale": null}',
        b'{"type": "pause_deployment", "deployment": "atlas-chat", "params": {}, "rationale": "x", "duration_minutes": '
        b'"soon"}',
        b'{"type": "pause_deployment", "deployment": "atlas-chat", "params": {}, "rationale": "x", "break_glass": '
        b'"yes"}',
        b'{"type": "pause_deployment", "deployment": "atlas-chat", "params": {}, "rationale": "' + b"x" * 30000 + b'"}',
    ],
)
def test_malformed_requests_answer_400_and_write_nothing(client_for, incident, people, body):
    client = client_for(people["commander"])
    response = client.post(f"/api/v1/incidents/{incident.ref}/corrections/", body, content_type="application/json")
    assert response.status_code == 400
    assert Correction.objects.count() == 0


def test_unknown_correction_is_404(client_for, people):
    assert client_for(people["leader1"]).get("/api/v1/corrections/999999/").status_code == 404
    assert client_for(people["leader1"]).post("/api/v1/corrections/99999999999999999999/approve/", {},
                                              format="json").status_code == 404  # fmt: skip


def test_restricted_incident_corrections_are_invisible(client_for, make_incident, people):
    secret = make_incident(by=people["commander"], restricted=True)
    cid = post_request(client_for(people["commander"]), secret, type="pause_deployment", deployment="atlas-chat",
                       params={}, rationale="x").json()["id"]  # fmt: skip
    outsider = client_for(people["responder"])
    assert outsider.get(f"/api/v1/corrections/{cid}/").status_code == 404
    assert outsider.post(f"/api/v1/corrections/{cid}/cancel/", {"reason": "x"}, format="json").status_code == 404
    assert client_for(people["leader1"]).get(f"/api/v1/corrections/{cid}/").status_code == 200


def test_tier1_request_writes_one_outbox_entry(client_for, incident, people, accounts):
    body = post_request(client_for(people["responder"]), incident, type="block_accounts", deployment="atlas-api",
                        params={"accounts": ["acct-mallory"]}, rationale="abuse").json()  # fmt: skip
    assert body["state"] == "approved"
    assert OutboxEntry.objects.filter(correction_id=body["id"]).count() == 1


def test_correction_page_api_costs_fixed_queries(client_for, incident, people, django_assert_max_num_queries):
    client = client_for(people["responder"])
    for _ in range(3):
        post_request(client, incident, type="pause_deployment", deployment="atlas-chat", params={}, rationale="x")
    with django_assert_max_num_queries(12):
        client.get(f"/api/v1/incidents/{incident.ref}/corrections/")
    for _ in range(20):
        post_request(client, incident, type="pause_deployment", deployment="atlas-chat", params={}, rationale="x")
    with django_assert_max_num_queries(12):
        response = client.get(f"/api/v1/incidents/{incident.ref}/corrections/")
    assert response.json()["count"] == 23


def test_role_not_needed_is_403(client_for, incident, people):
    cid = post_request(
        client_for(people["responder"]),
        incident,
        type="withdraw_model",
        deployment=None,
        params={"model": "atlas"},
        rationale="x",
    ).json()
    assert cid["code"] == "forbidden"  # responders may not request tier 4
    cid = post_request(client_for(people["commander"]), incident, type="withdraw_model", deployment=None,
                       params={"model": "atlas"}, rationale="x").json()["id"]  # fmt: skip
    response = post_approve(client_for(people["commander2"]), cid)
    assert response.status_code == 403


def test_bundle_carries_corrections_with_approvals(client_for, incident, people):
    cid = post_request(client_for(people["responder"]), incident, type="pause_deployment", deployment="atlas-chat",
                       params={}, rationale="x").json()["id"]  # fmt: skip
    assert post_approve(client_for(people["leader1"]), cid, comment="go").status_code == 200
    bundle = client_for(people["leader1"]).get(f"/api/v1/incidents/{incident.ref}/bundle/").json()
    [correction] = bundle["corrections"]
    assert correction["id"] == cid
    assert [(a["approver"], a["decision"]) for a in correction["approvals"]] == [(people["leader1"].username,
                                                                                  "approve")]  # fmt: skip
    assert any(e["verb"] == "correction.approval_given" for e in bundle["ledger"]["events"])


def test_audit_history_page_tells_the_correction_story(client, incident, people, client_for):
    cid = post_request(client_for(people["responder"]), incident, type="pause_deployment", deployment="atlas-chat",
                       params={}, rationale="x").json()["id"]  # fmt: skip
    assert post_approve(client_for(people["leader1"]), cid, comment="go").status_code == 200
    client.force_login(people["leader1"])
    page = client.get(f"/audit/incidents/{incident.ref}/").content.decode()
    assert "requested pause_deployment on atlas-chat" in page
    assert f"approved correction {cid} as leadership" in page
