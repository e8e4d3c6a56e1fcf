"""Inbound monitoring integrations (issue 11 §5): Alertmanager and Grafana webhooks and the generic
signal shape, each behind its own token. Sample bodies follow the formats' documented examples."""

from __future__ import annotations

import copy
import json
import threading
from collections import Counter

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts import ledger
from accounts.actor import Actor
from accounts.models import ApiToken, LedgerEvent, LedgerHead
from accounts.roles import Role
from incidents.events import IncidentEvent
from incidents.integrations import formats, services
from incidents.models import Integration, Signal

API = "/api/v1/integrations"

ALERTMANAGER_FIRING = {
    "receiver": "failsafe",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "RefusalRateDrop", "deployment": "atlas-chat", "severity": "critical",
                       "job": "safety-classifiers"},
            "annotations": {"summary": "Refusal rate on atlas-chat fell below 2%",
                            "description": "The bio-uplift classifier refused 1.1% of flagged prompts for 10m."},
            "startsAt": "2026-03-02T10:00:00.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://prometheus.example/graph?g0.expr=refusal_rate",
            "fingerprint": "1a30ba71cca2921f",
        }
    ],
    "groupLabels": {"alertname": "RefusalRateDrop"},
    "commonLabels": {"alertname": "RefusalRateDrop", "severity": "critical"},
    "commonAnnotations": {},
    "externalURL": "https://alertmanager.example",
    "version": "4",
    "groupKey": '{}:{alertname="RefusalRateDrop"}',
    "truncatedAlerts": 0,
}  # fmt: skip


def resolved(body, ends_at="2026-03-02T10:30:00Z"):
    body = copy.deepcopy(body)
    body["status"] = "resolved"
    for alert in body["alerts"]:
        alert["status"], alert["endsAt"] = "resolved", ends_at
    return body


def firing_again(body, starts_at="2026-03-02T12:00:00Z"):
    body = copy.deepcopy(body)
    for alert in body["alerts"]:
        alert["startsAt"] = starts_at
    return body


GRAFANA_FIRING = {
    "receiver": "failsafe",
    "status": "firing",
    "orgId": 1,
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "Jailbreak prompts spike", "team": "trust-safety", "zone": "us-1"},
            "annotations": {"summary": "Known jailbreak template seen 400x in 5 min",
                            "runbook_url": "https://runbooks.example/jailbreak"},
            "startsAt": "2026-03-02T09:51:03.157076+02:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://grafana.example/alerting/1afz29v7z/edit",
            "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "https://grafana.example/alerting/silence/new",
            "dashboardURL": "https://grafana.example/d/abc",
            "panelURL": "https://grafana.example/d/abc?viewPanel=2",
            "values": {"B": 412, "C": 1},
            "valueString": "[ var='B' labels={} value=412 ]",
        }
    ],
    "groupLabels": {"alertname": "Jailbreak prompts spike"},
    "commonLabels": {"alertname": "Jailbreak prompts spike"},
    "commonAnnotations": {},
    "externalURL": "https://grafana.example/",
    "version": "1",
    "groupKey": '{}:{alertname="Jailbreak prompts spike"}',
    "truncatedAlerts": 0,
    "title": "[FIRING:1] Jailbreak prompts spike",
    "state": "alerting",
    "message": "**Firing**",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()


@pytest.fixture
def admin(make_user):
    return make_user(Role.ADMIN)


@pytest.fixture
def make_integration(admin, actor_for, registry):
    def make(kind="alertmanager", name=None, **fields):
        return services.integration_create(actor=actor_for(admin), name=name or f"{kind}-{Integration.objects.count()}",
                                           kind=kind, **fields)  # fmt: skip

    return make


def post(token, kind, body):
    client = APIClient()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post(f"{API}/{kind}/", json.dumps(body), content_type="application/json", **headers)


def stored():
    return Signal.objects.count(), LedgerEvent.objects.count()


# --- firing, then resolved: one signal, updated ----------------------------------------------------


@pytest.mark.parametrize(("kind", "firing"), [("alertmanager", ALERTMANAGER_FIRING), ("grafana", GRAFANA_FIRING)])
def test_firing_then_resolved_is_one_signal_updated_not_duplicated(kind, firing, make_integration):
    integration, token = make_integration(kind)
    first = post(token, kind, firing)
    assert first.status_code == 200, first.content
    assert first.json()["created"] == 1
    signal = Signal.objects.get()
    assert (signal.integration, signal.resolved_at, signal.occurrences) == (integration, None, 1)
    assert signal.title == firing["alerts"][0]["annotations"]["summary"]
    assert signal.link.startswith("https://")

    assert post(token, kind, firing).json()["unchanged"] == 1  # the sender repeating itself
    answer = post(token, kind, resolved(firing))
    assert answer.json()["resolved"] == 1

    signal.refresh_from_db()
    assert Signal.objects.count() == 1
    assert signal.resolved_at is not None and signal.occurrences == 1
    verbs = list(LedgerEvent.objects.filter(object_type="incidents.signal").values_list("verb", flat=True))
    assert verbs == [IncidentEvent.SIGNAL_RECEIVED, IncidentEvent.SIGNAL_RESOLVED]
    assert post(token, kind, resolved(firing)).json()["unchanged"] == 1


def test_firing_again_after_resolved_reopens_the_same_signal(make_integration):
    _, token = make_integration("alertmanager")
    post(token, "alertmanager", ALERTMANAGER_FIRING)
    post(token, "alertmanager", resolved(ALERTMANAGER_FIRING))
    answer = post(token, "alertmanager", firing_again(ALERTMANAGER_FIRING))
    assert answer.json()["reopened"] == 1
    signal = Signal.objects.get()
    assert (signal.resolved_at, signal.occurrences, signal.state) == (None, 2, Signal.State.OPEN)
    assert LedgerEvent.objects.filter(verb=IncidentEvent.SIGNAL_REOPENED, object_id=str(signal.pk)).count() == 1


def test_a_new_start_while_still_firing_folds_as_another_occurrence(make_integration):
    _, token = make_integration("alertmanager")
    post(token, "alertmanager", ALERTMANAGER_FIRING)
    assert post(token, "alertmanager", firing_again(ALERTMANAGER_FIRING)).json()["folded"] == 1
    assert Signal.objects.get().occurrences == 2


def test_a_resolved_alert_never_seen_firing_stores_nothing(make_integration):
    _, token = make_integration("alertmanager")
    before = stored()
    assert post(token, "alertmanager", resolved(ALERTMANAGER_FIRING)).json()["ignored"] == 1
    assert stored()[0] == before[0]


def test_labels_map_to_deployment_and_severity(make_integration, registry):
    _, token = make_integration("alertmanager")
    post(token, "alertmanager", ALERTMANAGER_FIRING)
    signal = Signal.objects.get()
    assert (signal.deployment, signal.severity_hint) == (registry["atlas-chat"], "SEV2")


def test_the_integrations_defaults_apply_when_labels_say_nothing(make_integration, registry):
    _, token = make_integration("grafana", default_deployment=registry["atlas-api"], default_severity_hint="SEV1")
    post(token, "grafana", GRAFANA_FIRING)
    signal = Signal.objects.get()
    assert (signal.deployment, signal.severity_hint) == (registry["atlas-api"], "SEV1")


def test_the_same_fingerprint_from_two_integrations_is_two_signals(make_integration):
    _, one = make_integration("alertmanager")
    _, two = make_integration("alertmanager")
    post(one, "alertmanager", ALERTMANAGER_FIRING)
    post(two, "alertmanager", ALERTMANAGER_FIRING)
    assert Signal.objects.count() == 2


def test_a_promoted_signal_is_resolved_in_place(make_integration, make_user, actor_for):
    from incidents import services as incident_services

    _, token = make_integration("alertmanager")
    post(token, "alertmanager", ALERTMANAGER_FIRING)
    incident = incident_services.signal_promote(actor=actor_for(make_user(Role.RESPONDER)), signal=Signal.objects.get())
    post(token, "alertmanager", resolved(ALERTMANAGER_FIRING))
    signal = Signal.objects.get()
    assert signal.resolved_at is not None and signal.incident == incident
    event = LedgerEvent.objects.get(verb=IncidentEvent.SIGNAL_RESOLVED)
    assert event.incident_ref == incident.ref


def test_the_ledger_names_the_integration_as_the_actor(make_integration):
    integration, token = make_integration("alertmanager", name="prom-prod")
    post(token, "alertmanager", ALERTMANAGER_FIRING)
    event = LedgerEvent.objects.get(verb=IncidentEvent.SIGNAL_RECEIVED)
    assert (event.actor_type, event.actor_id, event.actor_name, event.source) == (
        "integration",
        str(integration.pk),
        "integration prom-prod",
        "api",
    )
    integration.refresh_from_db()
    assert integration.last_used_at is not None


def test_generic_signals_through_an_integration_token_fold_and_resolve(make_integration):
    _, token = make_integration("generic")
    body = {"title": "Classifier queue backlog", "dedup_key": "queue-backlog", "severity_hint": "SEV3"}
    assert post(token, "generic", body).json()["created"] == 1
    assert post(token, "generic", body).json()["folded"] == 1
    assert post(token, "generic", {**body, "status": "resolved"}).json()["resolved"] == 1
    signal = Signal.objects.get()
    assert (signal.occurrences, signal.resolved_at is not None) == (2, True)


def test_the_signal_api_shows_resolved_and_the_integration(make_integration, api_for, make_user):
    _, token = make_integration("alertmanager", name="prom-prod")
    post(token, "alertmanager", ALERTMANAGER_FIRING)
    post(token, "alertmanager", resolved(ALERTMANAGER_FIRING))
    row = api_for(make_user(Role.RESPONDER)).get("/api/v1/signals/").json()["results"][0]
    assert row["integration"] == "prom-prod" and row["resolved_at"]


# --- wrong tokens: 401, nothing stored ---------------------------------------------------------------


def test_missing_or_wrong_token_answers_401_and_stores_nothing(make_integration):
    _, token = make_integration("alertmanager")
    before = stored()
    for bad in ["", "nonsense", token[:-1] + ("x" if token[-1] != "x" else "y"), token + "a", "fsi_" + "0" * 50]:
        answer = post(bad, "alertmanager", ALERTMANAGER_FIRING)
        assert answer.status_code == 401, (bad, answer.status_code)
        assert answer["WWW-Authenticate"].startswith("Bearer")
    assert stored() == before


def test_a_revoked_token_answers_401_and_stores_nothing(make_integration, admin, actor_for):
    integration, token = make_integration("grafana")
    services.integration_revoke(actor=actor_for(admin), integration=integration, reason="Leaked in a screenshot")
    before = stored()
    assert post(token, "grafana", GRAFANA_FIRING).status_code == 401
    assert stored() == before


def test_another_kinds_token_answers_401_and_stores_nothing(make_integration):
    _, token = make_integration("grafana")
    before = stored()
    assert post(token, "alertmanager", ALERTMANAGER_FIRING).status_code == 401
    assert stored() == before


def test_a_users_api_token_is_not_an_integration_token(make_user):
    user = make_user(Role.ADMIN)
    key = ApiToken.new_key()
    ApiToken.objects.create(user=user, prefix=key[:8], key_hash=ApiToken.hash_key(key))
    before = stored()
    client = APIClient()
    for header in (f"Token {key}", f"Bearer {key}"):
        answer = client.post(f"{API}/alertmanager/", ALERTMANAGER_FIRING, format="json", HTTP_AUTHORIZATION=header)
        assert answer.status_code == 401
    assert stored() == before


def test_a_rotated_token_stops_working_at_once(make_integration, admin, actor_for):
    integration, old = make_integration("alertmanager")
    _, new = services.integration_rotate(actor=actor_for(admin), integration=integration)
    assert post(old, "alertmanager", ALERTMANAGER_FIRING).status_code == 401
    assert post(new, "alertmanager", ALERTMANAGER_FIRING).status_code == 200


def test_only_a_hash_of_the_token_is_stored(make_integration):
    integration, token = make_integration("alertmanager")
    row = Integration.objects.filter(pk=integration.pk).values().get()
    assert token not in json.dumps(row, default=str)
    assert not LedgerEvent.objects.filter(after__icontains=token[12:]).exists()


# --- malformed bodies: 400 naming the field, nothing stored -------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b["alerts"].append({**b["alerts"][0], "status": "burning"}), "alerts[1].status"),
        (lambda b: b.update(alerts=[]), "alerts"),
        (lambda b: b.update(version="3"), "version"),
        (lambda b: b["alerts"][0].update(labels=["alertname"]), "alerts[0].labels"),
        (lambda b: b["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
        (lambda b: b["alerts"][0].update(fingerprint="a b"), "alerts[0].fingerprint"),
        (lambda b: b["alerts"][0].update(labels={}, annotations={}), "alerts[0].labels"),
        (lambda b: b["alerts"][0]["annotations"].update(summary=7), "alerts[0].annotations.summary"),
        (lambda b: b.update(alerts=b["alerts"] * 201), "alerts"),
    ],
)
def test_a_malformed_delivery_is_400_naming_the_field_and_stores_nothing(make_integration, mutate, field):
    _, token = make_integration("alertmanager")
    body = copy.deepcopy(ALERTMANAGER_FIRING)
    mutate(body)
    before = stored()
    answer = post(token, "alertmanager", body)
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["errors"], answer.json()
    assert stored() == before


def test_a_body_over_the_cap_is_413_and_stores_nothing(make_integration):
    _, token = make_integration("alertmanager")
    body = copy.deepcopy(ALERTMANAGER_FIRING)
    body["padding"] = "x" * (1024 * 1024)
    before = stored()
    assert post(token, "alertmanager", body).status_code == 413
    assert stored() == before


def test_generic_refuses_unknown_fields_and_a_resolve_without_key(make_integration):
    _, token = make_integration("generic")
    answer = post(token, "generic", {"title": "x", "sevrity": "SEV1", "status": "resolved"})
    assert answer.status_code == 400
    assert {"sevrity", "dedup_key"} <= set(answer.json()["errors"])
    assert Signal.objects.count() == 0


# --- rate limit ------------------------------------------------------------------------------------


def test_each_integration_is_rate_limited_on_its_own(make_integration, settings):
    settings.FAILSAFE_INTEGRATION_RATE = "2/min"
    _, busy = make_integration("alertmanager")
    _, quiet = make_integration("alertmanager")
    assert [post(busy, "alertmanager", ALERTMANAGER_FIRING).status_code for _ in range(2)] == [200, 200]
    limited = post(busy, "alertmanager", firing_again(ALERTMANAGER_FIRING))
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert Signal.objects.get().occurrences == 1  # the limited delivery stored nothing
    assert post(quiet, "alertmanager", ALERTMANAGER_FIRING).status_code == 200


# --- managing integrations (admins; each change on the ledger) -------------------------------------


def test_an_admin_creates_rotates_and_revokes_through_the_api(api_for, admin, registry):
    client = api_for(admin)
    made = client.post(f"{API}/", {"name": "prom-prod", "kind": "alertmanager", "default_deployment": "atlas-api"},
                       format="json")  # fmt: skip
    assert made.status_code == 201, made.content
    token = made.json()["token"]
    assert post(token, "alertmanager", ALERTMANAGER_FIRING).status_code == 200
    listed = client.get(f"{API}/").json()["results"]
    assert [r["name"] for r in listed] == ["prom-prod"] and "token" not in listed[0]
    pk = made.json()["id"]
    rotated = client.post(f"{API}/{pk}/rotate/")
    assert rotated.status_code == 200 and rotated.json()["token"] != token
    assert client.post(f"{API}/{pk}/revoke/", {}, format="json").status_code == 400  # a reason is required
    assert client.post(f"{API}/{pk}/revoke/", {"reason": "Replaced"}, format="json").status_code == 200
    assert post(rotated.json()["token"], "alertmanager", ALERTMANAGER_FIRING).status_code == 401
    verbs = list(LedgerEvent.objects.filter(object_type="incidents.integration").values_list("verb", "actor_name"))
    assert verbs == [
        (IncidentEvent.INTEGRATION_CREATED, admin.username),
        (IncidentEvent.INTEGRATION_ROTATED, admin.username),
        (IncidentEvent.INTEGRATION_REVOKED, admin.username),
    ]


@pytest.mark.parametrize("role", [Role.RESPONDER, Role.INCIDENT_COMMANDER, Role.LEADERSHIP, Role.AUDITOR])
def test_only_admins_manage_integrations(api_for, make_user, make_integration, role):
    integration, _ = make_integration("alertmanager")
    client = api_for(make_user(role))
    before = stored(), Integration.objects.count()
    assert client.get(f"{API}/").status_code == 403
    assert client.post(f"{API}/", {"name": "x", "kind": "grafana"}, format="json").status_code == 403
    assert client.post(f"{API}/{integration.pk}/rotate/").status_code == 403
    assert client.post(f"{API}/{integration.pk}/revoke/", {"reason": "x"}, format="json").status_code == 403
    assert (stored(), Integration.objects.count()) == before


def test_a_duplicate_name_is_a_field_error(api_for, admin, make_integration):
    make_integration("alertmanager", name="prom")
    answer = api_for(admin).post(f"{API}/", {"name": "PROM", "kind": "grafana"}, format="json")
    assert answer.status_code == 400 and "name" in answer.json()["errors"]


# --- concurrency (PostgreSQL) -----------------------------------------------------------------------


@pytest.mark.postgres
def test_two_deliveries_of_a_new_alert_at_once_make_one_signal(transactional_db, make_integration):
    _, token = make_integration("alertmanager")
    barrier = threading.Barrier(2)
    codes = []

    def deliver():
        try:
            barrier.wait()
            codes.append(post(token, "alertmanager", ALERTMANAGER_FIRING).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200, 200]
    assert Signal.objects.count() == 1
    assert Signal.objects.get().occurrences == 1


def test_the_integration_list_costs_the_same_queries_for_3_and_30(
    api_for, admin, make_integration, django_assert_num_queries, django_assert_max_num_queries
):
    client = api_for(admin)
    for _ in range(3):
        make_integration("alertmanager")
    with django_assert_max_num_queries(4) as small:
        assert len(client.get(f"{API}/").json()["results"]) == 3
    for _ in range(27):
        make_integration("grafana")
    with django_assert_num_queries(len(small)):
        assert len(client.get(f"{API}/").json()["results"]) == 30


# --- the Django admin -------------------------------------------------------------------------------


@pytest.fixture
def staff_admin(admin):
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    return admin


def test_an_admin_adds_an_integration_in_the_admin_and_sees_its_token_once(client_for, staff_admin, registry):
    page = client_for(staff_admin).post(
        "/admin/incidents/integration/add/",
        {"name": "grafana-prod", "kind": "grafana", "default_deployment": registry["atlas-api"].pk,
         "default_severity_hint": ""},
    )  # fmt: skip
    assert page.status_code == 200, page.content[:500]
    token = page.context["token"]
    assert token.startswith("fsi_") and token in page.content.decode()
    assert post(token, "grafana", GRAFANA_FIRING).status_code == 200
    event = LedgerEvent.objects.get(verb=IncidentEvent.INTEGRATION_CREATED)
    assert event.actor_name == staff_admin.username and token not in json.dumps(event.after)
    listing = client_for(staff_admin).get("/admin/incidents/integration/")
    assert listing.status_code == 200 and token not in listing.content.decode()


def test_the_admin_form_refuses_what_the_service_refuses(client_for, staff_admin, make_integration):
    make_integration("grafana", name="grafana-prod")
    client = client_for(staff_admin)
    before = Integration.objects.count()
    for name, field, message in [
        ("GRAFANA-PROD ", "name", "An integration with this name already exists."),
        ("x" * 300, "name", "characters"),
    ]:
        page = client.post("/admin/incidents/integration/add/", {"name": name, "kind": "grafana"})
        assert page.status_code == 200 and "token" not in page.context
        assert any(message in error for error in page.context["adminform"].form.errors[field])
    assert Integration.objects.count() == before


def test_rotate_and_revoke_from_the_admin(client_for, staff_admin, make_integration):
    integration, old = make_integration("alertmanager")
    client = client_for(staff_admin)
    url = "/admin/incidents/integration/"
    rotated = client.post(url, {"action": "rotate_token", "_selected_action": [integration.pk]})
    new = rotated.context["token"]
    assert post(old, "alertmanager", ALERTMANAGER_FIRING).status_code == 401
    asked = client.post(url, {"action": "revoke", "_selected_action": [integration.pk]})
    assert asked.status_code == 200 and "reason" in asked.context["form"].fields  # asks why first
    assert Integration.objects.get().revoked_at is None
    client.post(url, {"action": "revoke", "_selected_action": [integration.pk], "reason": "Decommissioned"})
    assert Integration.objects.get().revoked_at is not None
    assert post(new, "alertmanager", ALERTMANAGER_FIRING).status_code == 401
    assert LedgerEvent.objects.get(verb=IncidentEvent.INTEGRATION_REVOKED).reason == "Decommissioned"


def test_staff_without_the_admin_role_cannot_reach_integrations_in_the_admin(client_for, make_user, make_integration):
    make_integration("alertmanager")
    leader = make_user(Role.LEADERSHIP)
    leader.is_staff = True
    leader.save(update_fields=["is_staff"])
    client = client_for(leader)
    assert client.get("/admin/incidents/integration/").status_code == 403
    assert client.get("/admin/incidents/integration/add/").status_code == 403


def test_the_signal_page_shows_a_resolved_alert_and_where_it_came_from(make_integration, client_for, make_user):
    _, token = make_integration("alertmanager", name="prom-prod")
    post(token, "alertmanager", ALERTMANAGER_FIRING)
    post(token, "alertmanager", resolved(ALERTMANAGER_FIRING))
    page = client_for(make_user(Role.RESPONDER)).get("/signals/").content.decode()
    assert "Resolved" in page and "from prom-prod" in page
    assert 'href="https://prometheus.example/graph?g0.expr=refusal_rate"' in page


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.ADMIN])
def test_a_signed_in_person_without_an_integration_token_gets_401_and_stores_nothing(client_for, make_user, role):
    client = client_for(make_user(role))
    before = stored()
    for kind in ("alertmanager", "grafana", "generic"):
        body = {"title": "x"} if kind == "generic" else ALERTMANAGER_FIRING
        answer = client.post(f"{API}/{kind}/", json.dumps(body), content_type="application/json")
        assert answer.status_code == 401
    assert stored() == before


# --- batched ingestion (issue 14 item 6: ≥ 300 signals/s) ---------------------------------------------


def delivery(*alerts):
    """An Alertmanager body of these (fingerprint, status, startsAt) alerts, in order."""
    body = copy.deepcopy(ALERTMANAGER_FIRING)
    template = body["alerts"][0]
    body["alerts"] = [
        {**copy.deepcopy(template), "fingerprint": fingerprint, "status": status, "startsAt": starts,
         "endsAt": "2026-03-02T11:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z"}
        for fingerprint, status, starts in alerts
    ]  # fmt: skip
    return body


T1, T2, T3 = "2026-03-02T10:00:00Z", "2026-03-02T10:05:00Z", "2026-03-02T10:10:00Z"
STORY = [("a", "firing", T1), ("a", "firing", T1), ("a", "firing", T2), ("b", "resolved", T1),
         ("a", "resolved", T2), ("a", "resolved", T2), ("a", "firing", T3), ("b", "firing", T1)]  # fmt: skip


def test_one_fingerprint_repeated_within_a_delivery_gives_what_one_alert_per_delivery_gives(make_integration):
    """The batch decides each alert against what the ones before it did: the same signals, counts
    and ledger events as posting the alerts one delivery at a time."""
    _, together = make_integration("alertmanager", name="together")
    _, apart = make_integration("alertmanager", name="apart")

    batched = post(together, "alertmanager", delivery(*STORY)).json()
    one_by_one = Counter()
    for alert in STORY:
        receipt = post(apart, "alertmanager", delivery(alert)).json()
        one_by_one.update({k: receipt[k] for k in services.OUTCOMES})

    assert {k: batched[k] for k in services.OUTCOMES} == dict(one_by_one) == {
        "created": 2, "folded": 1, "reopened": 1, "resolved": 1, "unchanged": 2, "ignored": 1}  # fmt: skip

    def story(name):
        signals = Signal.objects.filter(integration__name=name).order_by("dedup_key")
        events = LedgerEvent.objects.filter(object_type="incidents.signal",
                                            object_id__in=[str(s.pk) for s in signals]).order_by("seq")  # fmt: skip
        return ([(s.dedup_key.rsplit(":", 1)[1], s.occurrences, s.resolved_at, s.alert_started_at) for s in signals],
                [(e.verb, {k: v for k, v in e.after.items() if k not in ("dedup_key", "integration")})
                 for e in events])  # fmt: skip

    assert story("together") == story("apart")
    assert len(batched["signals"]) == 2 and set(batched["signals"]) == set(
        Signal.objects.filter(integration__name="together").values_list("pk", flat=True)
    )
    assert ledger.verify().ok


def test_a_delivery_costs_the_same_queries_for_5_and_50_alerts(make_integration):
    integration, _ = make_integration("alertmanager")
    actor = Actor(user=None, source="api", task=f"integration {integration.name}", integration_id=integration.pk)

    def receive(n, prefix, starts=T1):
        body = delivery(*[(f"{prefix}{i}", "firing", starts) for i in range(n)])
        alerts = formats.parse_webhook("alertmanager", body)
        with CaptureQueriesContext(connection) as queries:
            receipt = services.alerts_receive(actor=actor, integration=integration, alerts=alerts)
        return len(queries), receipt.counts

    few, counts = receive(5, "few")
    assert counts == {"created": 5}
    many, counts = receive(50, "many")
    assert counts == {"created": 50}
    assert many == few
    refolded, counts = receive(50, "many", starts=T2)  # every one an update: one UPDATE for all
    assert counts == {"folded": 50}
    assert refolded <= few
    occurrences = Signal.objects.filter(dedup_key__contains=":many").values_list("occurrences", flat=True)
    assert set(occurrences) == {2}
    assert ledger.verify().ok


def test_record_many_appends_the_chain_record_would(make_user, actor_for):
    actor = actor_for(make_user(Role.ADMIN))
    with transaction.atomic():
        ledger.record(actor=actor, verb=IncidentEvent.SIGNAL_RECEIVED, object_type="t", object_id=1)
        events = ledger.record_many(actor=actor, entries=[
            ledger.Entry(verb=IncidentEvent.SIGNAL_FOLDED, object_type="t", object_id=1, after={"n": 2}),
            ledger.Entry(verb=IncidentEvent.SIGNAL_RESOLVED, object_type="t", object_id=1, incident_ref="INC-1"),
        ])  # fmt: skip
        assert ledger.record_many(actor=actor, entries=[]) == []
        ledger.record(actor=actor, verb=IncidentEvent.SIGNAL_REOPENED, object_type="t", object_id=1)
    stored = list(LedgerEvent.objects.order_by("seq"))
    assert [e.seq for e in stored] == [1, 2, 3, 4]
    assert [(e.seq, e.hash) for e in events] == [(s.seq, s.hash) for s in stored[1:3]]
    assert stored[2].prev_hash == stored[1].hash and stored[3].prev_hash == stored[2].hash
    assert LedgerHead.objects.get().seq == 4
    assert ledger.verify().ok


def test_record_many_refuses_to_run_outside_a_transaction(transactional_db, make_user, actor_for):
    with pytest.raises(RuntimeError):
        entry = ledger.Entry(verb=IncidentEvent.SIGNAL_RECEIVED, object_type="t", object_id=1)
        ledger.record_many(actor=actor_for(make_user(Role.ADMIN)), entries=[entry])
    assert not LedgerEvent.objects.exists()


@pytest.mark.postgres
def test_overlapping_deliveries_from_several_integrations_at_once_stay_exact(transactional_db, make_integration):
    """Six threads, two integrations, the same 30 fingerprints each: every (integration, fingerprint)
    is one open signal, its occurrences are the episodes it was told about, and the chain holds."""
    tokens = [make_integration("alertmanager", name=f"prom-{n}")[1] for n in range(2)]
    episodes = [T1, T2, T3]
    barrier = threading.Barrier(6)
    answers = []

    def deliver(token, starts):
        try:
            barrier.wait()
            for chunk in range(3):
                alerts = [(f"fp{i}", "firing", starts) for i in range(chunk * 10, chunk * 10 + 10)]
                answers.append(post(token, "alertmanager", delivery(*alerts)).json())
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(token, starts)) for token in tokens for starts in episodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 18
    totals = Counter()
    for answer in answers:
        totals.update({k: answer[k] for k in services.OUTCOMES})
    # Each (integration, fingerprint) is created once and folded once per other episode, whatever the order.
    assert totals["created"] == 60 and totals["folded"] + totals["unchanged"] == 120
    assert Signal.objects.count() == 60
    assert sum(Signal.objects.values_list("occurrences", flat=True)) == 60 + totals["folded"]
    assert LedgerEvent.objects.filter(verb=IncidentEvent.SIGNAL_RECEIVED).count() == 60
    assert LedgerEvent.objects.filter(verb=IncidentEvent.SIGNAL_FOLDED).count() == totals["folded"]
    assert ledger.verify().ok


@pytest.mark.parametrize(
    ("starts_at", "stored_as"),
    [
        # Python accepts offsets up to ±23:59, PostgreSQL only up to ±15:59: kept in UTC, not refused.
        ("2026-03-02T10:00:00-18:33", "2026-03-03T04:33:00+00:00"),
        ("2026-03-02T10:00:00+23:59", "2026-03-01T10:01:00+00:00"),
    ],
)
def test_an_alert_time_with_any_offset_python_reads_is_kept_in_utc(make_integration, starts_at, stored_as):
    _, token = make_integration("alertmanager")
    body = copy.deepcopy(ALERTMANAGER_FIRING)
    body["alerts"] = body["alerts"][:1]
    body["alerts"][0]["startsAt"] = starts_at
    answer = post(token, "alertmanager", body)
    assert answer.status_code == 200, answer.content
    assert Signal.objects.get().alert_started_at.isoformat() == stored_as


def test_an_alert_time_past_the_last_storable_year_is_400_naming_it(make_integration):
    _, token = make_integration("alertmanager")
    body = copy.deepcopy(ALERTMANAGER_FIRING)
    body["alerts"][0]["startsAt"] = "9999-12-31T23:00:00-05:00"  # year 10000 in UTC
    before = stored()
    answer = post(token, "alertmanager", body)
    assert answer.status_code == 400, answer.content
    assert "alerts[0].startsAt" in answer.json()["errors"]
    assert stored() == before
