"""The new-incident and note forms are one-shot; incident API POSTs honour an Idempotency-Key."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.roles import Role
from incidents.models import Incident, Signal, TimelineEntry


@pytest.fixture
def responder(make_user):
    return make_user(Role.RESPONDER)


@pytest.fixture
def browser(responder) -> Client:
    client = Client()
    client.force_login(responder)
    return client


def token_in(response) -> str:
    match = re.search(r'name="submit_token" value="([^"]+)"', response.content.decode())
    assert match, "the form carries no one-time token"
    return match.group(1)


def new_incident(registry, token, **fields):
    return {
        "title": "Model gives synthesis route",
        "severity": "SEV2",
        "category": "dangerous_capability",
        "risk_domain": "cbrn",
        "source": "red_team",
        "deployments": [registry["atlas-chat"].pk],
        "submit_token": token,
    } | fields


def test_double_submit_of_the_new_incident_form_makes_one_incident_and_redirects_to_it(browser, registry):
    body = new_incident(registry, token_in(browser.get(reverse("incident-new"))))

    first = browser.post(reverse("incident-new"), body)
    second = browser.post(reverse("incident-new"), body)

    incident = Incident.objects.get()
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == reverse("incident-detail", args=[incident.ref])
    messages = [str(m) for m in browser.get(second["Location"]).context["messages"]]
    assert any("already submitted" in m for m in messages)


def test_each_rendering_of_the_form_has_its_own_token(browser, registry):
    one, two = (token_in(browser.get(reverse("incident-new"))) for _ in range(2))
    assert one != two
    browser.post(reverse("incident-new"), new_incident(registry, one))
    browser.post(reverse("incident-new"), new_incident(registry, two))
    assert Incident.objects.count() == 2


def test_an_invalid_new_incident_keeps_its_token_and_the_fixed_one_is_created(browser, registry):
    token = token_in(browser.get(reverse("incident-new")))

    refused = browser.post(reverse("incident-new"), new_incident(registry, token, title=""))
    assert refused.status_code == 400 and token_in(refused) == token
    done = browser.post(reverse("incident-new"), new_incident(registry, token))

    assert done.status_code == 302
    assert Incident.objects.count() == 1


def test_a_tampered_token_is_refused_with_a_message(browser, registry):
    response = browser.post(reverse("incident-new"), new_incident(registry, "x' onmouseover='y"))

    assert response.status_code == 400
    assert "reload the page" in response.content.decode()
    assert Incident.objects.count() == 0


def test_double_submit_of_a_note_adds_one_entry(browser, make_incident, responder):
    incident = make_incident(by=responder)
    token = token_in(browser.get(reverse("incident-detail", args=[incident.ref])))
    body = {"kind": "note", "body": "Saw it again.", "submit_token": token}
    url = reverse("incident-add-entry", args=[incident.ref])

    first = browser.post(url, body)
    second = browser.post(url, body)

    assert first.status_code == second.status_code == 302
    assert TimelineEntry.objects.filter(incident=incident).count() == 1


@pytest.fixture
def api(responder) -> APIClient:
    client = APIClient()
    client.force_authenticate(responder)
    return client


def test_a_repeated_api_incident_with_the_same_key_is_made_once(api):
    body = {"title": "t", "summary": "s", "category": "misuse", "risk_domain": "cyber", "severity": "SEV3",
            "source": "internal_monitoring"}  # fmt: skip
    first = api.post("/api/v1/incidents/", body, format="json", headers={"Idempotency-Key": "abc"})
    second = api.post("/api/v1/incidents/", body, format="json", headers={"Idempotency-Key": "abc"})

    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert Incident.objects.count() == 1


def test_a_repeated_signal_with_the_same_key_replays_created_not_folded(api):
    body = {"source": "internal_monitoring", "title": "Spike", "dedup_key": "spike-1"}
    first = api.post("/api/v1/signals/", body, format="json", headers={"Idempotency-Key": "sig-1"})
    second = api.post("/api/v1/signals/", body, format="json", headers={"Idempotency-Key": "sig-1"})

    assert first.status_code == second.status_code == 201  # without the key the repeat folds: 200
    assert Signal.objects.get().occurrences == 1
