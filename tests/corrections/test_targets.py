"""Per-target progress (issue 10, point 2): a model-wide correction tracks each deployment on its own;
a deployment with no actuator becomes a manual step the incident commander confirms; the correction
reads "partly in force" until every target is; failures reach requester, approvers and commander;
what cannot be automated is said before anyone approves."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import LedgerEvent
from accounts.roles import Role
from config.errors import DomainError
from corrections import dispatch, services
from corrections.models import (
    Correction,
    CorrectionTarget,
    DispatchAttempt,
    LiftRequest,
    OutboxEntry,
    State,
    TargetState,
)
from corrections.targets import after_apply, after_lift, rollup
from incidents.models import Deployment, Incident
from incidents.notifications import members_of
from tests.corrections import gateway_fixture

sandbox_gateway = gateway_fixture.sandbox_gateway

T = TargetState


# --- the roll-up, as pure functions ----------------------------------------------------------------


def test_rollup_counts_active_and_manually_confirmed_targets_as_in_force():
    summary = rollup([T.ACTIVE, T.MANUAL_DONE, T.MANUAL_PENDING])
    assert (summary.total, summary.in_force, summary.manual_pending) == (3, 2, 1)
    assert summary.label() == "partly in force (2 of 3)"
    assert rollup([T.ACTIVE, T.MANUAL_DONE]).label() == "in force (2 of 2)"
    assert rollup([T.ACTIVE]).label() == "in force"
    assert rollup([T.PENDING, T.PENDING]).label() == ""


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([T.ACTIVE, T.ACTIVE], State.ACTIVE),
        ([T.ACTIVE, T.MANUAL_DONE], State.ACTIVE),
        ([T.ACTIVE, T.MANUAL_PENDING], State.PARTLY_ACTIVE),
        ([T.ACTIVE, T.FAILED, T.MANUAL_PENDING], State.FAILED),
        ([T.MANUAL_PENDING], State.PARTLY_ACTIVE),
    ],
)
def test_a_correction_after_its_apply_follows_its_targets(states, expected):
    assert after_apply(states) == expected


def test_a_correction_is_lifted_only_when_every_target_is_including_manual_lift_steps():
    assert after_lift([T.LIFTED, T.LIFTED]) == State.LIFTED
    assert after_lift([T.LIFTED, T.LIFTING]) == State.LIFTING
    assert after_lift([T.LIFTED, T.FAILED]) == State.FAILED


# --- a withdraw_model over atlas-api, atlas-chat (sandbox gateway) and atlas-eu (no actuator) -------


@pytest.fixture
def eu(registry):
    return Deployment.objects.create(slug="atlas-eu", name="Atlas EU", model=registry["model"])


@pytest.fixture
def incident(make_incident, people, eu):
    incident = make_incident(by=people["responder"], severity="SEV1")
    Incident.objects.filter(pk=incident.pk).update(commander=people["commander"])
    incident.refresh_from_db()
    return incident


@pytest.fixture
def gateway(sandbox_gateway, registry, people, actor_for):
    for slug in ("atlas-api", "atlas-chat"):
        services.actuator_configure(
            actor=actor_for(people["admin"]), deployment=registry[slug], base_url=sandbox_gateway.base_url,
            secret=sandbox_gateway.secret,
        )  # fmt: skip
    return sandbox_gateway


def withdraw(actor_for, incident, people) -> Correction:
    return services.correction_request(
        actor=actor_for(people["commander"]), incident=incident, type="withdraw_model", deployment=None,
        params={"model": "atlas"}, rationale="Every surface leaks it.",
    )  # fmt: skip


@pytest.fixture
def approve_as_leaders(actor_for, people, totp_for):
    def approve(correction: Correction) -> Correction:
        for who in ("leader1", "leader2"):
            code = totp_for(people[who])
            correction = services.correction_approve(
                actor=actor_for(people[who]), correction=correction, content_hash=correction.content_hash,
                otp=code(), confirm_target="atlas",
            )  # fmt: skip
        return correction

    return approve


@pytest.fixture
def applied(
    gateway, incident, people, actor_for, approve_as_leaders, django_capture_on_commit_callbacks, mailoutbox,
    task_sends, deliver_notifications,
):  # fmt: skip
    correction = withdraw(actor_for, incident, people)
    approve_as_leaders(correction)
    entry = OutboxEntry.objects.get(correction=correction, action="apply")
    with django_capture_on_commit_callbacks(execute=True):
        outcome = dispatch.dispatch_entry(entry_id=entry.pk)
    deliver_notifications()  # what the worker does with the notifications the dispatch wrote
    assert outcome.result == "done"
    correction.refresh_from_db()
    return correction


def target_states(correction: Correction) -> dict[str, str]:
    return dict(CorrectionTarget.objects.filter(correction=correction).values_list("deployment__slug", "state"))


def test_a_model_wide_request_gets_one_target_per_deployment_of_the_model_then(incident, people, actor_for, registry):
    correction = withdraw(actor_for, incident, people)
    assert target_states(correction) == {"atlas-api": "pending", "atlas-chat": "pending", "atlas-eu": "pending"}
    Deployment.objects.create(slug="atlas-late", name="Late", model=registry["model"])
    assert len(target_states(correction)) == 3  # fixed when requested


def test_a_single_deployment_correction_has_one_target(incident, people, actor_for, accounts):
    correction = services.correction_request(
        actor=actor_for(people["responder"]), incident=incident, type="block_accounts", deployment="atlas-api",
        params={"accounts": ["acct-mallory"]}, rationale="x",
    )  # fmt: skip
    assert target_states(correction) == {"atlas-api": "pending"}


def test_withdraw_applies_where_it_can_and_leaves_a_manual_step_for_the_deployment_without_actuator(
    applied, gateway, mailoutbox, people
):
    assert applied.state == State.PARTLY_ACTIVE
    assert target_states(applied) == {"atlas-api": "active", "atlas-chat": "active", "atlas-eu": "manual_pending"}
    assert gateway.generate("alice").status_code == 503
    # Each target its own attempt, with its own key per (correction, action, generation, deployment).
    keys = set(
        DispatchAttempt.objects.filter(correction=applied, action="apply").values_list("target__deployment__slug",
                                                                                        "outbox_entry__idempotency_key")
    )  # fmt: skip
    assert {slug for slug, _ in keys} == {"atlas-api", "atlas-chat"}
    logged = {e["idempotency_key"] for e in gateway.idempotency_log() if e["action"] == "apply"}
    assert logged == {f"corr-{applied.pk}-apply-1@atlas-api", f"corr-{applied.pk}-apply-1@atlas-chat"}
    assert LedgerEvent.objects.filter(verb="correction.partly_applied", object_id=str(applied.pk)).exists()
    manual = [m for m in mailoutbox if "Manual step needed" in m.subject]
    assert [m.to for m in manual] == [[people["commander"].email]]
    assert "confirm that atlas-eu was taken down" in manual[0].body


def test_the_api_reads_partly_in_force_until_the_commander_confirms_the_manual_step(applied, people):
    client = APIClient()
    client.force_authenticate(people["responder"])
    body = client.get(f"/api/v1/corrections/{applied.pk}/").json()
    assert (body["state"], body["progress"]) == ("partly_active", "partly in force (2 of 3)")
    assert {t["deployment"]: t["state"] for t in body["targets"]}["atlas-eu"] == "manual_pending"


def test_the_incident_commander_confirms_the_manual_step_with_the_typed_name_and_a_note(applied, people, actor_for):
    target = services.correction_target_confirm(
        actor=actor_for(people["commander"]), correction=applied, deployment="atlas-eu", confirm_target="atlas-eu",
        note="SRE on call removed the EU route; checked with curl.",
    )  # fmt: skip
    assert (target.state, target.confirmed_by) == (T.MANUAL_DONE, people["commander"])
    applied.refresh_from_db()
    assert applied.state == State.ACTIVE
    event = LedgerEvent.objects.get(verb="correction.target_confirmed", object_id=str(applied.pk))
    assert event.after["deployment"] == "atlas-eu" and event.reason.startswith("SRE on call")


@pytest.mark.parametrize("who", ["responder", "commander2", "leader1"])
def test_only_the_incident_commander_may_confirm_a_manual_step(applied, people, actor_for, who):
    with pytest.raises(DomainError) as refused:
        services.correction_target_confirm(
            actor=actor_for(people[who]), correction=applied, deployment="atlas-eu", confirm_target="atlas-eu",
            note="done",
        )  # fmt: skip
    assert refused.value.code in ("forbidden", "not_found")
    assert target_states(applied)["atlas-eu"] == "manual_pending"


@pytest.mark.parametrize(
    ("deployment", "typed", "note", "field"),
    [("atlas-eu", "atlas-api", "done", "confirm_target"), ("atlas-eu", "atlas-eu", "  ", "note"),
     ("atlas-api", "atlas-api", "done", None), ("atlas-moon", "atlas-moon", "done", "deployment")],
)  # fmt: skip
def test_a_manual_confirmation_needs_the_right_typed_name_a_note_and_a_waiting_manual_step(
    applied, people, actor_for, deployment, typed, note, field
):
    with pytest.raises(DomainError) as refused:
        services.correction_target_confirm(
            actor=actor_for(people["commander"]), correction=applied, deployment=deployment, confirm_target=typed,
            note=note,
        )  # fmt: skip
    if field:
        assert field in refused.value.fields
    else:
        assert refused.value.code == "conflict"  # atlas-api was applied by its actuator: nothing to confirm
    assert not LedgerEvent.objects.filter(verb="correction.target_confirmed").exists()


def test_confirming_twice_is_refused_the_second_time(applied, people, actor_for):
    kwargs = {"correction": applied, "deployment": "atlas-eu", "confirm_target": "atlas-eu", "note": "done"}
    services.correction_target_confirm(actor=actor_for(people["commander"]), **kwargs)
    with pytest.raises(DomainError) as refused:
        services.correction_target_confirm(actor=actor_for(people["commander"]), **kwargs)
    assert refused.value.code == "conflict"
    assert LedgerEvent.objects.filter(verb="correction.target_confirmed").count() == 1


def test_the_page_form_confirms_a_manual_step(applied, people, client):
    client.force_login(people["commander"])
    page = client.get(reverse("correction-detail", args=[applied.pk])).content.decode()
    assert "Confirm that atlas-eu was taken down" in page and "partly in force (2 of 3)" in page
    response = client.post(
        reverse("correction-target-confirm", args=[applied.pk]),
        {"deployment": "atlas-eu", "confirm_target": "atlas-eu", "note": "Route removed by hand."},
    )
    assert response.status_code == 302
    assert target_states(applied)["atlas-eu"] == "manual_done"


def test_the_api_action_confirms_a_manual_step_and_refuses_a_wrong_name_with_400(applied, people):
    client = APIClient()
    client.force_authenticate(people["commander"])
    url = f"/api/v1/corrections/{applied.pk}/targets/confirm/"
    wrong = client.post(url, {"deployment": "atlas-eu", "confirm_target": "atlas", "note": "x"}, format="json")
    assert wrong.status_code == 400 and "confirm_target" in wrong.json()["errors"]
    ok = client.post(url, {"deployment": "atlas-eu", "confirm_target": "atlas-eu", "note": "x"}, format="json")
    assert ok.status_code == 200 and ok.json()["state"] == "active"


def test_lifting_lifts_the_automated_targets_and_turns_the_manual_one_into_a_manual_lift_step(
    applied, people, actor_for, gateway, django_capture_on_commit_callbacks
):
    services.correction_target_confirm(
        actor=actor_for(people["commander"]), correction=applied, deployment="atlas-eu", confirm_target="atlas-eu",
        note="done",
    )  # fmt: skip
    services.correction_lift(actor=actor_for(people["commander"]), correction=applied, reason="contained")
    lift = LiftRequest.objects.get(correction=applied, state="pending")  # a tier-4 early lift needs a leader
    services.correction_lift_approve(
        actor=actor_for(people["leader1"]), correction=applied, content_hash=lift.content_hash
    )
    entry = OutboxEntry.objects.get(correction=applied, action="lift")
    with django_capture_on_commit_callbacks(execute=True):
        dispatch.dispatch_entry(entry_id=entry.pk)
    applied.refresh_from_db()
    assert applied.state == State.LIFTING
    assert target_states(applied) == {"atlas-api": "lifted", "atlas-chat": "lifted", "atlas-eu": "lifting"}
    assert gateway.generate("alice").status_code == 200
    services.correction_target_confirm(
        actor=actor_for(people["commander"]), correction=applied, deployment="atlas-eu", confirm_target="atlas-eu",
        note="EU route restored.",
    )  # fmt: skip
    applied.refresh_from_db()
    assert applied.state == State.LIFTED


def test_a_partial_failure_tells_the_requester_the_approvers_and_the_commander(
    gateway, incident, people, actor_for, approve_as_leaders, django_capture_on_commit_callbacks, mailoutbox,
    task_sends, deliver_notifications,
):  # fmt: skip
    for who in ("commander", "leader1", "leader2"):
        people[who].email = f"{who}@example.test"
        people[who].save(update_fields=["email"])
    correction = withdraw(actor_for, incident, people)
    approve_as_leaders(correction)
    gateway.inject_fault(400, times=1, methods=["PUT"])  # the first target's apply is refused for good
    entry = OutboxEntry.objects.get(correction=correction, action="apply")
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch.dispatch_entry(entry_id=entry.pk).result == "failed"
    deliver_notifications()
    correction.refresh_from_db()
    assert correction.state == State.FAILED
    assert target_states(correction) == {"atlas-api": "failed", "atlas-chat": "active", "atlas-eu": "manual_pending"}
    told = sorted(addr for m in mailoutbox if "PARTLY FAILED" in m.subject for addr in m.to)
    # A failure also pages the commanders' on-call: with no rotation, every incident commander (once each).
    paged = [u.email for u in members_of(Role.INCIDENT_COMMANDER)]
    assert told == sorted({"commander@example.test", "leader1@example.test", "leader2@example.test", *paged})
    assert "partly in force (1 of 3)" in next(m.body for m in mailoutbox if "PARTLY FAILED" in m.subject)


# --- before approval: what cannot be automated -------------------------------------------------


def test_the_api_says_which_targets_cannot_be_automated_before_anyone_approves(gateway, incident, people, actor_for):
    correction = withdraw(actor_for, incident, people)
    client = APIClient()
    client.force_authenticate(people["leader1"])
    body = client.get(f"/api/v1/corrections/{correction.pk}/").json()
    assert body["state"] == "pending_approval"
    problems = {a["deployment"]: a["problem"] for a in body["cannot_automate"]}
    assert "no actuator" in problems["atlas-eu"]
    assert "readiness" in problems["atlas-api"]  # configured but never checked


def test_a_failed_readiness_check_is_named_as_the_reason(gateway, incident, people, actor_for, registry):
    from django.utils import timezone

    from corrections.models import Actuator

    # Checked just now: an old check would be stale, a warning of its own (tests/corrections/test_readiness.py).
    Actuator.objects.filter(deployment=registry["atlas-chat"]).update(
        checked_at=timezone.now(), ready=False, check_detail="HTTP 500"
    )
    Actuator.objects.filter(deployment=registry["atlas-api"]).update(checked_at=timezone.now(), ready=True)
    correction = withdraw(actor_for, incident, people)
    client = APIClient()
    client.force_authenticate(people["leader1"])
    problems = {a["deployment"]: a["problem"] for a in client.get(f"/api/v1/corrections/{correction.pk}/").json()[
        "cannot_automate"]}  # fmt: skip
    assert set(problems) == {"atlas-chat", "atlas-eu"}
    assert "last readiness check failed (HTTP 500)" in problems["atlas-chat"]


def test_the_approval_page_and_the_request_confirmation_warn_before_approval(
    gateway, incident, people, actor_for, client
):
    correction = withdraw(actor_for, incident, people)
    client.force_login(people["leader1"])
    page = client.get(reverse("correction-detail", args=[correction.pk])).content.decode()
    assert "Cannot be automated" in page and "atlas-eu" in page and "no actuator is configured" in page
    client.force_login(people["commander"])
    body = {"type": "withdraw_model", "param_model": "atlas", "rationale": "Every surface leaks it."}
    confirm = client.post(reverse("correction-new", args=[incident.ref]) + "?type=withdraw_model", body)
    text = confirm.content.decode()
    assert confirm.status_code == 200 and "Cannot be automated" in text and "atlas-eu" in text


# --- a correction whose ONLY target cannot be automated (issue 12: a manual step, not a failure) ------


@pytest.fixture
def eu_only(
    gateway, incident, people, actor_for, django_capture_on_commit_callbacks, task_sends, deliver_notifications
):
    correction = services.correction_request(
        actor=actor_for(people["responder"]), incident=incident, type="disable_capability", deployment="atlas-eu",
        params={"capability": "tool_use"}, rationale="The EU surface leaks it too.",
    )  # fmt: skip
    services.correction_approve(
        actor=actor_for(people["commander"]), correction=correction, content_hash=correction.content_hash
    )
    entry = OutboxEntry.objects.get(correction=correction, action="apply")
    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch.dispatch_entry(entry_id=entry.pk).result == "done"
    deliver_notifications()
    correction.refresh_from_db()
    return correction


def test_a_lone_target_without_actuator_becomes_a_manual_step_not_a_failure(eu_only, incident, gateway, mailoutbox):
    assert eu_only.state == State.PARTLY_ACTIVE and not eu_only.failure
    target = CorrectionTarget.objects.get(correction=eu_only)
    assert (target.state, target.manual, target.manual_reason) == (
        T.MANUAL_PENDING, True, "No actuator is configured for atlas-eu."
    )  # fmt: skip
    # Nothing is in force yet: neither the correction nor the incident is stamped.
    assert eu_only.activated_at is None
    assert Incident.objects.get(pk=incident.pk).contained_at is None
    assert rollup([target.state]).label() == "awaiting a manual step"
    assert not DispatchAttempt.objects.filter(correction=eu_only).exists()
    assert gateway.status(eu_only.pk).status_code == 404
    assert not LedgerEvent.objects.filter(verb="correction.failed", object_id=str(eu_only.pk)).exists()
    assert any("Manual step needed" in m.subject for m in mailoutbox)


def test_the_api_says_a_lone_manual_target_is_awaiting_its_step(eu_only, people):
    client = APIClient()
    client.force_authenticate(people["responder"])
    body = client.get(f"/api/v1/corrections/{eu_only.pk}/").json()
    assert (body["state"], body["progress"]) == ("partly_active", "awaiting a manual step")


def test_confirming_the_lone_manual_step_puts_it_in_force_and_contains_the_incident(
    eu_only, incident, people, actor_for
):
    services.correction_target_confirm(
        actor=actor_for(people["commander"]), correction=eu_only, deployment="atlas-eu", confirm_target="atlas-eu",
        note="SRE turned tool use off on the EU route.",
    )  # fmt: skip
    eu_only.refresh_from_db()
    assert eu_only.state == State.ACTIVE
    assert eu_only.activated_at is not None and eu_only.manual_confirmed_by == people["commander"]
    assert eu_only.manual_confirmed_at == eu_only.activated_at
    assert Incident.objects.get(pk=incident.pk).contained_at == eu_only.activated_at


def test_only_the_commander_confirms_the_lone_manual_step(eu_only, people, actor_for):
    with pytest.raises(DomainError) as err:
        services.correction_target_confirm(
            actor=actor_for(people["responder"]), correction=eu_only, deployment="atlas-eu",
            confirm_target="atlas-eu", note="done",
        )  # fmt: skip
    assert err.value.code == "forbidden"
    assert Correction.objects.get(pk=eu_only.pk).state == State.PARTLY_ACTIVE


def test_lifting_a_lone_manual_correction_is_a_manual_lift_step(
    eu_only, people, actor_for, django_capture_on_commit_callbacks
):
    services.correction_target_confirm(
        actor=actor_for(people["commander"]), correction=eu_only, deployment="atlas-eu", confirm_target="atlas-eu",
        note="done",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        services.correction_lift(actor=actor_for(people["commander"]), correction=eu_only, reason="contained")
    entry = OutboxEntry.objects.get(correction=eu_only, action="lift")
    with django_capture_on_commit_callbacks(execute=True):
        dispatch.dispatch_entry(entry_id=entry.pk)
    eu_only.refresh_from_db()
    assert eu_only.state == State.LIFTING
    assert target_states(eu_only) == {"atlas-eu": "lifting"}
    services.correction_target_confirm(
        actor=actor_for(people["commander"]), correction=eu_only, deployment="atlas-eu", confirm_target="atlas-eu",
        note="EU route restored.",
    )  # fmt: skip
    eu_only.refresh_from_db()
    assert eu_only.state == State.LIFTED
