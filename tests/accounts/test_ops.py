"""Health, readiness and Prometheus metrics (accounts.ops, corrections.observe), in process.

Over real processes (gunicorn with two workers, its own Redis stopped and restarted):
tests/e2e/test_ops.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from accounts.roles import Role
from corrections import services as corrections
from corrections.models import Correction, OutboxEntry, State

TOKEN = "ops-" + "t" * 40


@pytest.fixture
def ops(settings):
    settings.FAILSAFE_OPS_TOKEN = TOKEN
    settings.FAILSAFE_OPS_ALLOW = []
    return Client(headers={"authorization": f"Bearer {TOKEN}"})


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


# --- who may ask -----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/-/metrics"])
def test_ops_endpoints_refuse_without_the_token(settings, path):
    settings.FAILSAFE_OPS_TOKEN = TOKEN
    settings.FAILSAFE_OPS_ALLOW = []
    assert Client().get(path).status_code == 403
    assert Client(headers={"authorization": "Bearer " + "t" * 44}).get(path).status_code == 403
    assert Client(headers={"authorization": TOKEN}).get(path).status_code == 403  # no scheme
    assert Client(headers={"authorization": f"Bearer {TOKEN}"}).get(path).status_code == 200


@pytest.mark.django_db
def test_a_signed_in_admin_is_no_substitute_for_the_token(settings, make_user):
    settings.FAILSAFE_OPS_TOKEN = TOKEN
    settings.FAILSAFE_OPS_ALLOW = []
    client = Client()
    client.force_login(make_user(Role.ADMIN))
    assert client.get("/-/metrics").status_code == 403


@pytest.mark.django_db
def test_the_allow_list_admits_its_networks_only_and_ignores_a_forged_forwarded_for(settings):
    settings.FAILSAFE_OPS_TOKEN = ""
    settings.FAILSAFE_OPS_ALLOW = ["10.1.0.0/16"]
    settings.FAILSAFE_TRUSTED_PROXY_COUNT = 0
    assert Client(REMOTE_ADDR="10.1.2.3").get("/healthz").status_code == 200
    assert Client(REMOTE_ADDR="10.2.0.1").get("/healthz").status_code == 403
    assert Client(REMOTE_ADDR="127.0.0.1").get("/healthz").status_code == 403
    forged = Client(REMOTE_ADDR="203.0.113.9", headers={"x-forwarded-for": "10.1.2.3"})
    assert forged.get("/healthz").status_code == 403


@pytest.mark.django_db
def test_with_nothing_configured_production_refuses_even_loopback_and_debug_admits_only_loopback(settings):
    settings.FAILSAFE_OPS_TOKEN = ""
    settings.FAILSAFE_OPS_ALLOW = []
    settings.DEBUG = False
    assert Client(REMOTE_ADDR="127.0.0.1").get("/healthz").status_code == 403
    settings.DEBUG = True
    assert Client(REMOTE_ADDR="127.0.0.1").get("/healthz").status_code == 200
    assert Client(REMOTE_ADDR="192.0.2.7").get("/healthz").status_code == 403


@pytest.mark.django_db
def test_ops_endpoints_keep_the_security_headers_and_are_not_in_the_schema(ops, make_user, api_for):
    response = ops.get("/healthz")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in response
    assert "no-cache" in response["Cache-Control"]
    schema = api_for(make_user(Role.ADMIN)).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert not [p for p in schema["paths"] if "healthz" in p or "readyz" in p or "-/metrics" in p]


@pytest.mark.django_db
def test_ops_endpoints_only_answer_get(ops):
    assert ops.post("/readyz").status_code == 405


# --- readiness -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_readyz_is_200_with_each_check_when_everything_answers(ops):
    response = ops.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    assert {"database", "cache", "broker", "outbox", "notifications"} <= set(body["checks"])
    assert all(check["ok"] for check in body["checks"].values())


def _pending_dispatch(make_incident, make_user, actor_for, *, age: timedelta) -> OutboxEntry:
    incident = make_incident(severity="SEV3")
    correction = corrections.correction_request(
        actor=actor_for(make_user(Role.RESPONDER)), incident=incident, type="pause_deployment",
        deployment="atlas-api", params={}, rationale="x",
    )  # fmt: skip
    entry = OutboxEntry.objects.create(
        correction=correction, action="apply", generation=1, idempotency_key=f"k-{correction.pk}"
    )
    OutboxEntry.objects.filter(pk=entry.pk).update(created_at=timezone.now() - age)
    return entry


@pytest.mark.django_db
def test_readyz_is_503_naming_the_outbox_when_a_dispatch_waits_too_long(
    ops, settings, make_incident, make_user, actor_for, task_sends
):
    settings.FAILSAFE_READY_OUTBOX_MAX_AGE = 60
    entry = _pending_dispatch(make_incident, make_user, actor_for, age=timedelta(seconds=30))
    assert ops.get("/readyz").status_code == 200
    OutboxEntry.objects.filter(pk=entry.pk).update(created_at=timezone.now() - timedelta(seconds=120))
    response = ops.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["outbox"]["ok"] is False
    assert "oldest unsent dispatch" in checks["outbox"]["reason"]
    assert checks["database"]["ok"] and checks["broker"]["ok"]
    OutboxEntry.objects.filter(pk=entry.pk).update(done_at=timezone.now())
    assert ops.get("/readyz").status_code == 200


@pytest.mark.django_db
def test_readyz_is_503_with_a_reason_when_the_cache_fails(ops, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0"}}  # fmt: skip
    response = ops.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == {"ok": False, "reason": "ConnectionError"}


@pytest.mark.django_db
def test_readyz_reports_a_redis_broker_down_without_its_url(ops, settings):
    settings.CELERY_BROKER_URL = "redis://:hunter2-broker-password@127.0.0.1:1/0"
    response = ops.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
    assert b"hunter2" not in response.content


# --- metrics ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_parse_and_count_requests_by_route_name_never_by_reference(ops, make_incident, make_user):
    incident = make_incident()
    reader = Client()
    reader.force_login(make_user(Role.RESPONDER))
    before = samples(ops.get("/-/metrics").content.decode())
    key = ("failsafe_http_requests_total", (("method", "GET"), ("route", "incident-detail"), ("status", "200")))
    assert reader.get(f"/incidents/{incident.ref}/").status_code == 200
    assert reader.get(f"/incidents/{incident.ref}/").status_code == 200
    text = ops.get("/-/metrics").content.decode()
    assert samples(text)[key] - before.get(key, 0) == 2
    assert incident.ref not in text


@pytest.mark.django_db
def test_a_client_chosen_method_does_not_become_a_label(ops):
    ops.generic("BREW", "/healthz")
    assert "BREW" not in ops.get("/-/metrics").content.decode()


@pytest.mark.django_db
def test_nothing_about_a_restricted_incident_reaches_the_metrics(ops, make_incident, make_user, actor_for, task_sends):
    secret_title = "Weight exfiltration via bucket zz-unique-title"
    reporter = make_user(Role.RESPONDER)
    incident = make_incident(by=reporter, severity="SEV1", restricted=True, title=secret_title)
    corrections.correction_request(
        actor=actor_for(reporter), incident=incident, type="pause_deployment",
        deployment="atlas-api", params={}, rationale="zz-unique-rationale",
    )  # fmt: skip
    text = ops.get("/-/metrics").content.decode()
    for leak in (incident.ref, "zz-unique", "atlas-api", "pause_deployment"):
        assert leak not in text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    label_names = {name for f in families.values() for s in f.samples for name in s.labels}
    assert label_names <= {"route", "method", "status", "kind", "outcome", "tier", "le"}


@pytest.mark.django_db
def test_database_gauges_come_from_a_fixed_number_of_queries(
    ops, make_incident, make_user, actor_for, task_sends, django_assert_num_queries
):
    from accounts.ops import scrape

    scrape()  # warm: content types and the like
    with django_assert_num_queries(6):
        scrape()
    for _ in range(3):
        _pending_dispatch(make_incident, make_user, actor_for, age=timedelta(seconds=5))
    with django_assert_num_queries(6):
        scrape()


@pytest.mark.django_db
def test_backlog_pending_approvals_time_to_correction_and_ledger_head(
    ops, make_incident, make_user, actor_for, task_sends
):
    from accounts.models import LedgerHead

    _pending_dispatch(make_incident, make_user, actor_for, age=timedelta(seconds=90))
    incident = make_incident(severity="SEV1")
    pending = corrections.correction_request(
        actor=actor_for(make_user(Role.RESPONDER)), incident=incident, type="pause_deployment",
        deployment="atlas-api", params={}, rationale="x",
    )  # fmt: skip
    drill = make_incident(severity="SEV1")
    drill_correction = corrections.correction_request(
        actor=actor_for(make_user(Role.RESPONDER)), incident=drill, type="pause_deployment",
        deployment="atlas-api", params={}, rationale="x",
    )  # fmt: skip
    type(drill).objects.filter(pk=drill.pk).update(is_drill=True)  # drills stay out of metrics
    now = timezone.now()
    done = Correction.objects.exclude(pk__in=[pending.pk, drill_correction.pk]).get()
    Correction.objects.filter(pk=done.pk).update(
        state=State.ACTIVE, requested_at=now - timedelta(seconds=100), activated_at=now
    )
    Correction.objects.filter(pk=drill_correction.pk).update(requested_at=now - timedelta(seconds=5), activated_at=now)

    found = samples(ops.get("/-/metrics").content.decode())
    assert found[("failsafe_outbox_backlog", (("kind", "dispatch"),))] == 1
    assert 85 <= found[("failsafe_outbox_oldest_age_seconds", (("kind", "dispatch"),))] <= 120
    assert pending.state == State.PENDING_APPROVAL
    assert found[("failsafe_pending_approvals", (("tier", str(pending.tier)),))] == 1
    assert found[("failsafe_time_to_correction_seconds_count", ())] == 1
    assert found[("failsafe_time_to_correction_seconds_bucket", (("le", "60.0"),))] == 0
    assert found[("failsafe_time_to_correction_seconds_bucket", (("le", "120.0"),))] == 1
    assert 99 <= found[("failsafe_time_to_correction_seconds_sum", ())] <= 101
    assert found[("failsafe_ledger_head_sequence", ())] == LedgerHead.objects.get().seq > 0


@pytest.mark.django_db
def test_dispatch_attempts_counter_moves_by_outcome_and_leaves_drills_out(
    ops, make_incident, make_user, actor_for, task_sends
):
    from corrections.models import DispatchAttempt
    from incidents.models import Incident

    entry = _pending_dispatch(make_incident, make_user, actor_for, age=timedelta(seconds=1))
    key = ("failsafe_dispatch_attempts_total", (("outcome", "transient"),))
    assert samples(ops.get("/-/metrics").content.decode())[key] == 0

    def attempt(outcome: str) -> None:
        correction = entry.correction
        DispatchAttempt.objects.create(
            correction=correction, outbox_entry=entry, deployment=correction.deployment, action="apply", number=1,
            method="PUT", url="https://x.test/", outcome=outcome, started_at=timezone.now(),
        )  # fmt: skip

    attempt("transient")
    attempt("transient")
    attempt("ok")
    found = samples(ops.get("/-/metrics").content.decode())
    assert found[key] == 2
    assert found[("failsafe_dispatch_attempts_total", (("outcome", "ok"),))] == 1
    Incident.objects.filter(pk=entry.correction.incident_id).update(is_drill=True)
    assert samples(ops.get("/-/metrics").content.decode())[key] == 0
