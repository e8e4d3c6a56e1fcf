"""The policy a request is held to is a frozen PolicySnapshot; the JSON it is stored as keeps the
shape rows have always had, so existing corrections still load."""

import dataclasses

import pytest

from corrections import services
from corrections.models import ApprovalPolicy, Correction
from corrections.policy import PolicySnapshot

# A tier 4 snapshot exactly as rows written before PolicySnapshot existed hold it.
STORED = {
    "policy_id": 4,
    "tier": 4,
    "version": 3,
    "requester_roles": ["incident_commander", "leadership"],
    "requirements": [{"roles": ["leadership"], "count": 2}],
    "pending_ttl_minutes": 60,
    "execution_window_minutes": 30,
    "requires_second_factor": True,
    "requires_typed_confirmation": True,
    "break_glass_roles": ["leadership"],
    "sev1_commander_may_break_glass": False,
    "ratification_hours": 24,
}


def test_a_stored_snapshot_loads_and_writes_back_key_for_key_in_the_same_order():
    snapshot = PolicySnapshot.from_dict(STORED)
    assert snapshot.requirements == ({"roles": ["leadership"], "count": 2},)
    assert snapshot.requires_second_factor is True
    assert list(snapshot.as_dict().items()) == list(STORED.items())


def test_a_snapshot_missing_a_key_is_refused_not_defaulted():
    partial = {k: v for k, v in STORED.items() if k != "requires_second_factor"}
    with pytest.raises(KeyError, match="requires_second_factor"):
        PolicySnapshot.from_dict(partial)


def test_a_snapshot_cannot_be_changed_once_taken():
    snapshot = PolicySnapshot.from_dict(STORED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.requires_second_factor = False  # type: ignore[misc]
    snapshot.as_dict()["requirements"][0]["count"] = 1  # a copy: the snapshot keeps its own
    assert snapshot.requirements[0]["count"] == 2


@pytest.mark.django_db
def test_a_request_stores_its_policy_as_the_same_json_and_reads_it_back(actor_for, make_incident, people, accounts):
    incident = make_incident(by=people["responder"], severity="SEV1")
    rule = ApprovalPolicy.objects.get(tier=4, is_current=True)
    correction = services.correction_request(
        actor=actor_for(people["commander"]), incident=incident, type="withdraw_model", deployment=None,
        params={"model": "atlas"}, rationale="Weights may be exfiltrated.",
    )  # fmt: skip
    stored = Correction.objects.get(pk=correction.pk)
    assert stored.policy_snapshot == {
        "policy_id": rule.pk, "tier": 4, "version": rule.version, "requester_roles": rule.requester_roles,
        "requirements": rule.requirements, "pending_ttl_minutes": rule.pending_ttl_minutes,
        "execution_window_minutes": rule.execution_window_minutes,
        "requires_second_factor": rule.requires_second_factor,
        "requires_typed_confirmation": rule.requires_typed_confirmation,
        "break_glass_roles": rule.break_glass_roles,
        "sev1_commander_may_break_glass": rule.sev1_commander_may_break_glass,
        "ratification_hours": rule.ratification_hours,
    }  # fmt: skip
    assert stored.policy_at_request == rule.snapshot()


@pytest.mark.django_db
def test_a_request_keeps_its_snapshot_when_the_policy_changes(actor_for, make_incident, people, accounts):
    incident = make_incident(by=people["responder"], severity="SEV1")
    correction = services.correction_request(
        actor=actor_for(people["commander"]), incident=incident, type="withdraw_model", deployment=None,
        params={"model": "atlas"}, rationale="Weights may be exfiltrated.",
    )  # fmt: skip
    before = Correction.objects.get(pk=correction.pk).policy_at_request
    services.policy_update(
        actor=actor_for(people["admin"]), tier=4, changes={"pending_ttl_minutes": 5}, reason="Faster."
    )
    after = Correction.objects.get(pk=correction.pk).policy_at_request
    assert after == before and after.pending_ttl_minutes != 5
