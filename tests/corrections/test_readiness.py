"""Readiness (issue 12 §2): every deployment × correction type is automatable, manual or missing; a beat
task checks every actuator's GET /health on a schedule (one check per interval, however many beats),
keeps a short history and ledgers only changes; the page, the API and the dashboard show it; requests
and approvals warn, never refuse. The actuator is a real sandbox gateway over real HTTP."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import ledger
from accounts.models import LedgerEvent
from config.errors import DomainError
from corrections import dispatch, readiness, services
from corrections.catalogue import TYPES
from corrections.models import Actuator, ActuatorCheck, Correction, CorrectionTarget, OutboxEntry, State
from corrections.sandbox.vocabulary import NEVER_DISPATCHED
from corrections.services.configuration import CHECK_HISTORY
from incidents.models import Deployment, Incident
from tests.corrections import gateway_fixture

sandbox_gateway = gateway_fixture.sandbox_gateway

AUTOMATED = [key for key, t in TYPES.items() if t.dispatchable]
READY, FAILING, CHECKED = "actuator.ready", "actuator.failing", "actuator.readiness_checked"


@pytest.fixture
def eu(registry):
    """atlas-eu: a deployment of atlas that no actuator reaches (as in the demo)."""
    return Deployment.objects.create(slug="atlas-eu", name="Atlas EU", model=registry["model"])


@pytest.fixture
def gateway(sandbox_gateway, registry, people, actor_for, eu):
    """atlas-api and atlas-chat wired to a real sandbox gateway process; atlas-eu to nothing."""
    for slug in ("atlas-api", "atlas-chat"):
        services.actuator_configure(
            actor=actor_for(people["admin"]), deployment=registry[slug], base_url=sandbox_gateway.base_url,
            secret=sandbox_gateway.secret,
        )  # fmt: skip
    return sandbox_gateway


def api_rows(user, **query) -> dict[str, dict]:
    client = APIClient()
    client.force_authenticate(user)
    response = client.get("/api/v1/readiness/", query)
    assert response.status_code == 200, response.content
    return {row["deployment"]: row for row in response.json()["results"]}


def modes(row: dict) -> dict[str, str]:
    return {cell["type"]: cell["mode"] for cell in row["types"]}


# --- the matrix -------------------------------------------------------------------------------------


def test_atlas_eu_without_an_actuator_is_missing_for_every_automated_type(gateway, people):
    dispatch.actuators_check_due()
    rows = api_rows(people["auditor"])
    assert set(rows) == {"atlas-api", "atlas-chat", "atlas-eu"}
    eu = rows["atlas-eu"]
    assert eu["actuator_configured"] is False and eu["health"]["state"] == "no actuator"
    assert {t for t, mode in modes(eu).items() if mode == "missing"} == set(AUTOMATED)
    assert modes(eu)["destroy_weights"] == "manual"  # never automatic, by nature
    reasons = {cell["type"]: cell["reason"] for cell in eu["types"]}
    assert reasons["pause_deployment"] == "no actuator is configured"
    # The gateway's /health said what it supports: every automated type is automatable where it is wired.
    api = rows["atlas-api"]
    assert api["health"]["state"] == "ok" and api["health"]["age_seconds"] is not None
    assert sorted(api["supported_types"]) == sorted(AUTOMATED)
    assert {t for t, mode in modes(api).items() if mode == "automatable"} == set(AUTOMATED)


def test_the_page_shows_every_deployment_by_type_and_filters_by_model_and_deployment(gateway, people, client_for):
    dispatch.actuators_check_due()
    client = client_for(people["auditor"])  # every role that can see corrections
    response = client.get(reverse("readiness"))
    assert response.status_code == 200
    rows = {row.deployment.slug: row for row in response.context["rows"]}
    assert {c.mode for c in rows["atlas-eu"].cells if c.type in AUTOMATED} == {"missing"}
    page = response.content.decode()
    assert "readiness-missing" in page and "health-no-actuator" in page and "health-ok" in page
    only = client.get(reverse("readiness"), {"deployment": "atlas-eu"})
    assert [row.deployment.slug for row in only.context["rows"]] == ["atlas-eu"]
    other_model = client.get(reverse("readiness"), {"model": "orion"})
    assert other_model.context["rows"] == [] and "No active deployment for this filter" in other_model.content.decode()


def test_the_sandbox_health_lists_the_types_it_supports(sandbox_gateway):
    body = sandbox_gateway.request("GET", "/health").json()
    assert set(body["supported_types"]) == set(TYPES) - NEVER_DISPATCHED


def test_a_type_the_actuator_does_not_list_is_missing_and_becomes_a_manual_step(gateway, registry, people):
    dispatch.actuators_check_due()
    Actuator.objects.filter(deployment=registry["atlas-chat"]).update(supported_types=["block_accounts"])
    chat = modes(api_rows(people["responder"])["atlas-chat"])
    assert chat["block_accounts"] == "automatable" and chat["pause_deployment"] == "missing"
    actuator = Actuator.objects.get(deployment=registry["atlas-chat"])
    assert readiness.dispatches(actuator, "block_accounts") and not readiness.dispatches(actuator, "pause_deployment")


def test_an_admin_may_choose_to_do_a_type_by_hand_on_a_deployment(gateway, registry, people, actor_for):
    services.actuator_configure(
        actor=actor_for(people["admin"]), deployment=registry["atlas-api"], base_url=gateway.base_url,
        manual_types=["rollback_model"],
    )  # fmt: skip
    dispatch.actuators_check_due()
    api = api_rows(people["responder"])["atlas-api"]
    assert modes(api)["rollback_model"] == "manual" and modes(api)["pause_deployment"] == "automatable"
    event = LedgerEvent.objects.filter(verb="actuator.configured").latest("seq")
    assert event.after["manual_types"] == ["rollback_model"]


@pytest.mark.parametrize("bad", [["destroy_weights"], ["nuke_it"], "rollback_model"])
def test_manual_types_must_be_types_that_could_be_automated(gateway, registry, people, actor_for, bad):
    with pytest.raises(DomainError) as err:
        services.actuator_configure(
            actor=actor_for(people["admin"]), deployment=registry["atlas-api"], base_url=gateway.base_url,
            manual_types=bad,
        )  # fmt: skip
    assert "manual_types" in err.value.fields


# --- the checks: history, ledger on change, one per interval ----------------------------------------


def test_checks_are_kept_as_history_and_only_changes_reach_the_ledger(gateway, registry):
    actuator = Actuator.objects.get(deployment=registry["atlas-api"])
    for _ in range(3):
        dispatch.actuator_check_readiness(actor=dispatch.READINESS, actuator=actuator)
    assert ActuatorCheck.objects.filter(actuator=actuator).count() == 3
    assert LedgerEvent.objects.filter(verb=READY, object_id=str(actuator.pk)).count() == 1
    assert not LedgerEvent.objects.filter(verb=CHECKED).exists()

    gateway.stop()
    for _ in range(2):
        checked = dispatch.actuator_check_readiness(actor=dispatch.READINESS, actuator=actuator)
    assert not checked.ready and "connection failed" in checked.check_detail
    assert LedgerEvent.objects.filter(verb=FAILING, object_id=str(actuator.pk)).count() == 1
    assert [c.ok for c in ActuatorCheck.objects.filter(actuator=actuator)] == [False, False, True, True, True]
    assert ledger.verify().ok


def test_only_the_newest_checks_are_kept(gateway, registry):
    actuator = Actuator.objects.get(deployment=registry["atlas-api"])
    for _ in range(CHECK_HISTORY + 3):
        dispatch.actuator_check_readiness(actor=dispatch.READINESS, actuator=actuator)
    assert ActuatorCheck.objects.filter(actuator=actuator).count() == CHECK_HISTORY


def test_a_persons_own_check_is_audited_even_when_nothing_changed(gateway, registry, people, actor_for):
    actuator = Actuator.objects.get(deployment=registry["atlas-api"])
    dispatch.actuator_check_readiness(actor=dispatch.READINESS, actuator=actuator)
    dispatch.actuator_check_readiness(actor=actor_for(people["admin"]), actuator=actuator)
    assert LedgerEvent.objects.filter(verb=CHECKED, actor_id=people["admin"].pk).count() == 1


@override_settings(FAILSAFE_READINESS_INTERVAL_SECONDS=60)
def test_the_beat_checks_each_actuator_once_per_interval(gateway):
    now = timezone.now()
    assert dispatch.actuators_check_due(now=now) == 2
    assert dispatch.actuators_check_due(now=now + timedelta(seconds=30)) == 0  # not due yet
    assert dispatch.actuators_check_due(now=now + timedelta(seconds=60)) == 2
    assert ActuatorCheck.objects.count() == 4


def test_the_beat_task_is_routed_to_the_sweeps_queue(settings):
    assert settings.CELERY_TASK_ROUTES["corrections.check_readiness"] == {"queue": "sweeps"}
    beat = {entry["task"]: entry for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert beat["corrections.check_readiness"]["schedule"] <= settings.FAILSAFE_READINESS_INTERVAL_SECONDS


def test_reconfiguring_an_actuator_makes_its_check_due_again(gateway, registry, people, actor_for):
    dispatch.actuators_check_due()
    services.actuator_configure(
        actor=actor_for(people["admin"]), deployment=registry["atlas-api"], base_url=gateway.base_url
    )
    assert dispatch.actuators_check_due() == 1  # only the one reconfigured, not atlas-chat


# --- health: failing in red, stale in amber, on the dashboard ---------------------------------------


@override_settings(FAILSAFE_READINESS_INTERVAL_SECONDS=60, FAILSAFE_READINESS_STALE_AFTER=3)
def test_an_old_passing_check_is_stale(gateway, registry, people, client_for):
    dispatch.actuators_check_due()
    Actuator.objects.filter(deployment=registry["atlas-chat"]).update(
        checked_at=timezone.now() - timedelta(seconds=181)
    )
    rows = api_rows(people["responder"])
    assert rows["atlas-chat"]["health"]["state"] == "stale" and rows["atlas-api"]["health"]["state"] == "ok"
    dashboard = client_for(people["responder"]).get(reverse("dashboard")).content.decode()
    assert "readiness-warning" in dashboard and "atlas-chat</span>: health check stale" in dashboard
    assert "atlas-api</span>: health check" not in dashboard


def test_the_dashboard_says_nothing_when_every_actuator_is_healthy(gateway, people, client_for):
    dispatch.actuators_check_due()
    assert "readiness-warning" not in client_for(people["responder"]).get(reverse("dashboard")).content.decode()


@pytest.mark.postgres
@override_settings(FAILSAFE_READINESS_INTERVAL_SECONDS=60)
def test_stopping_the_gateway_turns_its_deployments_red_within_one_interval(gateway, people, client_for):
    start = timezone.now()
    assert dispatch.actuators_check_due(now=start) == 2
    assert {row["health"]["state"] for slug, row in api_rows(people["leader1"]).items() if slug != "atlas-eu"} == {"ok"}

    gateway.stop()
    assert dispatch.actuators_check_due(now=start + timedelta(seconds=60)) == 2  # the next check, one interval on
    rows = api_rows(people["leader1"])
    for slug in ("atlas-api", "atlas-chat"):
        assert rows[slug]["health"]["state"] == "failing"
        assert "connection failed" in rows[slug]["health"]["detail"]
    page = client_for(people["leader1"]).get(reverse("readiness")).content.decode()
    assert page.count("health-failing") == 2 and page.count("readiness-failing") == 2 * len(AUTOMATED)
    dashboard = client_for(people["leader1"]).get(reverse("dashboard")).content.decode()
    assert "atlas-api</span>: health check failing" in dashboard
    assert "atlas-chat</span>: health check failing" in dashboard
    assert LedgerEvent.objects.filter(verb=FAILING).count() == 2


@pytest.mark.postgres
def test_concurrent_beats_check_each_actuator_once_and_ledger_each_change_once(
    transactional_db, sandbox_gateway, registry, make_user, actor_for
):
    admin = make_user("admin")
    for slug in ("atlas-api", "atlas-chat"):
        services.actuator_configure(actor=actor_for(admin), deployment=registry[slug],
                                    base_url=sandbox_gateway.base_url, secret=sandbox_gateway.secret)  # fmt: skip
    beats = 6
    barrier = threading.Barrier(beats)
    checked: list[int] = []
    errors: list[BaseException] = []
    now = timezone.now()

    def beat():
        try:
            barrier.wait()
            checked.append(dispatch.actuators_check_due(now=now))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(beats)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sum(checked) == 2
    assert ActuatorCheck.objects.count() == 2
    assert LedgerEvent.objects.filter(verb=READY).count() == 2
    assert all(a.ready for a in Actuator.objects.all())
    assert ledger.verify().ok


# --- requests and approvals warn, never refuse ------------------------------------------------------


@pytest.fixture
def incident(make_incident, people, eu):
    incident = make_incident(by=people["responder"], severity="SEV1", deployments=[eu])
    Incident.objects.filter(pk=incident.pk).update(commander=people["commander"])
    return Incident.objects.get(pk=incident.pk)


def new_url(incident, type):
    return reverse("correction-new", args=[incident.ref]) + f"?type={type}"


def test_the_request_form_warns_about_atlas_eu_and_still_takes_the_request(gateway, incident, people, client_for):
    dispatch.actuators_check_due()
    client = client_for(people["responder"])
    blank = client.get(new_url(incident, "pause_deployment")).content.decode()
    assert "atlas-eu</span>: no actuator is configured: this step will be manual" in blank
    assert "atlas-api</span>:" not in blank  # healthy and supported: nothing to say

    body = {"type": "pause_deployment", "deployment": "atlas-eu", "rationale": "Synthesis route."}
    confirm = client.post(new_url(incident, "pause_deployment"), body)
    assert confirm.status_code == 200
    assert "atlas-eu</span>: no actuator is configured: this step will be manual" in confirm.content.decode()
    done = client.post(new_url(incident, "pause_deployment"), {**body, "confirmed": "yes"})
    assert done.status_code == 302  # warned, not refused
    correction = Correction.objects.get()
    assert correction.state == State.PENDING_APPROVAL and correction.deployment.slug == "atlas-eu"


def test_the_approval_page_and_the_api_warn_about_a_failing_deployment(
    gateway, incident, people, client_for, actor_for
):
    dispatch.actuators_check_due()
    correction = services.correction_request(
        actor=actor_for(people["commander"]), incident=incident, type="withdraw_model", deployment=None,
        params={"model": "atlas"}, rationale="Every surface leaks it.",
    )  # fmt: skip
    gateway.stop()
    dispatch.actuators_check_due(now=timezone.now() + readiness.interval())
    page = client_for(people["leader1"]).get(reverse("correction-detail", args=[correction.pk])).content.decode()
    assert "atlas-eu</span>: no actuator is configured: this step will be manual" in page
    assert "atlas-api</span>: its last readiness check failed (connection failed" in page
    client = APIClient()
    client.force_authenticate(people["leader1"])
    warnings = {
        w["deployment"]: w for w in client.get(f"/api/v1/corrections/{correction.pk}/").json()["cannot_automate"]
    }
    assert set(warnings) == {"atlas-api", "atlas-chat", "atlas-eu"}
    assert (warnings["atlas-eu"]["mode"], warnings["atlas-eu"]["health"]) == ("missing", "no actuator")
    assert (warnings["atlas-api"]["mode"], warnings["atlas-api"]["health"]) == ("automatable", "failing")


def test_a_type_the_actuator_does_not_support_is_never_sent_to_it(
    gateway, incident, people, actor_for, registry, django_capture_on_commit_callbacks, mailoutbox, task_sends
):
    dispatch.actuators_check_due()
    Actuator.objects.filter(deployment=registry["atlas-chat"]).update(supported_types=["block_accounts"])
    correction = services.correction_request(
        actor=actor_for(people["commander"]), incident=incident, type="disable_capability", deployment="atlas-chat",
        params={"capability": "browsing"}, rationale="Browsing leaks it.",
    )  # fmt: skip
    warned = {w.deployment: w.problem for w in readiness.automation_for_correction(correction)}
    assert "does not support disable a capability" in warned["atlas-chat"]
    with django_capture_on_commit_callbacks(execute=True):
        services.correction_approve(
            actor=actor_for(people["leader1"]), correction=correction, content_hash=correction.content_hash
        )
    entry = OutboxEntry.objects.get(correction=correction, action="apply")
    dispatch.dispatch_entry(entry_id=entry.pk)
    # One target, unreachable for this type: a manual step naming why (issue 12: an emergency may
    # still need it done by hand), not a failure; nothing counts as in force until a person confirms.
    target = CorrectionTarget.objects.get(correction=correction)
    assert (target.state, target.manual) == ("manual_pending", True)
    assert target.manual_reason == "The actuator of atlas-chat does not support disable_capability."
    correction = Correction.objects.get(pk=correction.pk)
    assert correction.state == State.PARTLY_ACTIVE and correction.activated_at is None
    assert Incident.objects.get(pk=incident.pk).contained_at is None
    assert gateway.status(correction.pk).status_code == 404  # nothing was sent to the actuator


def test_a_type_done_by_hand_by_choice_becomes_a_manual_step_with_its_reason(
    gateway, incident, people, actor_for, registry, totp_for, django_capture_on_commit_callbacks, mailoutbox,
    task_sends,
):  # fmt: skip
    services.actuator_configure(
        actor=actor_for(people["admin"]), deployment=registry["atlas-chat"], base_url=gateway.base_url,
        manual_types=["withdraw_model"],
    )  # fmt: skip
    dispatch.actuators_check_due()
    correction = services.correction_request(
        actor=actor_for(people["commander"]), incident=incident, type="withdraw_model", deployment=None,
        params={"model": "atlas"}, rationale="Every surface leaks it.",
    )  # fmt: skip
    found = readiness.automation_for_correction(correction)
    warned = {w.deployment: (w.mode, w.problem) for w in found if not w.automatable}
    assert set(warned) == {"atlas-chat", "atlas-eu"}
    assert warned["atlas-chat"][0] == "manual" and "this step will be manual" in warned["atlas-chat"][1]
    with django_capture_on_commit_callbacks(execute=True):
        for who in ("leader1", "leader2"):
            code = totp_for(people[who])
            correction = services.correction_approve(
                actor=actor_for(people[who]), correction=correction, content_hash=correction.content_hash,
                otp=code(), confirm_target="atlas",
            )  # fmt: skip
    entry = OutboxEntry.objects.get(correction=correction, action="apply")
    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch.dispatch_entry(entry_id=entry.pk).result == "done"
    targets = {t.deployment.slug: t for t in CorrectionTarget.objects.filter(correction=correction)}
    assert {slug: t.state for slug, t in targets.items()} == {
        "atlas-api": "active", "atlas-chat": "manual_pending", "atlas-eu": "manual_pending"
    }  # fmt: skip
    assert targets["atlas-chat"].manual_reason == "atlas-chat carries out withdraw_model by hand (an admin's choice)."
    assert targets["atlas-eu"].manual_reason == "No actuator is configured for atlas-eu."
    log = [e for e in gateway.idempotency_log() if e["correction_id"] == str(correction.pk)]
    assert [e["idempotency_key"].rsplit("@", 1)[1] for e in log] == ["atlas-api"]


def test_a_bad_filter_is_a_400_naming_the_field(registry, people, client_for):
    client = APIClient()
    client.force_authenticate(people["responder"])
    response = client.get("/api/v1/readiness/", {"deployment": "x" * 65})
    assert response.status_code == 400 and "deployment" in response.json()["errors"]
    page = client_for(people["responder"]).get(reverse("readiness"), {"deployment": "x" * 65})
    assert page.status_code == 400 and page.context["form"].errors["deployment"]


def test_readiness_needs_a_role(registry, make_user, client_for):
    nobody = make_user(None)
    assert client_for(nobody).get(reverse("readiness")).status_code == 403
    client = APIClient()
    client.force_authenticate(nobody)
    assert client.get("/api/v1/readiness/").status_code == 403
