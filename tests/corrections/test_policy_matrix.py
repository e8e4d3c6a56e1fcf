"""Every tier × role × (requester or not), checked against the table in DESIGN §3."""

import itertools

import pytest

from accounts.roles import Role
from config.errors import DomainError
from corrections import selectors, services
from corrections.models import State

# One representative type per tier, with its target and parameters.
TIER_TYPES = {
    1: ("block_accounts", "atlas-api", {"accounts": ["acct-mallory"]}),
    2: ("disable_capability", "atlas-api", {"capability": "browsing"}),
    3: ("pause_deployment", "atlas-chat", {}),
    4: ("withdraw_model", None, {"model": "atlas"}),
}
# DESIGN §3: who may request, and whose approval counts (never the requester's).
MAY_REQUEST = {
    1: {Role.RESPONDER, Role.INCIDENT_COMMANDER, Role.LEADERSHIP, Role.ADMIN},
    2: {Role.RESPONDER, Role.INCIDENT_COMMANDER, Role.LEADERSHIP, Role.ADMIN},
    3: {Role.RESPONDER, Role.INCIDENT_COMMANDER, Role.LEADERSHIP, Role.ADMIN},
    4: {Role.INCIDENT_COMMANDER, Role.LEADERSHIP, Role.ADMIN},
}
MAY_APPROVE = {
    1: set(),  # pre-authorised: nothing left to approve
    2: {Role.INCIDENT_COMMANDER, Role.LEADERSHIP},
    3: {Role.INCIDENT_COMMANDER, Role.LEADERSHIP},
    4: {Role.LEADERSHIP},
}

CASES = list(itertools.product(TIER_TYPES, list(Role), [True, False]))


@pytest.mark.parametrize(
    ("tier", "role", "is_requester"), CASES, ids=[f"tier{t}-{r}-{'own' if o else 'other'}" for t, r, o in CASES]
)
def test_policy_matrix(tier, role, is_requester, make_incident, make_user, actor_for, accounts, totp_for):
    type_, deployment, params = TIER_TYPES[tier]
    user = make_user(role)
    incident = make_incident(severity="SEV2")

    def ask(by):
        return services.correction_request(
            actor=actor_for(by), incident=incident, type=type_, deployment=deployment, params=params,
            rationale="matrix",
        )  # fmt: skip

    if is_requester:
        if role not in MAY_REQUEST[tier]:
            with pytest.raises(DomainError) as err:
                ask(user)
            assert err.value.code == "forbidden"
            return
        correction = ask(user)
        assert correction.tier == tier
    else:
        correction = ask(make_user(Role.INCIDENT_COMMANDER))

    code = totp_for(user)
    attempt = {"confirm_target": correction.target_name, "otp": code()} if tier == 4 else {}
    attempt["content_hash"] = correction.content_hash
    allowed = not is_requester and role in MAY_APPROVE[tier]
    if allowed:
        services.correction_approve(actor=actor_for(user), correction=correction, **attempt)
        correction.refresh_from_db()
        assert correction.approvals.filter(approver=user, decision="approve").exists()
    else:
        with pytest.raises(DomainError) as err:
            services.correction_approve(actor=actor_for(user), correction=correction, **attempt)
        # Own request, already approved (tier 1): conflict. A role the policy does not ask for: forbidden.
        expected = "conflict" if is_requester or tier == 1 else "forbidden"
        assert err.value.code == expected
        assert not correction.approvals.filter(approver=user).exists()
    if tier == 1:
        assert correction.state == State.APPROVED


# DESIGN §3: whoever edited what will run counts as a requester. Each tier that waits for sign-off
# × the would-be approver's role × who edited the request first.
EDITED_BY = ("nobody", "requester", "another_commander", "approver")
EDIT_CASES = list(itertools.product((2, 3, 4), list(Role), EDITED_BY))


@pytest.mark.parametrize(
    ("tier", "role", "edited_by"), EDIT_CASES, ids=[f"tier{t}-{r}-edited_by_{e}" for t, r, e in EDIT_CASES]
)
def test_policy_matrix_after_an_edit(tier, role, edited_by, make_incident, make_user, actor_for, accounts, totp_for):
    type_, deployment, params = TIER_TYPES[tier]
    requester = make_user(Role.RESPONDER if Role.RESPONDER in MAY_REQUEST[tier] else Role.INCIDENT_COMMANDER)
    approver = make_user(role)
    incident = make_incident(severity="SEV2")
    correction = services.correction_request(
        actor=actor_for(requester), incident=incident, type=type_, deployment=deployment, params=params,
        rationale="matrix",
    )  # fmt: skip
    editor = {"nobody": None, "requester": requester, "another_commander": make_user(Role.INCIDENT_COMMANDER),
              "approver": approver}[edited_by]  # fmt: skip
    edited = False
    if editor is not None:
        try:
            services.correction_edit(actor=actor_for(editor), correction=correction, duration_minutes=45)
            edited = True
        except DomainError as err:  # only the requester or a commander (or above) may edit
            assert err.code == "forbidden"
            assert editor is approver and role in (Role.RESPONDER, Role.AUDITOR)
    correction.refresh_from_db()
    attempt = {"content_hash": correction.content_hash}
    if tier == 4:
        attempt |= {"confirm_target": correction.target_name, "otp": totp_for(approver)()}
    approver_edited = edited and editor is approver
    if role in MAY_APPROVE[tier] and not approver_edited:
        services.correction_approve(actor=actor_for(approver), correction=correction, **attempt)
        assert correction.approvals.filter(approver=approver, voided_at=None, content_hash=attempt["content_hash"])
        return
    with pytest.raises(DomainError) as err:
        services.correction_approve(actor=actor_for(approver), correction=correction, **attempt)
    assert err.value.code == ("conflict" if approver_edited else "forbidden")
    assert not correction.approvals.filter(approver=approver).exists()
    # Nothing was filled: the policy still needs its full set of other people.
    assert selectors.signoff_status(selectors.correction_get_for(user=approver, pk=correction.pk)).missing == [
        {"roles": list(r["roles"]), "count": r["count"]} for r in correction.policy_snapshot["requirements"]
    ]
