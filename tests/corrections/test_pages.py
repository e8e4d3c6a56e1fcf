"""The correction pages: request (two steps, a confirmation for drastic types), decide, lift,
retry, the approval inbox with its header count, and the live-progress fragments."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import LedgerEvent
from corrections import selectors, services
from corrections.models import Approval, Correction, OutboxEntry, State


@pytest.fixture
def incident(make_incident, people):
    return make_incident(by=people["responder"], severity="SEV1")


@pytest.fixture
def request_correction(actor_for, incident):
    """Request a correction through the service (for tests about what comes after)."""

    def make(by, type, *, deployment="atlas-chat", params=None, on=None, **extra):
        return services.correction_request(
            actor=actor_for(by), incident=on or incident, type=type, deployment=deployment,
            params={} if params is None else params, rationale=extra.pop("rationale", "Under way."), **extra,
        )  # fmt: skip

    return make


def new_url(incident, type=""):
    url = reverse("correction-new", args=[incident.ref])
    return f"{url}?type={type}" if type else url


def detail(correction):
    return reverse("correction-detail", args=[correction.pk])


def flash(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def set_state(correction, state, **fields):
    """Stand in for the worker (tested in test_tasks / e2e): move a correction along."""
    Correction.objects.filter(pk=correction.pk).update(state=state, **fields)
    correction.refresh_from_db()


# --- requesting ----------------------------------------------------------------------------------


def test_request_is_two_steps_type_then_that_types_fields(client_for, incident, people, accounts):
    client = client_for(people["responder"])
    step_one = client.get(new_url(incident))
    assert step_one.status_code == 200
    content = step_one.content.decode()
    assert 'name="type" value="block_accounts"' in content
    assert "User-based restriction" in content  # grouped by family
    assert "Blocks specific users" in content  # with its help text
    step_two = client.get(new_url(incident, "block_accounts"))
    assert step_two.status_code == 200
    assert 'name="param_accounts"' in step_two.content.decode()
    assert step_two.context["form"]["duration_minutes"].value() == 7 * 24 * 60  # the type's default

    response = client.post(
        new_url(incident, "block_accounts"),
        {"type": "block_accounts", "deployment": "atlas-api", "param_accounts": "acct-mallory, acct-bob",
         "duration_minutes": "60", "rationale": "Abuse at scale."},
    )  # fmt: skip
    correction = Correction.objects.get()
    assert response.status_code == 302
    assert response["Location"] == detail(correction)
    assert correction.params == {"accounts": ["acct-bob", "acct-mallory"]}
    assert correction.duration_minutes == 60
    assert correction.state == State.APPROVED  # tier 1: pre-authorised
    assert correction.requested_by == people["responder"]


def test_the_incident_page_shows_the_panel_and_the_type_chooser(client_for, incident, people, request_correction):
    correction = request_correction(people["responder"], "pause_deployment")
    response = client_for(people["responder"]).get(reverse("incident-detail", args=[incident.ref]))
    content = response.content.decode()
    assert 'id="corrections"' in content
    assert f'data-correction-id="{correction.pk}"' in content
    assert "Pause the deployment" in content and "atlas-chat" in content
    assert "lapses in" in content  # time left
    assert 'name="type" value="rollback_model"' in content  # step one of the request form
    assert f'action="{new_url(incident)}"' in content


def test_bad_params_rerender_with_field_errors_and_create_nothing(client_for, incident, people, accounts):
    events = LedgerEvent.objects.count()
    response = client_for(people["responder"]).post(
        new_url(incident, "block_accounts"),
        {"type": "block_accounts", "deployment": "atlas-api", "param_accounts": "acct-nobody",
         "rationale": "Abuse."},
    )  # fmt: skip
    assert response.status_code == 400
    assert response.context["form"].errors["param_accounts"] == ["Unknown account: acct-nobody."]
    assert "Nothing was requested" in response.content.decode()
    assert Correction.objects.count() == 0
    assert LedgerEvent.objects.count() == events


@pytest.mark.parametrize(
    ("type", "data", "field"),
    [
        ("rate_limit", {"param_scope": "account", "param_subject": "acct-nobody", "param_requests_per_minute": "5"},
         "param_subject"),
        ("rate_limit", {"param_scope": "galaxy", "param_requests_per_minute": "5"}, "param_scope"),
        ("rollback_model", {"param_version": "atlas-2.0"}, "param_version"),
        ("disable_capability", {"param_capability": "telepathy"}, "param_capability"),
        ("restrict_use_case", {}, "param_use_cases"),
        ("pause_deployment", {"deployment": "nowhere"}, "deployment"),
        ("block_accounts", {"param_accounts": "acct-bob", "duration_minutes": "0"}, "duration_minutes"),
    ],
)  # fmt: skip
def test_every_bad_field_is_named_and_nothing_is_written(client_for, incident, people, accounts, type, data, field):
    body = {"type": type, "deployment": "atlas-chat", "rationale": "Because.", **data}
    response = client_for(people["leader1"]).post(new_url(incident, type), body)
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert Correction.objects.count() == 0


def test_unknown_type_shows_the_choice_again(client_for, incident, people):
    response = client_for(people["responder"]).get(new_url(incident, "nuke_it"))
    assert response.status_code == 400
    assert "Unknown correction type" in response.content.decode()


def test_drastic_types_ask_for_confirmation_first(client_for, incident, people):
    client = client_for(people["responder"])
    body = {"type": "pause_deployment", "deployment": "atlas-chat", "rationale": "Synthesis route."}
    confirm = client.post(new_url(incident, "pause_deployment"), body)
    assert confirm.status_code == 200
    content = confirm.content.decode()
    assert "This will pause atlas-chat for everyone" in content
    assert 'name="confirmed" value="yes"' in content
    assert Correction.objects.count() == 0
    back = client.post(new_url(incident, "pause_deployment"), {**body, "edit": "yes"})
    assert back.status_code == 200 and back.context["form"]["rationale"].value() == "Synthesis route."
    assert Correction.objects.count() == 0
    done = client.post(new_url(incident, "pause_deployment"), {**body, "confirmed": "yes"})
    correction = Correction.objects.get()
    assert done.status_code == 302
    assert correction.state == State.PENDING_APPROVAL
    assert "needs sign-off" in flash(client.get(done["Location"]))[0]


def test_model_wide_types_confirm_against_the_model(client_for, incident, people):
    body = {"type": "withdraw_model", "param_model": "atlas", "rationale": "Every surface leaks it."}
    confirm = client_for(people["commander"]).post(new_url(incident, "withdraw_model"), body)
    assert confirm.status_code == 200
    assert "This will take every deployment of atlas offline for everyone" in confirm.content.decode()
    assert "2 × leadership" in confirm.content.decode()
    assert Correction.objects.count() == 0


def test_confirmation_checks_the_parameters_before_asking(client_for, incident, people):
    response = client_for(people["responder"]).post(
        new_url(incident, "rollback_model"),
        {"type": "rollback_model", "deployment": "atlas-chat", "param_version": "atlas-0.1", "rationale": "x"},
    )
    assert response.status_code == 400
    assert "no version" in response.context["form"].errors["param_version"][0]


def test_break_glass_is_offered_only_to_those_who_may_and_needs_a_justification(client_for, incident, people):
    url = new_url(incident, "pause_deployment")
    assert "break_glass" not in client_for(people["responder"]).get(url).context["form"].fields
    leader = client_for(people["leader1"])
    assert "break_glass" in leader.get(url).context["form"].fields
    assert "break_glass" not in leader.get(new_url(incident, "disable_capability")).context["form"].fields  # tier 2
    body = {"type": "pause_deployment", "deployment": "atlas-chat", "rationale": "Now.", "break_glass": "on",
            "confirmed": "yes"}  # fmt: skip
    refused = leader.post(url, body)
    assert refused.status_code == 400
    assert refused.context["form"].errors["justification"]
    assert Correction.objects.count() == 0
    done = leader.post(url, {**body, "justification": "Route posted publicly."})
    correction = Correction.objects.get()
    assert done.status_code == 302
    assert correction.break_glass and correction.state == State.APPROVED
    assert correction.break_glass_justification == "Route posted publicly."


def test_a_responder_asking_for_tier_4_is_refused_with_403(client_for, incident, people):
    client = client_for(people["responder"])
    assert (
        'value="withdraw_model" id="choose-type-withdraw_model" required disabled'
        in client.get(new_url(incident)).content.decode()
    )
    response = client.post(
        new_url(incident, "withdraw_model"),
        {"type": "withdraw_model", "param_model": "atlas", "rationale": "x", "confirmed": "yes"},
    )
    assert response.status_code == 403
    assert "may not request a tier 4" in response.content.decode()
    assert Correction.objects.count() == 0


def test_closed_incident_offers_no_request_form(client_for, make_incident, people, actor_for):
    from incidents import services as incident_services

    incident = make_incident(by=people["responder"])
    incident_services.incident_edit(actor=actor_for(people["commander"]), incident=incident,
                                    changes={"status": "dismissed"}, reason="False alarm.")  # fmt: skip
    response = client_for(people["responder"]).get(reverse("incident-detail", args=[incident.ref]))
    assert 'id="request-correction"' not in response.content.decode()


# --- deciding ------------------------------------------------------------------------------------


def test_requester_sees_no_approve_button_and_a_direct_post_is_refused(
    client_for, people, request_correction, task_sends
):
    correction = request_correction(people["responder"], "pause_deployment")
    approve_url = reverse("correction-approve", args=[correction.pk])
    requester = client_for(people["responder"])
    page = requester.get(detail(correction))
    assert page.status_code == 200
    assert approve_url not in page.content.decode()
    assert "someone else must approve it" in page.content.decode()
    refused = requester.post(approve_url, {"comment": "mine", "content_hash": correction.content_hash})
    assert refused.status_code == 409
    assert "someone else must approve it" in refused.content.decode()
    assert not Approval.objects.exists()

    for who in ("commander", "leader1"):
        client = client_for(people[who])
        assert approve_url in client.get(detail(correction)).content.decode()
        response = client.post(approve_url, {"comment": f"{who} agrees", "content_hash": correction.content_hash})
        assert response.status_code == 302, response.content
    correction.refresh_from_db()
    assert correction.state == State.APPROVED
    assert "is approved" in flash(client.get(detail(correction)))[0]
    assert OutboxEntry.objects.filter(correction=correction).count() == 1


def test_approving_twice_is_409(client_for, people, request_correction):
    correction = request_correction(people["responder"], "pause_deployment")
    client = client_for(people["commander"])
    reviewed = {"content_hash": correction.content_hash}
    assert client.post(reverse("correction-approve", args=[correction.pk]), reviewed).status_code == 302
    assert reverse("correction-approve", args=[correction.pk]) not in client.get(detail(correction)).content.decode()
    assert client.post(reverse("correction-approve", args=[correction.pk]), reviewed).status_code == 409


def test_tier_4_approval_needs_the_code_and_the_typed_target(client_for, people, request_correction, totp_for):
    correction = request_correction(people["commander"], "withdraw_model", deployment=None, params={"model": "atlas"})
    code = totp_for(people["leader1"])
    client = client_for(people["leader1"])
    form = client.get(detail(correction)).context["forms"]["approve"]
    assert {"otp", "confirm_target", "comment"} <= set(form.fields)
    url = reverse("correction-approve", args=[correction.pk])

    reviewed = {"content_hash": correction.content_hash}
    missing = client.post(url, {"comment": "ok", **reviewed})
    assert missing.status_code == 400
    assert set(missing.context["forms"]["approve"].errors) == {"otp", "confirm_target"}
    wrong_name = client.post(url, {"confirm_target": "atlas-chat", "otp": code(), **reviewed})
    assert wrong_name.status_code == 400
    assert "Type the target's name, atlas" in wrong_name.context["forms"]["approve"].errors["confirm_target"][0]
    wrong_code = client.post(url, {"confirm_target": "atlas", "otp": "000000", **reviewed})
    assert wrong_code.status_code == 400
    assert wrong_code.context["forms"]["approve"].errors["otp"]
    assert not Approval.objects.exists()
    # A wrong code throttles the device; let the wait pass.
    TOTPDevice.objects.filter(user=people["leader1"]).update(throttling_failure_count=0,
                                                             throttling_failure_timestamp=None)  # fmt: skip

    assert client.post(url, {"confirm_target": "atlas", "otp": code(), **reviewed}).status_code == 302
    approval = Approval.objects.get()
    assert approval.approver == people["leader1"] and approval.second_factor_verified


def test_reject_needs_a_comment_and_ends_the_request(client_for, people, request_correction):
    correction = request_correction(people["responder"], "pause_deployment")
    client = client_for(people["leader1"])
    url = reverse("correction-reject", args=[correction.pk])
    blank = client.post(url, {"comment": ""})
    assert blank.status_code == 400
    assert blank.context["failed"] == "reject"
    response = client.post(url, {"comment": "Pausing is too broad; block the accounts."})
    assert response.status_code == 302
    correction.refresh_from_db()
    assert correction.state == State.REJECTED
    page = client.get(detail(correction)).content.decode()
    assert "Pausing is too broad" in page and "rejected" in page
    assert url not in page


def test_requester_cancels_with_a_reason(client_for, people, request_correction):
    correction = request_correction(people["responder"], "pause_deployment")
    client = client_for(people["responder"])
    assert reverse("correction-cancel", args=[correction.pk]) in client.get(detail(correction)).content.decode()
    assert client.post(reverse("correction-cancel", args=[correction.pk]), {"reason": ""}).status_code == 400
    response = client.post(reverse("correction-cancel", args=[correction.pk]), {"reason": "Patched upstream."})
    assert response.status_code == 302
    correction.refresh_from_db()
    assert correction.state == State.CANCELLED
    assert client.post(reverse("correction-cancel", args=[correction.pk]), {"reason": "again"}).status_code == 409


def test_lift_asks_to_confirm_then_starts_lifting(client_for, people, request_correction, accounts, task_sends):
    correction = request_correction(people["responder"], "block_accounts", params={"accounts": ["acct-mallory"]})
    set_state(correction, State.ACTIVE, activated_at=timezone.now())
    client = client_for(people["responder"])
    url = reverse("correction-lift", args=[correction.pk])
    assert url in client.get(detail(correction)).content.decode()
    confirm = client.post(url, {"reason": "Mallory's keys rotated."})
    assert confirm.status_code == 200
    assert 'name="confirmed" value="yes"' in confirm.content.decode()
    correction.refresh_from_db()
    assert correction.state == State.ACTIVE
    done = client.post(url, {"reason": "Mallory's keys rotated.", "confirmed": "yes"})
    assert done.status_code == 302
    correction.refresh_from_db()
    assert correction.state == State.LIFTING
    assert OutboxEntry.objects.filter(correction=correction, action="lift").count() == 1


def test_lifting_what_is_not_active_is_409(client_for, people, request_correction):
    correction = request_correction(people["responder"], "pause_deployment")
    response = client_for(people["responder"]).post(
        reverse("correction-lift", args=[correction.pk]), {"reason": "x", "confirmed": "yes"}
    )
    assert response.status_code == 409


def test_retry_a_failed_correction(client_for, people, request_correction, accounts, task_sends):
    correction = request_correction(people["responder"], "block_accounts", params={"accounts": ["acct-mallory"]})
    set_state(correction, State.FAILED, failure="HTTP 400: bad request", failed_action="apply")
    client = client_for(people["responder"])
    page = client.get(detail(correction)).content.decode()
    assert "HTTP 400: bad request" in page
    assert reverse("correction-retry", args=[correction.pk]) in page
    assert client.post(reverse("correction-retry", args=[correction.pk]), {"reason": ""}).status_code == 400
    response = client.post(reverse("correction-retry", args=[correction.pk]), {"reason": "Actuator fixed."})
    assert response.status_code == 302
    correction.refresh_from_db()
    assert correction.state == State.QUEUED
    assert LedgerEvent.objects.filter(verb="correction.retried", reason="Actuator fixed.").exists()


def test_destroy_weights_is_confirmed_by_hand(client_for, people, request_correction, totp_for, actor_for):
    correction = request_correction(people["commander"], "destroy_weights", deployment=None, params={"model": "atlas"})
    for leader in ("leader1", "leader2"):
        services.correction_approve(actor=actor_for(people[leader]), correction=correction,
                                    content_hash=correction.content_hash, otp=totp_for(people[leader])(),
                                    confirm_target="atlas")  # fmt: skip
    correction.refresh_from_db()
    assert correction.state == State.APPROVED
    client = client_for(people["leader3"])
    url = reverse("correction-confirm", args=[correction.pk])
    assert url in client.get(detail(correction)).content.decode()
    assert url not in client_for(people["commander"]).get(detail(correction)).content.decode()
    assert client.post(url, {"confirm_target": "atlas-api", "note": "done"}).status_code == 400
    response = client.post(url, {"confirm_target": "atlas", "note": "Destroyed by the infra team; verified."})
    assert response.status_code == 302
    correction.refresh_from_db()
    assert correction.state == State.ACTIVE and correction.manual_confirmed_by == people["leader3"]


def test_the_correction_page_shows_policy_signoff_and_voided_approvals(
    client_for, people, request_correction, actor_for
):
    correction = request_correction(people["responder"], "rollback_model", params={"version": "atlas-1.9"})
    services.correction_approve(actor=actor_for(people["leader1"]), correction=correction,
                                content_hash=correction.content_hash, comment="Fine by me.")  # fmt: skip
    services.correction_edit(actor=actor_for(people["responder"]), correction=correction, duration_minutes=90)
    page = client_for(people["auditor"]).get(detail(correction)).content.decode()
    assert "Fine by me." in page
    assert "decision-voided" in page and "no longer matches what will run" in page
    assert "Still needed:" in page and "1 × leadership; 1 × incident commander" in page
    assert "tier 3, version 1" in page
    assert "Time to live" in page and "4 hours" in page


def test_break_glass_shows_justification_and_overdue_ratification(client_for, people, request_correction):
    correction = request_correction(people["leader1"], "pause_deployment", break_glass=True,
                                    justification="Being exploited right now.")  # fmt: skip
    set_state(correction, State.ACTIVE, ratification_due_at=timezone.now() - timedelta(hours=1))
    client = client_for(people["commander"])
    page = client.get(detail(correction)).content.decode()
    assert "Being exploited right now." in page
    assert "ratification OVERDUE" in page
    assert reverse("correction-approve", args=[correction.pk]) in page  # the commander can ratify
    for url in (reverse("dashboard"), reverse("approval-inbox")):
        content = client.get(url).content.decode()
        assert "Break glass not ratified" in content, url
        assert detail(correction) in content


# --- who may see and do what ---------------------------------------------------------------------


def _all_posts(correction, incident):
    return [
        (new_url(incident, "pause_deployment"),
         {"type": "pause_deployment", "deployment": "atlas-chat", "rationale": "x", "confirmed": "yes"}),
        (reverse("correction-approve", args=[correction.pk]),
         {"comment": "ok", "content_hash": correction.content_hash}),
        (reverse("correction-reject", args=[correction.pk]), {"comment": "no"}),
        (reverse("correction-cancel", args=[correction.pk]), {"reason": "x"}),
        (reverse("correction-lift", args=[correction.pk]), {"reason": "x", "confirmed": "yes"}),
        (reverse("correction-retry", args=[correction.pk]), {"reason": "x"}),
        (reverse("correction-confirm", args=[correction.pk]), {"confirm_target": "atlas", "note": "x"}),
    ]  # fmt: skip


def test_auditor_gets_403_on_every_corrections_post_and_sees_no_forms(client_for, people, request_correction, incident):
    correction = request_correction(people["responder"], "pause_deployment")
    client = client_for(people["auditor"])
    events = LedgerEvent.objects.count()
    for url, data in _all_posts(correction, incident):
        assert client.post(url, data).status_code == 403, url
    assert LedgerEvent.objects.count() == events
    for url in (detail(correction), reverse("approval-inbox"), reverse("incident-detail", args=[incident.ref])):
        response = client.get(url)
        assert response.status_code == 200
        assert response.content.count(b'method="post"') == 1, url  # sign out only
    assert 'id="request-correction"' not in client.get(reverse("incident-detail", args=[incident.ref])).content.decode()
    assert client.get(new_url(incident)).status_code == 403


def test_restricted_incident_corrections_are_404_for_people_not_granted(
    client_for, make_incident, people, request_correction
):
    secret = make_incident(by=people["leader1"], restricted=True)
    correction = request_correction(people["leader1"], "pause_deployment", on=secret)
    outsider = client_for(people["commander2"])
    for url in (detail(correction), reverse("correction-status", args=[correction.pk]), new_url(secret),
                reverse("incident-corrections-status", args=[secret.ref])):  # fmt: skip
        assert outsider.get(url).status_code == 404, url
    for url, data in _all_posts(correction, secret):
        assert outsider.post(url, data).status_code == 404, url
    assert correction not in selectors.approvals_pending_for(user=people["commander2"])
    assert "approvals-count" not in outsider.get(reverse("dashboard")).content.decode()
    assert client_for(people["leader2"]).get(detail(correction)).status_code == 200


def test_unknown_correction_is_404(client_for, people):
    client = client_for(people["leader1"])
    assert client.get("/corrections/999999/").status_code == 404
    assert client.post("/corrections/99999999999999999999/approve/", {}).status_code == 404


# --- the approval inbox and the header count -----------------------------------------------------


def test_inbox_lists_exactly_what_the_user_can_decide(client_for, people, request_correction, actor_for):
    tier2 = request_correction(people["responder"], "disable_capability", params={"capability": "browsing"})
    tier3 = request_correction(people["responder"], "pause_deployment")
    tier4 = request_correction(people["commander"], "withdraw_model", deployment=None, params={"model": "atlas"})
    filled = request_correction(people["responder"], "rollback_model", params={"version": "atlas-1.9"})
    services.correction_approve(
        actor=actor_for(people["commander2"]), correction=filled, content_hash=filled.content_hash
    )  # its commander slot
    expected = {
        "responder": set(),
        "commander": {tier2, tier3},
        "leader1": {tier2, tier3, tier4, filled},
        "auditor": set(),
    }
    for who, corrections in expected.items():
        response = client_for(people[who]).get(reverse("approval-inbox"))
        assert response.status_code == 200
        assert {row.correction for row in response.context["rows"]} == corrections, who
        assert {c.pk for c in selectors.approvals_pending_for(user=people[who])} >= {c.pk for c in corrections}
    empty = client_for(people["responder"]).get(reverse("approval-inbox")).content.decode()
    assert "Nothing is waiting for your decision" in empty


def test_inbox_is_most_urgent_first(client_for, people, request_correction):
    later = request_correction(people["responder"], "pause_deployment")
    sooner = request_correction(people["responder"], "pause_deployment", deployment="atlas-api")
    Correction.objects.filter(pk=sooner.pk).update(pending_until=timezone.now() + timedelta(minutes=10))
    rows = client_for(people["leader1"]).get(reverse("approval-inbox")).context["rows"]
    assert [row.correction.pk for row in rows] == [sooner.pk, later.pk]
    assert rows[0].clock.urgent and not rows[1].clock.urgent


def test_header_shows_the_approvals_count_on_every_page(client_for, people, request_correction, incident):
    request_correction(people["responder"], "pause_deployment")
    request_correction(people["responder"], "disable_capability", params={"capability": "browsing"})
    client = client_for(people["commander"])
    for url in (reverse("dashboard"), reverse("incident-list"), reverse("incident-detail", args=[incident.ref])):
        assert 'data-approvals-count="2"' in client.get(url).content.decode(), url
    assert "data-approvals-count" not in client_for(people["responder"]).get(reverse("dashboard")).content.decode()


def test_header_count_costs_nothing_for_anonymous_visitors(client, people, request_correction):
    request_correction(people["responder"], "pause_deployment")
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("login")).status_code == 200
    assert not any("corrections_" in q["sql"] for q in captured.captured_queries)


def test_leadership_without_a_second_factor_is_told_on_the_inbox(client_for, people, totp_for):
    assert "need a second factor" in client_for(people["leader1"]).get(reverse("approval-inbox")).content.decode()
    totp_for(people["leader2"])
    assert "need a second factor" not in client_for(people["leader2"]).get(reverse("approval-inbox")).content.decode()
    assert "need a second factor" not in client_for(people["commander"]).get(reverse("approval-inbox")).content.decode()


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


def _many(request_correction, people, actor_for, n):
    for i in range(n):
        correction = request_correction(people["responder"], "rollback_model", params={"version": "atlas-1.9"},
                                        deployment="atlas-chat" if i % 2 else "atlas-api")  # fmt: skip
        if i % 3 == 0:  # some with an approval already, so approvers' roles are read too
            services.correction_approve(
                actor=actor_for(people["leader2"]),
                correction=correction,
                content_hash=correction.content_hash,
                comment="ok",
            )


@pytest.mark.parametrize("page", ["approval-inbox", "incident-detail", "correction-panel-fragment", "dashboard"])
def test_pages_cost_the_same_queries_for_3_and_30_corrections(
    client_for, people, request_correction, actor_for, incident, page
):
    url = {
        "approval-inbox": reverse("approval-inbox"),
        "incident-detail": reverse("incident-detail", args=[incident.ref]),
        "correction-panel-fragment": reverse("incident-corrections-status", args=[incident.ref]),
        "dashboard": reverse("dashboard"),
    }[page]
    client = client_for(people["commander"])
    _many(request_correction, people, actor_for, 3)
    client.get(url)  # warm the session
    small = _queries(client, url)
    _many(request_correction, people, actor_for, 27)
    assert Correction.objects.count() == 30
    large = _queries(client, url)
    assert small == large, (small, large)
    # Each list of corrections reads its targets (one query); the incident page and the dashboard also
    # show deployments' in-force badges (one query), the dashboard its in-force counts (one), overdue
    # follow-ups (one) and readiness troubles (one); the header's inbox counts early lifts awaiting a
    # decision (one); the incident page its Slack channel (one), the playbook attached (one) and its
    # checklist (one) and its latest evidence files (one); the dashboard who is on call (one without
    # rotations; four with). Incident page and dashboard: + the regulators' clocks (assessments and
    # clocks; the next deadlines).
    ceiling = {"approval-inbox": 10, "incident-detail": 33, "correction-panel-fragment": 12, "dashboard": 21}[page]
    assert large <= ceiling, large  # session, user, roles, the header count, then the page itself
    if page == "approval-inbox":
        assert len(client.get(url).context["rows"]) == 30


# --- live progress -------------------------------------------------------------------------------


def test_status_fragment_returns_the_current_state(client_for, people, request_correction, accounts):
    correction = request_correction(people["responder"], "block_accounts", params={"accounts": ["acct-mallory"]})
    client = client_for(people["responder"])
    url = reverse("correction-status", args=[correction.pk])
    page = client.get(detail(correction)).content.decode()
    assert f'data-progress-url="{url}?shown=approved"' in page
    assert 'data-progress-live="true"' in page
    assert "js/progress.js" in page
    fragment = client.get(f"{url}?shown=approved")
    assert fragment.status_code == 200
    assert fragment["Cache-Control"].startswith("max-age=0")
    assert 'data-state="approved"' in fragment.content.decode()
    assert "<html" not in fragment.content.decode()

    set_state(correction, State.ACTIVE, activated_at=timezone.now())
    fragment = client.get(f"{url}?shown=approved").content.decode()
    assert 'data-state="active"' in fragment
    assert 'data-progress-live="false"' in fragment  # final: the script stops polling
    assert "Reload the page" in fragment


def test_panel_fragment_lists_the_incidents_corrections_and_says_when_to_stop(
    client_for, people, request_correction, incident, accounts
):
    moving = request_correction(people["responder"], "block_accounts", params={"accounts": ["acct-mallory"]})
    waiting = request_correction(people["responder"], "pause_deployment")
    client = client_for(people["responder"])
    url = reverse("incident-corrections-status", args=[incident.ref])
    fragment = client.get(url).content.decode()
    assert f'data-correction-id="{moving.pk}"' in fragment and f'data-correction-id="{waiting.pk}"' in fragment
    assert 'data-progress-live="true"' in fragment
    set_state(moving, State.ACTIVE)
    assert 'data-progress-live="false"' in client.get(url).content.decode()


def test_attempts_are_shown_with_outcome_latency_and_error(client_for, people, request_correction, accounts):
    from corrections.models import DispatchAttempt

    correction = request_correction(people["responder"], "block_accounts", params={"accounts": ["acct-mallory"]})
    entry = OutboxEntry.objects.get(correction=correction)
    DispatchAttempt.objects.create(
        correction=correction, outbox_entry=entry, deployment=correction.deployment, action="apply", number=1,
        method="PUT", url="http://gateway/corrections/1", request_body={"type": "block_accounts"},
        response_status=503, response_body={"error": "busy"}, latency_ms=87, outcome="transient",
        error="HTTP 503 from the actuator", started_at=timezone.now(),
    )  # fmt: skip
    fragment = client_for(people["auditor"]).get(reverse("correction-status", args=[correction.pk])).content.decode()
    assert "apply #1" in fragment and "HTTP 503" in fragment and "87 ms" in fragment
    assert "transient error" in fragment and "HTTP 503 from the actuator" in fragment


def test_progress_fragment_says_retrying_next_attempt_in_with_the_last_error_and_attempts(
    client_for, people, request_correction, accounts
):
    correction = request_correction(people["responder"], "block_accounts", params={"accounts": ["acct-mallory"]})
    set_state(correction, State.APPLYING)
    now = timezone.now()
    OutboxEntry.objects.filter(correction=correction).update(
        attempt_count=3, failing_since=now - timedelta(seconds=8), next_attempt_at=now + timedelta(seconds=6.9),
        last_error="connection failed: ConnectionError",
    )  # fmt: skip
    url = reverse("correction-status", args=[correction.pk])
    client = client_for(people["auditor"])

    fragment = client.get(url).content.decode()
    assert re.search(r"retrying — next attempt in [67] s", fragment)  # 6.9 s, rounded up, less the request
    assert "Last error: connection failed: ConnectionError" in fragment
    assert "3 failed attempts since" in fragment
    assert 'data-progress-live="true"' in fragment  # keeps polling, so the countdown moves
    assert "retrying — next attempt in" in client.get(detail(correction)).content.decode()

    # A worker holds the entry: the attempt is under way, not waiting.
    OutboxEntry.objects.filter(correction=correction).update(
        attempt_count=4, next_attempt_at=None, claimed_until=now + timedelta(seconds=30)
    )
    fragment = client.get(url).content.decode()
    assert "retrying — attempt 4 in progress" in fragment and "3 failed attempts since" in fragment

    # Once it has gone through, nothing says it is retrying.
    OutboxEntry.objects.filter(correction=correction).update(done_at=now, claimed_until=None)
    set_state(correction, State.ACTIVE, activated_at=now)
    assert "retrying" not in client.get(url).content.decode()
