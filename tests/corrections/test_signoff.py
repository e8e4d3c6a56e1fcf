"""Sign-off nobody can get around (issue 8): an editor counts as a requester, and an approval
counts only for the content its approver reviewed."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import LedgerEvent
from accounts.roles import Role
from config.errors import DomainError
from corrections import policy, selectors, services
from corrections.models import Approval, Correction, CorrectionEditor, OutboxEntry, State
from corrections.services import decisions

STALE = "The request changed since you opened it — review it again."
YEAR = 365 * 24 * 60


@pytest.fixture
def incident(make_incident, people):
    return make_incident(by=people["responder"], severity="SEV1")


@pytest.fixture
def page_for(db):
    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


def ask(actor_for, incident, user, type, deployment="atlas-api", params=None, **kw):
    return services.correction_request(
        actor=actor_for(user), incident=incident, type=type, deployment=deployment,
        params=params if params is not None else {}, rationale="The model is doing harm.", **kw,
    )  # fmt: skip


def throttle(actor_for, incident, people):
    """The attacker's case: a whole-deployment rate limit, a tier 2 request made by a responder."""
    return ask(actor_for, incident, people["responder"], "rate_limit",
               params={"scope": "deployment", "requests_per_minute": 1000})  # fmt: skip


def fresh(correction) -> Correction:
    return Correction.objects.get(pk=correction.pk)


def approve(actor_for, correction, user, **kw):
    kw.setdefault("content_hash", fresh(correction).content_hash)  # reviewed just now
    return services.correction_approve(actor=actor_for(user), correction=correction, **kw)


def events_for(correction) -> list[str]:
    return list(
        LedgerEvent.objects.filter(object_type="corrections.correction", object_id=str(correction.pk))
        .order_by("seq")
        .values_list("verb", flat=True)
    )


# --- an editor counts as a requester --------------------------------------------------------------


def test_commander_who_edited_a_request_cannot_approve_it(actor_for, incident, people):
    c = throttle(actor_for, incident, people)
    assert c.tier == 2
    one_a_minute = {"scope": "deployment", "requests_per_minute": 1}
    services.correction_edit(
        actor=actor_for(people["commander"]), correction=c, params=one_a_minute, duration_minutes=YEAR
    )
    with pytest.raises(DomainError) as err:
        approve(actor_for, c, people["commander"])
    assert err.value.code == "conflict"
    assert err.value.message == "You edited this correction; someone else must approve it."
    assert not Approval.objects.filter(correction=c).exists()
    assert fresh(c).state == State.PENDING_APPROVAL
    assert not OutboxEntry.objects.filter(correction=c).exists()


def test_editor_is_recorded_in_the_edit_transaction_and_in_the_ledger(actor_for, incident, people):
    c = throttle(actor_for, incident, people)
    services.correction_edit(actor=actor_for(people["commander"]), correction=c, duration_minutes=YEAR)
    services.correction_edit(actor=actor_for(people["commander"]), correction=c, duration_minutes=YEAR - 1)
    assert list(CorrectionEditor.objects.filter(correction=c).values_list("editor", flat=True)) == [
        people["commander"].pk
    ]
    edited = LedgerEvent.objects.filter(verb="correction.edited", object_id=str(c.pk)).order_by("seq").last()
    assert edited.after["counts_as_requester"] is True
    assert edited.after["content_hash"] == fresh(c).content_hash


def test_an_edit_to_the_rationale_alone_does_not_make_an_editor(actor_for, incident, people):
    c = throttle(actor_for, incident, people)
    services.correction_edit(actor=actor_for(people["commander"]), correction=c, rationale="Clearer wording.")
    assert not CorrectionEditor.objects.filter(correction=c).exists()
    approve(actor_for, c, people["commander"])  # what will run is still what the responder asked for
    assert fresh(c).state == State.APPROVED


def test_editor_cannot_reject_and_cancels_instead(actor_for, incident, people):
    c = throttle(actor_for, incident, people)
    services.correction_edit(actor=actor_for(people["commander"]), correction=c, duration_minutes=YEAR)
    with pytest.raises(DomainError) as err:
        services.correction_reject(actor=actor_for(people["commander"]), correction=c, comment="Never mind.")
    assert err.value.code == "conflict"
    assert "cancel it instead" in err.value.message
    assert not Approval.objects.filter(correction=c).exists()
    services.correction_cancel(actor=actor_for(people["commander"]), correction=c, reason="Never mind.")
    assert fresh(c).state == State.CANCELLED


def test_editor_cannot_ratify_a_break_glass_correction(actor_for, incident, people):
    c = ask(actor_for, incident, people["leader1"], "pause_deployment", deployment="atlas-chat", break_glass=True,
            justification="Exploited right now.")  # fmt: skip
    # Break glass runs at once, so no edit path reaches it today; the rule must hold if one ever does.
    CorrectionEditor.objects.create(correction=c, editor=people["commander"])
    assert not selectors.can_decide(people["commander"], selectors.correction_get_for(user=people["commander"],
                                                                                      pk=c.pk))  # fmt: skip
    with pytest.raises(DomainError) as err:
        approve(actor_for, c, people["commander"])
    assert err.value.code == "conflict"
    assert not Approval.objects.filter(correction=c).exists()
    approve(actor_for, c, people["leader2"])
    approve(actor_for, c, people["commander2"])
    assert fresh(c).ratified_at is not None


def test_after_an_edit_tier2_still_needs_another_commander_or_leader(actor_for, incident, people):
    c = throttle(actor_for, incident, people)
    services.correction_edit(actor=actor_for(people["commander"]), correction=c, duration_minutes=YEAR)
    for author in ("responder", "commander"):
        with pytest.raises(DomainError):
            approve(actor_for, c, people[author])
    assert fresh(c).state == State.PENDING_APPROVAL
    approve(actor_for, c, people["commander2"])
    assert fresh(c).state == State.APPROVED
    assert list(Approval.objects.filter(correction=c).values_list("approver", flat=True)) == [people["commander2"].pk]


def test_after_edits_tier3_needs_a_leader_and_a_commander_neither_requester_nor_editor(actor_for, incident, people):
    c = ask(actor_for, incident, people["responder"], "pause_deployment", deployment="atlas-chat")
    services.correction_edit(actor=actor_for(people["leader1"]), correction=c, duration_minutes=90)
    services.correction_edit(actor=actor_for(people["commander"]), correction=c, duration_minutes=120)
    for editor in ("leader1", "commander"):  # each would fill an open slot, but edited it
        with pytest.raises(DomainError) as err:
            approve(actor_for, c, people[editor])
        assert err.value.code == "conflict"
    approve(actor_for, c, people["leader2"])
    assert fresh(c).state == State.PENDING_APPROVAL
    approve(actor_for, c, people["commander2"])
    assert fresh(c).state == State.APPROVED
    assert set(Approval.objects.filter(correction=c).values_list("approver", flat=True)) == {
        people["leader2"].pk, people["commander2"].pk,
    }  # fmt: skip


def test_the_rule_has_one_home_that_page_and_service_share(actor_for, incident, people):
    c = throttle(actor_for, incident, people)
    services.correction_edit(actor=actor_for(people["commander"]), correction=c, duration_minutes=YEAR)
    shown = selectors.correction_get_for(user=people["commander"], pk=c.pk)
    refusal = policy.approval_refusal(selectors.decision_facts(shown), people["commander"].pk,
                                      people["commander"].roles)  # fmt: skip
    assert refusal == policy.Refusal("conflict", "You edited this correction; someone else must approve it.")
    assert services.correction_actions_for(user=people["commander"], correction=shown) == {"cancel"}
    assert services.correction_actions_for(user=people["commander2"], correction=shown) >= {"approve", "reject"}


# --- the editor's pages, inbox and header count agree with the service --------------------------


def test_inbox_and_header_count_leave_out_a_request_its_editor_may_not_decide(actor_for, incident, people, page_for):
    c = throttle(actor_for, incident, people)
    assert c in selectors.approvals_pending_for(user=people["commander"])
    services.correction_edit(actor=actor_for(people["commander"]), correction=c, duration_minutes=YEAR)
    assert c not in selectors.approvals_pending_for(user=people["commander"])
    assert c in selectors.approvals_pending_for(user=people["commander2"])
    inbox = page_for(people["commander"]).get(reverse("approval-inbox"))
    assert [row.correction for row in inbox.context["rows"]] == []
    assert "approvals-count" not in inbox.content.decode()
    assert "approvals-count" in page_for(people["commander2"]).get(reverse("approval-inbox")).content.decode()


def test_editor_sees_no_approve_or_reject_button_and_a_forged_post_is_refused(actor_for, incident, people, page_for):
    c = throttle(actor_for, incident, people)
    services.correction_edit(actor=actor_for(people["commander"]), correction=c, duration_minutes=YEAR)
    client = page_for(people["commander"])
    page = client.get(reverse("correction-detail", args=[c.pk])).content.decode()
    assert reverse("correction-approve", args=[c.pk]) not in page
    assert reverse("correction-reject", args=[c.pk]) not in page
    assert "You edited this: someone else must approve it." in page
    assert "Edited by" in page
    approve_post = client.post(reverse("correction-approve", args=[c.pk]), {"content_hash": fresh(c).content_hash})
    assert approve_post.status_code == 409
    assert "You edited this correction" in approve_post.content.decode()
    assert client.post(reverse("correction-reject", args=[c.pk]), {"comment": "no"}).status_code == 409
    assert not Approval.objects.filter(correction=c).exists()


def test_commander_who_patched_through_the_api_cannot_approve_or_reject(actor_for, incident, people, api_for):
    c = throttle(actor_for, incident, people)
    commander = api_for(people["commander"])
    patched = commander.patch(f"/api/v1/corrections/{c.pk}/", {"params": {"scope": "deployment",
                              "requests_per_minute": 1}, "duration_minutes": YEAR}, format="json")  # fmt: skip
    assert patched.status_code == 200, patched.json()
    assert patched.json()["edited_by"] == [people["commander"].username]
    reviewed = patched.json()["content_hash"]
    approved = commander.post(f"/api/v1/corrections/{c.pk}/approve/", {"content_hash": reviewed}, format="json")
    assert approved.status_code == 409
    assert approved.json()["detail"] == "You edited this correction; someone else must approve it."
    rejected = commander.post(f"/api/v1/corrections/{c.pk}/reject/", {"comment": "no"}, format="json")
    assert rejected.status_code == 409
    assert commander.get("/api/v1/approvals/pending/").json() == []
    assert not Approval.objects.filter(correction=c).exists()
    assert fresh(c).state == State.PENDING_APPROVAL
    other = api_for(people["commander2"]).post(f"/api/v1/corrections/{c.pk}/approve/", {"content_hash": reviewed},
                                               format="json")  # fmt: skip
    assert other.status_code == 200
    assert other.json()["state"] == "approved"


# --- an approval is bound to what its approver reviewed ------------------------------------------


def test_api_approval_of_content_edited_since_it_was_read_is_409_and_records_nothing(
    actor_for, incident, people, api_for
):
    c = ask(actor_for, incident, people["responder"], "pause_deployment", deployment="atlas-chat")
    leader = api_for(people["leader1"])
    seen = leader.get(f"/api/v1/corrections/{c.pk}/").json()["content_hash"]
    services.correction_edit(actor=actor_for(people["responder"]), correction=c, duration_minutes=30)
    events = LedgerEvent.objects.count()
    response = leader.post(f"/api/v1/corrections/{c.pk}/approve/", {"content_hash": seen}, format="json")
    assert response.status_code == 409
    assert response.json()["detail"] == STALE
    assert not Approval.objects.filter(correction=c).exists()
    assert LedgerEvent.objects.count() == events


MALFORMED = [{}, {"comment": "ok"}, {"content_hash": ""}, {"content_hash": None}, {"content_hash": 5},
             {"content_hash": "362a"}, {"content_hash": "Z" * 64}]  # fmt: skip


@pytest.mark.parametrize("body", MALFORMED)
def test_api_approval_without_a_well_formed_content_hash_is_400(actor_for, incident, people, api_for, body):
    c = ask(actor_for, incident, people["responder"], "pause_deployment", deployment="atlas-chat")
    response = api_for(people["leader1"]).post(f"/api/v1/corrections/{c.pk}/approve/", body, format="json")
    assert response.status_code == 400
    assert "content_hash" in response.json()["errors"]
    assert not Approval.objects.filter(correction=c).exists()


def test_stale_tier4_approval_spends_no_second_factor_code(actor_for, incident, people, api_for, totp_for):
    c = ask(actor_for, incident, people["commander"], "withdraw_model", deployment=None, params={"model": "atlas"})
    code = totp_for(people["leader1"])
    seen = fresh(c).content_hash
    services.correction_edit(actor=actor_for(people["commander"]), correction=c, duration_minutes=30)
    device = TOTPDevice.objects.get(user=people["leader1"])
    token = code()
    response = api_for(people["leader1"]).post(
        f"/api/v1/corrections/{c.pk}/approve/", {"content_hash": seen, "otp": token, "confirm_target": "atlas"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 409 and response.json()["detail"] == STALE
    after = TOTPDevice.objects.get(pk=device.pk)
    assert (after.last_t, after.throttling_failure_count) == (device.last_t, device.throttling_failure_count)
    approve(actor_for, c, people["leader1"], otp=token, confirm_target="atlas")  # the same code still works
    assert Approval.objects.get(correction=c).second_factor_verified


def test_an_edit_committed_after_the_first_check_is_caught_under_the_lock(
    actor_for, incident, people, totp_for, monkeypatch
):
    c = ask(actor_for, incident, people["commander"], "withdraw_model", deployment=None, params={"model": "atlas"})
    code = totp_for(people["leader1"])
    seen = fresh(c).content_hash
    verify = decisions._verify_second_factor

    def edit_meanwhile(
        actor, user, correction, **factor
    ):  # runs between the check outside the transaction and the lock
        kind = verify(actor, user, correction, **factor)
        services.correction_edit(actor=actor_for(people["commander"]), correction=c, duration_minutes=30)
        return kind

    monkeypatch.setattr(decisions, "_verify_second_factor", edit_meanwhile)
    events = events_for(c)
    with pytest.raises(DomainError) as err:
        approve(actor_for, c, people["leader1"], content_hash=seen, otp=code(), confirm_target="atlas")
    assert (err.value.code, err.value.message) == ("conflict", STALE)
    assert not Approval.objects.filter(correction=c).exists()
    assert events_for(c) == [*events, "correction.edited"]


def test_ratification_carries_the_hash_too(actor_for, incident, people, api_for):
    c = ask(actor_for, incident, people["leader1"], "pause_deployment", deployment="atlas-chat", break_glass=True,
            justification="Exploited right now.")  # fmt: skip
    url = f"/api/v1/corrections/{c.pk}/approve/"
    assert api_for(people["leader2"]).post(url, {}, format="json").status_code == 400
    assert api_for(people["leader2"]).post(url, {"content_hash": "0" * 64}, format="json").status_code == 409
    assert not Approval.objects.filter(correction=c).exists()
    assert api_for(people["leader2"]).post(url, {"content_hash": c.content_hash}, format="json").status_code == 200


def _hidden_hash(html: str) -> str:
    return re.search(r'name="content_hash" value="([0-9a-f]{64})"', html).group(1)


def test_stale_page_form_is_refused_with_a_message_and_records_nothing(actor_for, incident, people, page_for):
    c = ask(actor_for, incident, people["responder"], "pause_deployment", deployment="atlas-chat")
    leader = page_for(people["leader1"])
    url = reverse("correction-approve", args=[c.pk])
    opened = leader.get(reverse("correction-detail", args=[c.pk])).content.decode()
    seen = _hidden_hash(opened)
    assert seen == c.content_hash
    services.correction_edit(actor=actor_for(people["responder"]), correction=c, duration_minutes=30)
    events = LedgerEvent.objects.count()

    stale = leader.post(url, {"comment": "Looks right.", "content_hash": seen})
    assert stale.status_code == 409
    page = stale.content.decode()
    assert STALE in page
    assert not Approval.objects.filter(correction=c).exists()
    assert LedgerEvent.objects.count() == events
    # The page now shows the new content, and its form carries that content's hash.
    now = fresh(c).content_hash
    assert _hidden_hash(page) == now != seen
    assert leader.post(url, {"comment": "Reviewed again.", "content_hash": now}).status_code == 302
    assert Approval.objects.get(correction=c).content_hash == now


def test_page_form_without_a_hash_is_400_and_records_nothing(actor_for, incident, people, page_for):
    c = ask(actor_for, incident, people["responder"], "pause_deployment", deployment="atlas-chat")
    response = page_for(people["leader1"]).post(reverse("correction-approve", args=[c.pk]), {"comment": "ok"})
    assert response.status_code == 400
    assert "reload the page and review it again" in response.content.decode()
    assert not Approval.objects.filter(correction=c).exists()


def test_correction_page_shows_the_short_hash_next_to_the_parameters(actor_for, incident, people, page_for):
    c = throttle(actor_for, incident, people)
    page = page_for(people["auditor"]).get(reverse("correction-detail", args=[c.pk])).content.decode()
    short = f">{c.content_hash[:12]}</code>"
    assert short in page
    assert page.index("Requests per minute") < page.index(short)
    assert 'name="content_hash"' not in page  # an auditor gets no form


def test_openapi_schema_says_approve_requires_the_reviewed_content_hash(client, make_user):
    client.force_login(make_user(Role.AUDITOR))
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    body = schema["paths"]["/api/v1/corrections/{id}/approve/"]["post"]["requestBody"]["content"]["application/json"]
    approve = schema["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[1]]
    assert "content_hash" in approve["required"]
    assert "409" in approve["properties"]["content_hash"]["description"]
    assert "edited_by" in schema["components"]["schemas"]["CorrectionDetail"]["properties"]
