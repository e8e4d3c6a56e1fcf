"""seed_load (the load test's data): what it writes works the way the locust users use it, only its
owner can read the file, and a second run adds no second backlog."""

import json
import stat
from io import StringIO

from django.conf import settings
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from incidents.models import Incident, Signal


def seed(tmp_path):
    out = tmp_path / "seed.json"
    call_command("seed_load", people=2, integrations=1, incidents=3, out=str(out),
                 gateway_state_dir=str(tmp_path / "sandbox"), stdout=StringIO())  # fmt: skip
    return out, json.loads(out.read_text())


def test_seed_load_writes_working_sessions_tokens_and_integrations_for_its_owner_only(db, tmp_path):
    out, data = seed(tmp_path)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert sorted(data["people"]) == ["auditor", "incident_commander", "leadership", "responder"]
    assert all(len(people) == 2 for people in data["people"].values())
    assert len(data["incidents"]) == 3 and sorted(h["kind"] for h in data["integrations"]) == [
        "alertmanager", "generic", "grafana"]  # fmt: skip

    auditor, responder = data["people"]["auditor"][0], data["people"]["responder"][0]
    page = Client()
    page.cookies[data["session_cookie"]] = auditor["session"]
    assert page.get(f"/incidents/{data['incidents'][0]}/").status_code == 200
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {responder['token']}")
    assert api.get("/api/v1/incidents/").status_code == 200

    generic = next(h for h in data["integrations"] if h["kind"] == "generic")
    hook = APIClient()
    hook.credentials(HTTP_AUTHORIZATION=f"Bearer {generic['token']}")
    answer = hook.post("/api/v1/integrations/generic/", {"title": "Queue backlog", "dedup_key": "q"}, format="json")
    assert answer.status_code == 200 and answer.json()["created"] == 1
    assert Signal.objects.filter(integration_id=generic["id"]).count() == 1
    assert data["session_cookie"] == settings.SESSION_COOKIE_NAME


def test_a_second_run_reuses_people_and_integrations_and_tops_incidents_up_only(db, tmp_path):
    _, first = seed(tmp_path)
    _, second = seed(tmp_path)
    assert Incident.objects.filter(title__startswith="[load] ").count() == 3
    leaders = [[p["username"] for p in run["people"]["leadership"]] for run in (first, second)]
    assert leaders[0] == leaders[1]
    assert [h["id"] for h in first["integrations"]] == [h["id"] for h in second["integrations"]]
    old = next(h for h in first["integrations"] if h["kind"] == "generic")["token"]  # rotated: the old one is dead
    hook = APIClient()
    hook.credentials(HTTP_AUTHORIZATION=f"Bearer {old}")
    assert hook.post("/api/v1/integrations/generic/", {"title": "t"}, format="json").status_code == 401
