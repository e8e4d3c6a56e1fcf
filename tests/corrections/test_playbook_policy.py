"""The playbook rules of corrections/policy.py, pure (no database): matching, overlap, which request
a leadership-approved playbook pre-authorises to tier 1, and who may approve that."""

import dataclasses
import itertools

import pytest

from corrections import policy
from corrections.catalogue import TYPES

CBRN = policy.Matcher(frozenset({"dangerous_capability"}), frozenset({"cbrn"}), "SEV2", 100)
INCIDENT = policy.IncidentProfile("dangerous_capability", "cbrn", "SEV1", frozenset({"atlas-api"}))
PREAUTH = policy.PreAuthorisation(
    version_id=7, label="cbrn-uplift v2", matcher=CBRN, type="disable_capability",
    params={"capability": "tool_use"}, duration_minutes=4320, approved=True,
)  # fmt: skip
REQUEST = policy.RequestFacts(
    type="disable_capability", tier=2, params={"capability": "tool_use"}, duration_minutes=4320,
    deployment="atlas-api",
)  # fmt: skip


@pytest.mark.parametrize(
    ("category", "domain", "severity", "expected"),
    [
        ("dangerous_capability", "cbrn", "SEV1", True),
        ("dangerous_capability", "cbrn", "SEV2", True),
        ("dangerous_capability", "cbrn", "SEV3", False),  # below the minimum severity
        ("misuse", "cbrn", "SEV1", False),  # another category
        ("dangerous_capability", "cyber", "SEV1", False),  # another risk domain
    ],
)
def test_matcher_reads_category_domain_and_minimum_severity(category, domain, severity, expected):
    assert CBRN.matches(policy.IncidentProfile(category, domain, severity)) is expected


def test_an_empty_matcher_list_means_any():
    anything = policy.Matcher(frozenset(), frozenset(), "SEV4", 1)
    assert all(
        anything.matches(policy.IncidentProfile(c, d, s))
        for c, d, s in itertools.product(["misuse", "security"], ["cbrn", "other"], ["SEV1", "SEV4"])
    )


@pytest.mark.parametrize(
    ("other", "overlaps"),
    [
        (policy.Matcher(frozenset({"dangerous_capability"}), frozenset({"cbrn"}), "SEV4", 100), True),
        (policy.Matcher(frozenset(), frozenset({"cbrn"}), "SEV1", 100), True),  # "any category" meets every one
        (policy.Matcher(frozenset({"dangerous_capability"}), frozenset({"cbrn"}), "SEV2", 101), False),  # priority
        (policy.Matcher(frozenset({"misuse"}), frozenset({"cbrn"}), "SEV2", 100), False),  # disjoint categories
        (policy.Matcher(frozenset({"dangerous_capability"}), frozenset({"cyber"}), "SEV2", 100), False),
    ],
)
def test_overlap_is_equal_priority_and_meeting_matchers(other, overlaps):
    assert CBRN.overlaps(other) is overlaps
    assert other.overlaps(CBRN) is overlaps


def test_best_match_takes_the_highest_priority_that_matches():
    broad = policy.Matcher(frozenset(), frozenset({"cbrn"}), "SEV4", 10)
    narrow_low_severity = policy.Matcher(frozenset(), frozenset({"cbrn"}), "SEV1", 500)
    candidates = [("broad", broad), ("cbrn", CBRN), ("sev1-only", narrow_low_severity)]
    assert policy.best_match(candidates, INCIDENT) == "sev1-only"
    assert policy.best_match(candidates, dataclasses.replace(INCIDENT, severity="SEV2")) == "cbrn"
    assert policy.best_match(candidates, dataclasses.replace(INCIDENT, severity="SEV4")) == "broad"
    assert policy.best_match(candidates, dataclasses.replace(INCIDENT, risk_domain="cyber")) is None


@pytest.mark.parametrize("key", list(TYPES))
def test_never_tier_4_never_destroy_weights(key):
    tier = TYPES[key].tier
    refusal = policy.preauthorisation_refusal(key, tier)
    assert (refusal is not None) is (tier >= 4 or key == "destroy_weights")


def test_matching_request_on_matching_incident_is_preauthorised():
    assert policy.preauthorised_by(REQUEST, INCIDENT, [PREAUTH]) == PREAUTH


# Each case breaks exactly one condition: the normal tier applies.
NOT_PREAUTHORISED = {
    "not approved by leadership": (REQUEST, INCIDENT, dataclasses.replace(PREAUTH, approved=False)),
    "another type": (dataclasses.replace(REQUEST, type="tighten_safeguard"), INCIDENT, PREAUTH),
    "other parameters": (dataclasses.replace(REQUEST, params={"capability": "browsing"}), INCIDENT, PREAUTH),
    "an extra parameter": (
        dataclasses.replace(REQUEST, params={"capability": "tool_use", "x": 1}), INCIDENT, PREAUTH
    ),
    "longer than named": (dataclasses.replace(REQUEST, duration_minutes=4321), INCIDENT, PREAUTH),
    "no expiry where one is named": (dataclasses.replace(REQUEST, duration_minutes=None), INCIDENT, PREAUTH),
    "incident below the minimum severity": (REQUEST, dataclasses.replace(INCIDENT, severity="SEV3"), PREAUTH),
    "incident in another risk domain": (REQUEST, dataclasses.replace(INCIDENT, risk_domain="cyber"), PREAUTH),
    "incident of another category": (REQUEST, dataclasses.replace(INCIDENT, category="security"), PREAUTH),
    "a deployment the incident does not name": (
        dataclasses.replace(REQUEST, deployment="atlas-chat"), INCIDENT, PREAUTH
    ),
    "break glass": (dataclasses.replace(REQUEST, break_glass=True), INCIDENT, PREAUTH),
    "tier 4": (
        dataclasses.replace(REQUEST, type="withdraw_model", tier=4, params={"model": "atlas"}, deployment=None),
        INCIDENT,
        dataclasses.replace(PREAUTH, type="withdraw_model", params={"model": "atlas"}),
    ),
    "destroy_weights": (
        dataclasses.replace(REQUEST, type="destroy_weights", tier=3, params={"model": "atlas"}),
        INCIDENT,
        dataclasses.replace(PREAUTH, type="destroy_weights", params={"model": "atlas"}),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(NOT_PREAUTHORISED))
def test_one_condition_missing_means_the_normal_tier(case):
    request, incident, preauth = NOT_PREAUTHORISED[case]
    assert policy.preauthorised_by(request, incident, [preauth]) is None


def test_a_shorter_duration_and_a_part_of_a_named_list_are_within():
    lists = dataclasses.replace(
        PREAUTH, type="block_accounts", params={"accounts": ["acct-a", "acct-b"]}, duration_minutes=None
    )
    request = dataclasses.replace(REQUEST, type="block_accounts", params={"accounts": ["acct-b"]})
    assert policy.preauthorised_by(request, INCIDENT, [lists]) == lists
    assert policy.preauthorised_by(dataclasses.replace(REQUEST, duration_minutes=60), INCIDENT, [PREAUTH]) == PREAUTH
    outside = dataclasses.replace(request, params={"accounts": ["acct-b", "acct-c"]})
    assert policy.preauthorised_by(outside, INCIDENT, [lists]) is None


FACTS = policy.PreAuthApproval(current=True, names_one=True, approved=False, author_id=1)


@pytest.mark.parametrize(
    ("facts", "user_id", "roles", "code"),
    [
        (FACTS, 2, {"leadership"}, None),
        (FACTS, 1, {"leadership"}, "conflict"),  # its author: no self-approval
        (FACTS, 2, {"incident_commander", "admin"}, "forbidden"),  # not leadership
        (dataclasses.replace(FACTS, current=False), 2, {"leadership"}, "conflict"),  # a stale version
        (dataclasses.replace(FACTS, approved=True), 2, {"leadership"}, "conflict"),  # twice
        (dataclasses.replace(FACTS, names_one=False), 2, {"leadership"}, "conflict"),  # nothing to approve
    ],
)
def test_who_may_approve_a_preauthorisation(facts, user_id, roles, code):
    refusal = policy.preauth_approval_refusal(facts, user_id, roles)
    assert (refusal.code if refusal else None) == code
