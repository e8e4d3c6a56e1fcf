"""The on-call pages and API: rotations list and forms, the page with its Acknowledge button (GET
never acknowledges), who may see and acknowledge, restricted incidents, and field-level errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from accounts.models import LedgerEvent
from accounts.roles import Role
from incidents.models import Incident, Rotation
from incidents.oncall import services as oncall

API = "/api/v1"


@pytest.fixture
def page(rotation, leaders, make_incident, actor_for):
    incident = make_incident(severity="SEV2", title="Visible title")
    return oncall.page_open(actor=actor_for(leaders[0]), incident=incident, role=Role.LEADERSHIP, reason="sev1")


def test_opening_the_page_never_acknowledges_it(page, leaders, client_for):
    response = client_for(leaders[0]).get(f"/pages/{page.pk}/")
    assert response.status_code == 200
    assert b"Acknowledge</button>" in response.content and b"Visible title" in response.content
    page.refresh_from_db()
    assert page.acknowledged_at is None


def test_the_acknowledge_button_acknowledges(page, leaders, client_for):
    client = client_for(leaders[1])
    response = client.post(f"/pages/{page.pk}/acknowledge/")
    assert response.status_code == 302
    page.refresh_from_db()
    assert page.acknowledged_by == leaders[1]
    assert Incident.objects.get(pk=page.incident_id).acknowledged_at == page.acknowledged_at
    assert b"Acknowledge</button>" not in client.get(f"/pages/{page.pk}/").content


def test_a_get_to_the_acknowledge_url_does_not_acknowledge(page, leaders, client_for):
    assert client_for(leaders[0]).get(f"/pages/{page.pk}/acknowledge/").status_code == 302
    page.refresh_from_db()
    assert page.acknowledged_at is None


def test_a_stranger_cannot_see_a_page_about_a_restricted_incident(
    rotation, leaders, make_incident, make_user, actor_for, client_for, api_for
):
    incident = make_incident(severity="SEV2", restricted=True)
    page = oncall.page_open(actor=actor_for(leaders[0]), incident=incident, role=Role.LEADERSHIP, reason="sev1")
    stranger = make_user(Role.RESPONDER)
    assert client_for(stranger).get(f"/pages/{page.pk}/").status_code == 404
    assert client_for(stranger).post(f"/pages/{page.pk}/acknowledge/").status_code == 404
    assert api_for(stranger).post(f"{API}/pages/{page.pk}/acknowledge/").status_code == 404


def test_a_stranger_who_sees_the_incident_still_cannot_acknowledge(page, make_user, client_for, api_for):
    responder = make_user(Role.RESPONDER)
    assert client_for(responder).get(f"/pages/{page.pk}/").status_code == 200
    assert client_for(responder).post(f"/pages/{page.pk}/acknowledge/").status_code == 403
    response = api_for(responder).post(f"{API}/pages/{page.pk}/acknowledge/", {}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    page.refresh_from_db()
    assert page.acknowledged_at is None


def test_a_paged_commander_without_a_grant_sees_only_the_ref_and_may_acknowledge(
    make_incident, make_user, actor_for, client_for, api_for
):
    commander = make_user(Role.INCIDENT_COMMANDER)
    incident = make_incident(severity="SEV2", restricted=True, title="Secret-title")
    page = oncall.page_open(
        actor=actor_for(commander), incident=incident, role=Role.INCIDENT_COMMANDER, reason="dispatch_failed"
    )
    response = client_for(commander).get(f"/pages/{page.pk}/")
    assert response.status_code == 200
    assert b"Secret-title" not in response.content and incident.ref.encode() in response.content
    body = api_for(commander).get(f"{API}/pages/{page.pk}/").json()
    assert body["title"] is None and body["incident"] == incident.ref
    assert api_for(commander).post(f"{API}/pages/{page.pk}/acknowledge/").status_code == 200


def test_the_api_acknowledges_idempotently(page, leaders, api_for):
    first = api_for(leaders[0]).post(f"{API}/pages/{page.pk}/acknowledge/", {}, format="json")
    again = api_for(leaders[1]).post(f"{API}/pages/{page.pk}/acknowledge/", {}, format="json")
    assert first.status_code == again.status_code == 200
    assert again.json()["acknowledged_by"] == "leader-1"
    assert LedgerEvent.objects.filter(verb="page.acknowledged").count() == 1


def test_the_rotation_list_shows_who_is_on_call(rotation, make_user, client_for):
    response = client_for(make_user(Role.AUDITOR)).get("/oncall/")
    assert response.status_code == 200
    assert b"On call now:" in response.content and b"leader-1 \xe2\x86\x92 leader-2" in response.content


def test_the_dashboard_shows_who_is_on_call(rotation, make_user, client_for):
    response = client_for(make_user(Role.RESPONDER)).get("/")
    assert b"On call now" in response.content and b"leadership" in response.content


def test_a_custom_rotation_with_a_gap_is_refused_on_the_page(leaders, client_for):
    form = {
        "role": "leadership", "name": "L", "time_zone": "Europe/London", "handoff": "custom",
        "members": "leader-1 leader-2",
        "shifts": "leader-1, 2026-03-02 09:00, 2026-03-04 09:00\nleader-2, 2026-03-04 10:00, 2026-03-09 09:00",
    }  # fmt: skip
    response = client_for(leaders[0]).post("/oncall/new/", form)
    assert response.status_code == 400
    assert b"There is a gap between Wed 04 Mar 2026 09:00 and Wed 04 Mar 2026 10:00." in response.content
    assert not Rotation.objects.exists()


def test_a_rotation_is_created_on_the_page(leaders, client_for):
    form = {
        "role": "leadership", "name": "Leaders", "time_zone": "Europe/London", "handoff": "weekly",
        "members": "leader-2, leader-1", "handoff_weekday": "0", "handoff_time": "09:00", "start_date": "2026-03-16",
    }  # fmt: skip
    assert client_for(leaders[0]).post("/oncall/new/", form).status_code == 302
    rotation = Rotation.objects.get()
    assert [m.user.username for m in rotation.members.all()] == ["leader-2", "leader-1"]


def test_a_responder_cannot_open_the_rotation_form(make_user, client_for):
    assert client_for(make_user(Role.RESPONDER)).get("/oncall/new/").status_code == 403


def test_overlapping_shifts_are_refused_by_the_api_naming_where(leaders, api_for):
    body = {
        "role": "leadership", "name": "L", "handoff": "custom", "members": ["leader-1", "leader-2"],
        "shifts": [
            {"user": "leader-1", "starts_at": "2026-03-02T09:00:00Z", "ends_at": "2026-03-04T09:00:00Z"},
            {"user": "leader-2", "starts_at": "2026-03-03T09:00:00Z", "ends_at": "2026-03-09T09:00:00Z"},
        ],
    }  # fmt: skip
    response = api_for(leaders[0]).post(f"{API}/oncall/rotations/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["shifts"] == [
        "Shifts overlap between Tue 03 Mar 2026 09:00 and Wed 04 Mar 2026 09:00."
    ]


def test_the_api_refuses_an_unknown_role_and_a_member_outside_the_role(leaders, make_user, api_for):
    make_user(Role.RESPONDER, username="resp")
    body = {"role": "janitor", "name": "J", "members": ["leader-1"], "handoff_weekday": 0, "handoff_time": "09:00",
            "start_date": "2026-03-16"}  # fmt: skip
    response = api_for(leaders[0]).post(f"{API}/oncall/rotations/", body, format="json")
    assert response.status_code == 400 and "role" in response.json()["errors"]
    body |= {"role": "leadership", "members": ["leader-1", "resp"]}
    response = api_for(leaders[0]).post(f"{API}/oncall/rotations/", body, format="json")
    assert response.json()["errors"]["members"] == ["Not in the role leadership: resp."]


def test_the_api_creates_edits_and_overrides_a_rotation(leaders, api_for):
    api = api_for(leaders[0])
    body = {"role": "leadership", "name": "L", "time_zone": "Europe/London", "members": ["leader-1", "leader-2"],
            "handoff_weekday": 0, "handoff_time": "09:00", "start_date": "2026-03-16"}  # fmt: skip
    created = api.post(f"{API}/oncall/rotations/", body, format="json")
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    body.pop("role")
    edited = api.put(f"{API}/oncall/rotations/{pk}/", body | {"members": ["leader-2", "leader-1"]}, format="json")
    assert edited.status_code == 200 and edited.json()["members"] == ["leader-2", "leader-1"]
    from django.utils import timezone

    start = timezone.now() - timedelta(minutes=1)
    override = {"user": "leader-1", "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat()}
    assert api.post(f"{API}/oncall/rotations/{pk}/overrides/", override, format="json").status_code == 201
    clash = api.post(f"{API}/oncall/rotations/{pk}/overrides/", override, format="json")
    assert clash.status_code == 400 and "overlap" in clash.json()["errors"]["starts_at"][0]
    [now_row] = api.get(f"{API}/oncall/").json()
    assert now_row == {"role": "leadership", "rotation": "L", "user": "leader-1",
                       "until": now_row["until"], "source": "override"}  # fmt: skip


def test_a_commander_cannot_edit_rotations_through_the_api(rotation, make_user, api_for):
    api = api_for(make_user(Role.INCIDENT_COMMANDER))
    assert api.get(f"{API}/oncall/rotations/").status_code == 200
    body = {"role": "responder", "name": "R", "members": []}
    assert api.post(f"{API}/oncall/rotations/", body, format="json").status_code == 403
