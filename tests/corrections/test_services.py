from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import ledger
from accounts.actor import Actor
from config.errors import DomainError
from corrections import services
from corrections.models import Approval, ApprovalPolicy, Correction, OutboxEntry, State


@pytest.fixture
def incident(make_incident, people):
    return make_incident(by=people["responder"], severity="SEV1")


def request(actor_for, incident, user, type, deployment="atlas-api", params=None, **kw):
    return services.correction_request(
        actor=actor_for(user),
        incident=incident,
        type=type,
        deployment=deployment,
        params=params if params is not None else {},
        rationale="Because the model is doing harm.",
        **kw,
    )


def approve(actor_for, correction, user, **kw):
    """Approve what the correction holds now, as an approver who just reviewed it."""
    kw.setdefault("content_hash", Correction.objects.get(pk=correction.pk).content_hash)
    return services.correction_approve(actor=actor_for(user), correction=correction, **kw)


def test_tier1_block_accounts_is_approved_at_once_with_one_outbox_entry(actor_for, incident, people, accounts):
    c = request(actor_for, incident, people["responder"], "block_accounts", params={"accounts": ["acct-mallory"]})
    assert c.state == State.APPROVED
    assert c.tier == 1
    assert OutboxEntry.objects.filter(correction=c, action="apply").count() == 1


def test_tier3_pause_needs_a_leader_and_a_commander(actor_for, incident, people):
    c = request(actor_for, incident, people["responder"], "pause_deployment", deployment="atlas-chat")
    assert c.state == State.PENDING_APPROVAL
    approve(actor_for, c, people["leader1"])
    c.refresh_from_db()
    assert c.state == State.PENDING_APPROVAL
    with pytest.raises(DomainError) as err:  # a second leader fills no slot
        approve(actor_for, c, people["leader2"])
    assert err.value.code == "conflict"
    approve(actor_for, c, people["commander"])
    c.refresh_from_db()
    assert c.state == State.APPROVED
    assert OutboxEntry.objects.filter(correction=c).count() == 1
    assert ledger.verify().ok


def test_requester_cannot_approve_own_request(actor_for, incident, people):
    c = request(actor_for, incident, people["commander"], "disable_capability", params={"capability": "browsing"})
    with pytest.raises(DomainError) as err:
        approve(actor_for, c, people["commander"])
    assert err.value.code == "conflict"
    assert not Approval.objects.filter(correction=c).exists()


def test_database_refuses_a_self_approval_row(actor_for, incident, people):
    c = request(actor_for, incident, people["commander"], "disable_capability", params={"capability": "browsing"})
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.create(
            correction=c, approver=people["commander"], requester=people["commander"], decision="approve",
            content_hash=c.content_hash,
        )  # fmt: skip


def test_approving_twice_is_a_conflict(actor_for, incident, people):
    c = request(actor_for, incident, people["responder"], "pause_deployment", deployment="atlas-chat")
    approve(actor_for, c, people["leader1"])
    with pytest.raises(DomainError) as err:
        approve(actor_for, c, people["leader1"])
    assert err.value.code == "conflict"


def test_one_rejection_ends_the_request(actor_for, incident, people):
    c = request(actor_for, incident, people["responder"], "pause_deployment", deployment="atlas-chat")
    approve(actor_for, c, people["leader1"])
    services.correction_reject(actor=actor_for(people["commander"]), correction=c, comment="Too drastic.")
    c.refresh_from_db()
    assert c.state == State.REJECTED
    with pytest.raises(DomainError) as err:
        approve(actor_for, c, people["commander2"])
    assert err.value.code == "conflict"
    assert not OutboxEntry.objects.filter(correction=c).exists()


def test_request_past_its_ttl_cannot_be_approved_and_lapses(actor_for, incident, people):
    c = request(actor_for, incident, people["responder"], "disable_capability", params={"capability": "browsing"})
    Correction.objects.filter(pk=c.pk).update(pending_until=timezone.now() - timedelta(seconds=1))
    with pytest.raises(DomainError) as err:
        approve(actor_for, c, people["commander"])
    assert err.value.code == "conflict"
    c.refresh_from_db()
    assert c.state == State.LAPSED
    assert not Approval.objects.filter(correction=c).exists()


def test_sweep_lapses_requests_past_their_ttl(actor_for, incident, people):
    c = request(actor_for, incident, people["responder"], "disable_capability", params={"capability": "browsing"})
    fresh = request(actor_for, incident, people["responder"], "disable_capability", params={"capability": "audio"})
    lapsed = services.corrections_sweep_deadlines(
        actor=actor_for(people["admin"]), now=timezone.now() + timedelta(hours=4, seconds=1)
    )
    assert lapsed == 2
    c.refresh_from_db()
    assert c.state == State.LAPSED
    fresh.refresh_from_db()
    assert fresh.state == State.LAPSED
    assert services.corrections_sweep_deadlines(actor=actor_for(people["admin"])) == 0


def test_sweep_lapses_approved_corrections_past_their_execution_window(actor_for, incident, people, accounts):
    c = request(actor_for, incident, people["responder"], "block_accounts", params={"accounts": ["acct-bob"]})
    assert c.state == State.APPROVED
    services.corrections_sweep_deadlines(actor=actor_for(people["admin"]), now=timezone.now() + timedelta(hours=2))
    c.refresh_from_db()
    assert c.state == State.LAPSED
    assert OutboxEntry.objects.get(correction=c).done_at is not None


def test_editing_parameters_after_one_approval_voids_it(actor_for, incident, people):
    c = request(actor_for, incident, people["responder"], "rollback_model", params={"version": "atlas-1.9"})
    approve(actor_for, c, people["leader1"])
    services.correction_edit(actor=actor_for(people["responder"]), correction=c, duration_minutes=30)
    assert Approval.objects.get(correction=c).voided_at is not None
    approve(actor_for, c, people["commander"])
    c.refresh_from_db()
    assert c.state == State.PENDING_APPROVAL  # the leader's approval no longer counts
    approve(actor_for, c, people["leader1"])
    c.refresh_from_db()
    assert c.state == State.APPROVED


def test_an_edit_that_blanks_the_rationale_is_refused_and_changes_nothing(actor_for, incident, people):
    c = request(actor_for, incident, people["responder"], "rollback_model", params={"version": "atlas-1.9"})
    approve(actor_for, c, people["leader1"])
    with pytest.raises(DomainError) as err:
        services.correction_edit(actor=actor_for(people["responder"]), correction=c, duration_minutes=30, rationale=" ")
    assert list(err.value.fields) == ["rationale"]
    c.refresh_from_db()
    assert c.rationale and c.duration_minutes != 30
    assert Approval.objects.get(correction=c).voided_at is None  # the half-made edit voided nothing
    services.correction_edit(actor=actor_for(people["responder"]), correction=c, rationale="  Still needed.  ")
    c.refresh_from_db()
    assert c.rationale == "Still needed."


def test_policy_edit_does_not_change_a_pending_request(actor_for, incident, people):
    c = request(actor_for, incident, people["responder"], "disable_capability", params={"capability": "browsing"})
    old = ApprovalPolicy.objects.get(tier=2, is_current=True)
    ApprovalPolicy.objects.filter(pk=old.pk).update(is_current=False)
    ApprovalPolicy.objects.create(
        tier=2, version=2, requester_roles=old.requester_roles, is_current=True,
        requirements=[{"roles": ["leadership"], "count": 2}],
    )  # fmt: skip
    approve(actor_for, c, people["commander"])  # the snapshot still says one commander is enough
    c.refresh_from_db()
    assert c.state == State.APPROVED


def test_tier4_without_a_valid_second_factor_is_refused(actor_for, incident, people, totp_for):
    c = request(actor_for, incident, people["commander"], "withdraw_model", deployment=None, params={"model": "atlas"})
    with pytest.raises(DomainError) as err:
        approve(actor_for, c, people["leader1"], confirm_target="atlas", otp="123456")
    assert "otp" in err.value.fields  # not enrolled
    totp_for(people["leader1"])
    with pytest.raises(DomainError) as err:
        approve(actor_for, c, people["leader1"], confirm_target="atlas", otp="000000x")
    assert "otp" in err.value.fields
    assert not Approval.objects.filter(correction=c).exists()


def test_tier4_needs_the_target_typed_and_two_leaders_with_codes(actor_for, incident, people, totp_for):
    c = request(actor_for, incident, people["commander"], "withdraw_model", deployment=None, params={"model": "atlas"})
    code1, code2 = totp_for(people["leader1"]), totp_for(people["leader2"])
    with pytest.raises(DomainError) as err:
        approve(actor_for, c, people["leader1"], confirm_target="atlsa", otp=code1())
    assert "confirm_target" in err.value.fields
    approve(actor_for, c, people["leader1"], confirm_target="atlas", otp=code1())
    approve(actor_for, c, people["leader2"], confirm_target="atlas", otp=code2())
    c.refresh_from_db()
    assert c.state == State.APPROVED


def test_responder_may_not_request_tier4(actor_for, incident, people):
    with pytest.raises(DomainError) as err:
        request(actor_for, incident, people["responder"], "withdraw_model", deployment=None, params={"model": "atlas"})
    assert err.value.code == "forbidden"
    assert not Correction.objects.exists()


def test_destroy_weights_is_never_dispatched_and_is_confirmed_by_hand(actor_for, incident, people, totp_for):
    c = request(actor_for, incident, people["commander"], "destroy_weights", deployment=None, params={"model": "atlas"})
    code1, code2 = totp_for(people["leader1"]), totp_for(people["leader2"])
    approve(actor_for, c, people["leader1"], confirm_target="atlas", otp=code1())
    approve(actor_for, c, people["leader2"], confirm_target="atlas", otp=code2())
    c.refresh_from_db()
    assert c.state == State.APPROVED
    assert not OutboxEntry.objects.filter(correction=c).exists()
    services.correction_confirm_manual(
        actor=actor_for(people["leader1"]), correction=c, confirm_target="atlas", note="Done by infra, verified."
    )
    c.refresh_from_db()
    assert c.state == State.ACTIVE
    with pytest.raises(DomainError):
        services.correction_lift(actor=actor_for(people["leader1"]), correction=c, reason="undo")


def test_confirming_by_hand_needs_the_target_typed_and_a_note(actor_for, incident, people, totp_for):
    """The service itself refuses, whatever channel calls it: the page's form is not the only check."""
    c = request(actor_for, incident, people["commander"], "destroy_weights", deployment=None, params={"model": "atlas"})
    code1, code2 = totp_for(people["leader1"]), totp_for(people["leader2"])
    approve(actor_for, c, people["leader1"], confirm_target="atlas", otp=code1())
    approve(actor_for, c, people["leader2"], confirm_target="atlas", otp=code2())
    confirm = services.correction_confirm_manual
    with pytest.raises(DomainError) as err:
        confirm(actor=actor_for(people["leader1"]), correction=c, confirm_target="atlsa", note="Done, verified.")
    assert list(err.value.fields) == ["confirm_target"]
    with pytest.raises(DomainError) as err:
        confirm(actor=actor_for(people["leader1"]), correction=c, confirm_target=" atlas ", note="   ")
    assert list(err.value.fields) == ["note"]
    c.refresh_from_db()
    assert c.state == State.APPROVED and c.manual_confirmed_at is None
    confirm(actor=actor_for(people["leader1"]), correction=c, confirm_target=" atlas ", note="  Done, verified. ")
    assert ledger.LedgerEvent.objects.get(verb="correction.confirmed_manually").reason == "Done, verified."


def test_break_glass_runs_at_once_and_is_overdue_until_ratified(actor_for, incident, people):
    c = request(
        actor_for, incident, people["leader1"], "pause_deployment", deployment="atlas-chat",
        break_glass=True, justification="Active mass-casualty uplift; no time to wait.",
    )  # fmt: skip
    assert c.state == State.APPROVED
    assert c.ratification_due_at is not None and c.ratified_at is None
    assert OutboxEntry.objects.filter(correction=c).count() == 1
    approve(actor_for, c, people["leader2"])
    approve(actor_for, c, people["commander"])
    c.refresh_from_db()
    assert c.ratified_at is not None
    assert OutboxEntry.objects.filter(correction=c).count() == 1


def test_responder_cannot_break_glass(actor_for, incident, people):
    with pytest.raises(DomainError) as err:
        request(actor_for, incident, people["responder"], "pause_deployment", deployment="atlas-chat",
                break_glass=True)  # fmt: skip
    assert err.value.code == "forbidden"


def test_cancel_then_approve_is_a_conflict(actor_for, incident, people):
    c = request(actor_for, incident, people["responder"], "pause_deployment", deployment="atlas-chat")
    services.correction_cancel(actor=actor_for(people["responder"]), correction=c, reason="Wrong deployment.")
    with pytest.raises(DomainError) as err:
        approve(actor_for, c, people["leader1"])
    assert err.value.code == "conflict"


def test_every_step_is_a_ledger_event(actor_for, incident, people):
    c = request(actor_for, incident, people["responder"], "pause_deployment", deployment="atlas-chat")
    approve(actor_for, c, people["leader1"])
    approve(actor_for, c, people["commander"])
    verbs = list(
        ledger.LedgerEvent.objects.filter(object_type="corrections.correction", object_id=str(c.pk))
        .order_by("seq")
        .values_list("verb", flat=True)
    )
    assert verbs == [
        "correction.requested",
        "correction.approval_given",
        "correction.approval_given",
        "correction.approved",
    ]


def test_policy_update_writes_a_new_audited_version(actor_for, people):
    new = services.policy_update(
        actor=actor_for(people["admin"]), tier=2, changes={"pending_ttl_minutes": 60}, reason="Faster triage."
    )
    assert (new.version, new.pending_ttl_minutes, new.is_current) == (2, 60, True)
    assert ApprovalPolicy.objects.filter(tier=2).count() == 2
    event = ledger.LedgerEvent.objects.get(verb="policy.updated")
    assert event.before["pending_ttl_minutes"] == 240 and event.after["pending_ttl_minutes"] == 60


def test_policy_update_refuses_to_weaken_tier4_below_two_approvals(actor_for, people):
    with pytest.raises(DomainError) as err:
        services.policy_update(
            actor=actor_for(people["admin"]), tier=4, reason="oops",
            changes={"requirements": [{"roles": ["leadership"], "count": 1}]},
        )  # fmt: skip
    assert "requirements" in err.value.fields
    assert ApprovalPolicy.objects.filter(tier=4).count() == 1


def test_only_admins_edit_policies(actor_for, people):
    with pytest.raises(DomainError) as err:
        services.policy_update(actor=actor_for(people["leader1"]), tier=2, changes={}, reason="x")
    assert err.value.code == "forbidden"


def test_retrying_a_failed_apply_restarts_its_duration(actor_for, incident, people, accounts):
    c = request(actor_for, incident, people["responder"], "block_accounts", params={"accounts": ["acct-mallory"]},
                duration_minutes=60)  # fmt: skip
    worker = Actor.system("dispatch")
    services.dispatch_transition(worker, c, State.APPLYING, via=State.QUEUED)  # stamps the expiry
    services.dispatch_failed(worker, c, "apply", error="HTTP 400: invalid", attempts=1)
    Correction.objects.filter(pk=c.pk).update(expires_at=timezone.now() - timedelta(minutes=1))  # fixed 61 min later

    c = services.correction_retry(actor=actor_for(people["responder"]), correction=c, reason="schema fixed")
    assert (c.state, c.expires_at) == (State.QUEUED, None)
    services.dispatch_transition(worker, c, State.APPLYING)
    assert c.expires_at > timezone.now() + timedelta(minutes=59)


def test_wrong_second_factor_codes_are_throttled(actor_for, incident, people, totp_for):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    c = request(actor_for, incident, people["commander"], "withdraw_model", deployment=None, params={"model": "atlas"})
    code = totp_for(people["leader1"])
    with pytest.raises(DomainError):
        approve(actor_for, c, people["leader1"], confirm_target="atlas", otp="000000")
    assert TOTPDevice.objects.get(user=people["leader1"]).throttling_failure_count == 1  # kept, not rolled back
    with pytest.raises(DomainError):  # throttled: even the right code must wait
        approve(actor_for, c, people["leader1"], confirm_target="atlas", otp=code())
    assert not Approval.objects.filter(correction=c).exists()


def test_the_actions_offered_are_the_ones_the_services_accept(actor_for, incident, people):
    c = request(actor_for, incident, people["responder"], "pause_deployment", deployment="atlas-chat")
    offered = {name: services.correction_actions_for(user=people[name], correction=c)
               for name in ("responder", "commander", "leader1", "auditor")}  # fmt: skip
    assert offered == {
        "responder": {"cancel"},
        "commander": {"approve", "reject", "cancel"},
        "leader1": {"approve", "reject", "cancel"},
        "auditor": set(),
    }
    with pytest.raises(DomainError):  # and what is not offered is refused
        approve(actor_for, c, people["responder"])
