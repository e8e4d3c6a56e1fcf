"""Playbooks: bad ones refused with field-level messages, versions kept and ledgered, matching
incidents get the playbook and its checklist (on creation and escalation), and a leadership-approved
pre-authorisation lowers a matching request to tier 1 — and nothing else."""

import pytest

from accounts.models import LedgerEvent
from accounts.roles import Role
from config.errors import DomainError
from corrections import services
from corrections.events import CorrectionEvent
from corrections.models import IncidentPlaybook, Playbook, State
from corrections.playbooks import selectors
from corrections.playbooks import services as playbooks
from incidents import services as incidents
from incidents.events import IncidentEvent
from incidents.models import ChecklistItem
from tests.conftest import CBRN_PLAYBOOK


@pytest.fixture
def commander(registry, accounts, make_user):
    return make_user(Role.INCIDENT_COMMANDER)


def _create(actor, slug="cbrn-uplift", **changes):
    return playbooks.playbook_create(actor=actor, slug=slug, data=CBRN_PLAYBOOK | changes)


def _refusal(actor, **changes) -> DomainError:
    with pytest.raises(DomainError) as err:
        _create(actor, **changes)
    assert err.value.code == "invalid"
    return err.value


# --- bad playbooks --------------------------------------------------------------------------------


def test_unknown_correction_type_is_refused_on_its_field(commander, actor_for):
    error = _refusal(actor_for(commander), recommendations=[{"type": "unplug_everything", "params": {}}])
    assert "Unknown correction type" in error.fields["recommendations.0.type"][0]
    assert not Playbook.objects.exists()


def test_parameters_the_catalogue_rejects_are_refused_on_their_field(commander, actor_for):
    error = _refusal(
        actor_for(commander),
        recommendations=[{"type": "disable_capability", "params": {"capability": "telepathy"}}],
        preauthorised_type="",
    )
    assert "telepathy" in error.fields["recommendations.0.params.capability"][0]


def test_unknown_account_in_a_recommendation_is_refused(commander, actor_for):
    error = _refusal(
        actor_for(commander), recommendations=[{"type": "block_accounts", "params": {"accounts": ["acct-nobody"]}}],
        preauthorised_type="",
    )  # fmt: skip
    assert "acct-nobody" in error.fields["recommendations.0.params.accounts"][0]


def test_overlapping_matchers_at_the_same_priority_are_refused(commander, actor_for):
    _create(actor_for(commander))
    error = _refusal(actor_for(commander), slug="cbrn-broad", categories=[], preauthorised_type="")
    assert "cbrn-uplift" in error.fields["priority"][0]
    # At another priority it is not ambiguous: the higher one wins.
    assert _create(actor_for(commander), slug="cbrn-broad", categories=[], priority=50).number == 1


def test_an_inactive_version_does_not_count_as_an_overlap(commander, actor_for):
    version = _create(actor_for(commander))
    playbooks.playbook_version_create(actor=actor_for(commander), playbook=version.playbook,
                                      data=CBRN_PLAYBOOK | {"active": False})  # fmt: skip
    assert _create(actor_for(commander), slug="cbrn-other").number == 1


@pytest.mark.parametrize(
    ("recommendation", "why"),
    [
        ({"type": "withdraw_model", "params": {"model": "atlas"}}, "tier 4"),
        ({"type": "destroy_weights", "params": {"model": "atlas"}}, "destroy_weights"),
    ],
)
def test_preauthorising_tier_4_or_destroy_weights_is_refused(commander, actor_for, recommendation, why):
    error = _refusal(actor_for(commander), recommendations=[recommendation], preauthorised_type=recommendation["type"])
    assert why in error.fields["preauthorised_type"][0]


def test_preauthorising_something_not_recommended_is_refused(commander, actor_for):
    error = _refusal(actor_for(commander), preauthorised_type="pause_deployment")
    assert "preauthorised_type" in error.fields


def test_several_bad_fields_are_named_at_once(commander, actor_for):
    error = _refusal(
        actor_for(commander), title="", min_severity="SEV9", steps=[],
        escalation_criteria=[{"text": "x", "severity": "SEV0", "risk_domain": "weather"}],
    )  # fmt: skip
    assert {"title", "min_severity", "steps", "escalation_criteria.0.severity",
            "escalation_criteria.0.risk_domain"} <= set(error.fields)  # fmt: skip


@pytest.mark.parametrize("role", [Role.RESPONDER, Role.LEADERSHIP, Role.AUDITOR])
def test_only_admins_and_commanders_write_playbooks(registry, role, make_user, actor_for):
    with pytest.raises(DomainError) as err:
        _create(actor_for(make_user(role)))
    assert err.value.code == "forbidden"


def test_admin_may_write_a_playbook(registry, make_user, actor_for):
    assert _create(actor_for(make_user(Role.ADMIN))).number == 1


# --- versions ------------------------------------------------------------------------------------


def test_each_save_is_a_new_version_and_a_ledger_event(commander, actor_for):
    first = _create(actor_for(commander))
    second = playbooks.playbook_version_create(
        actor=actor_for(commander), playbook=first.playbook, data=CBRN_PLAYBOOK | {"steps": ["Only step"]}
    )
    first.refresh_from_db()
    assert (first.number, first.is_current, first.steps) == (1, False, CBRN_PLAYBOOK["steps"])  # kept as it was
    assert (second.number, second.is_current, second.steps) == (2, True, ["Only step"])
    verbs = list(LedgerEvent.objects.filter(object_type="corrections.playbookversion").values_list("verb", flat=True))
    assert verbs == [CorrectionEvent.PLAYBOOK_CREATED, CorrectionEvent.PLAYBOOK_VERSIONED]


def test_a_new_version_needs_leadership_approval_again(make_playbook, make_user, actor_for):
    approved = make_playbook(approve=True)
    assert approved.preauthorised
    newer = playbooks.playbook_version_create(
        actor=actor_for(make_user(Role.ADMIN)), playbook=approved.playbook, data=CBRN_PLAYBOOK
    )
    assert not newer.preauthorised


def test_the_author_of_a_version_cannot_approve_its_preauthorisation(registry, make_user, actor_for):
    leader_author = make_user(Role.LEADERSHIP)
    leader_author.groups.add(*make_user(Role.INCIDENT_COMMANDER).groups.all())  # a leader who also commands
    version = _create(actor_for(leader_author))
    with pytest.raises(DomainError) as err:
        playbooks.playbook_preauth_approve(actor=actor_for(leader_author), version=version)
    assert err.value.code == "conflict"
    version.refresh_from_db()
    assert version.preauth_approved_at is None


def test_a_commander_cannot_approve_a_preauthorisation(make_playbook, make_user, actor_for):
    with pytest.raises(DomainError) as err:
        playbooks.playbook_preauth_approve(actor=actor_for(make_user(Role.INCIDENT_COMMANDER)), version=make_playbook())
    assert err.value.code == "forbidden"


def test_a_superseded_version_cannot_be_approved(make_playbook, make_user, actor_for):
    old = make_playbook()
    playbooks.playbook_version_create(actor=actor_for(make_user(Role.ADMIN)), playbook=old.playbook, data=CBRN_PLAYBOOK)
    with pytest.raises(DomainError) as err:
        playbooks.playbook_preauth_approve(actor=actor_for(make_user(Role.LEADERSHIP)), version=old)
    assert err.value.code == "conflict"


def test_approval_is_ledgered(make_playbook):
    version = make_playbook(approve=True)
    event = LedgerEvent.objects.get(verb=CorrectionEvent.PLAYBOOK_PREAUTH_APPROVED)
    assert event.object_id == str(version.pk)
    assert event.after["preauthorised_type"] == "disable_capability"


# --- matching: the playbook and its checklist come onto the incident -------------------------------


def test_a_matching_incident_gets_the_playbook_and_its_checklist(make_playbook, make_incident):
    version = make_playbook()
    incident = make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV2")
    assert selectors.playbook_for(incident) == version
    assert [i.text for i in incident.checklist.all()] == CBRN_PLAYBOOK["steps"]
    assert (incident.checklist_done, incident.checklist_total) == (0, 3)
    verbs = set(LedgerEvent.objects.filter(incident_ref=incident.ref).values_list("verb", flat=True))
    assert {CorrectionEvent.PLAYBOOK_ATTACHED, IncidentEvent.CHECKLIST_ADDED} <= verbs


def test_an_incident_that_does_not_match_gets_nothing(make_playbook, make_incident):
    make_playbook()
    incident = make_incident(category="dangerous_capability", risk_domain="cyber", severity="SEV1")
    assert selectors.playbook_for(incident) is None
    assert not incident.checklist.exists()


def test_escalation_attaches_a_playbook_the_incident_now_matches(make_playbook, make_incident, make_user, actor_for):
    version = make_playbook()
    incident = make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV3")
    assert selectors.playbook_for(incident) is None
    incidents.incident_escalate(actor=actor_for(make_user()), incident=incident, reason="uplift", severity="SEV2")
    assert selectors.playbook_for(incident) == version
    assert IncidentPlaybook.objects.get(incident=incident).trigger == "escalated"
    # Escalating again does not copy the same checklist twice.
    incidents.incident_escalate(actor=actor_for(make_user()), incident=incident, reason="worse", severity="SEV1")
    assert ChecklistItem.objects.filter(incident=incident).count() == 3


def test_the_highest_priority_playbook_wins(make_playbook, make_incident):
    make_playbook("cbrn-any", categories=[], priority=10, preauthorised_type="")
    specific = make_playbook("cbrn-uplift", priority=20)
    incident = make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV1")
    assert selectors.playbook_for(incident) == specific


# --- the checklist ---------------------------------------------------------------------------------


def test_ticking_records_who_and_when_and_is_on_the_timeline(make_playbook, make_incident, make_user, actor_for):
    make_playbook()
    incident = make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV2")
    item = incident.checklist.first()
    responder = make_user()
    ticked = incidents.checklist_item_tick(actor=actor_for(responder), incident=incident, item_id=item.pk)
    assert ticked.ticked_by == responder and ticked.ticked_at is not None
    incident.refresh_from_db()
    assert (incident.checklist_done, incident.checklist_total) == (1, 3)
    event = LedgerEvent.objects.get(verb=IncidentEvent.CHECKLIST_TICKED)
    assert (event.incident_ref, event.after["step"], event.after["progress"]) == (incident.ref, item.text, "1/3")


def test_ticking_twice_is_refused_and_counts_once(make_playbook, make_incident, make_user, actor_for):
    make_playbook()
    incident = make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV2")
    item = incident.checklist.first()
    incidents.checklist_item_tick(actor=actor_for(make_user()), incident=incident, item_id=item.pk)
    with pytest.raises(DomainError) as err:
        incidents.checklist_item_tick(actor=actor_for(make_user()), incident=incident, item_id=item.pk)
    assert err.value.code == "conflict"
    incident.refresh_from_db()
    assert incident.checklist_done == 1


def test_a_step_of_another_incident_cannot_be_ticked_through_this_one(
    make_playbook, make_incident, make_user, actor_for
):
    make_playbook()
    mine = make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV2")
    other = make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV2")
    with pytest.raises(DomainError) as err:
        incidents.checklist_item_tick(actor=actor_for(make_user()), incident=mine, item_id=other.checklist.first().pk)
    assert err.value.code == "not_found"


def test_an_auditor_cannot_tick(make_playbook, make_incident, make_user, actor_for):
    make_playbook()
    incident = make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV2")
    with pytest.raises(DomainError) as err:
        incidents.checklist_item_tick(
            actor=actor_for(make_user(Role.AUDITOR)), incident=incident, item_id=incident.checklist.first().pk
        )
    assert err.value.code == "forbidden"


# --- pre-authorisation (acceptance: issue 12) --------------------------------------------------------


def _request(incident, by, actor_for, **changes):
    kwargs = {"type": "disable_capability", "deployment": "atlas-api", "params": {"capability": "tool_use"},
              "duration_minutes": 4320, "rationale": "playbook says so"} | changes  # fmt: skip
    return services.correction_request(actor=actor_for(by), incident=incident, **kwargs)


def test_a_tier_2_correction_named_by_an_approved_playbook_runs_without_sign_off(
    make_playbook, make_incident, make_user, actor_for, task_sends
):
    version = make_playbook(approve=True)
    incident = make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV2")
    correction = _request(incident, make_user(), actor_for)
    assert correction.state == State.APPROVED  # no sign-off needed
    assert correction.tier == 1 and correction.playbook_version == version
    event = LedgerEvent.objects.get(verb=CorrectionEvent.REQUESTED, object_id=str(correction.pk))
    assert (event.after["preauthorised_by"], event.after["normal_tier"]) == ("cbrn-uplift v1", 2)
    assert correction.outbox.filter(action="apply").exists()  # on its way to the actuator


def test_the_same_request_on_an_incident_the_playbook_does_not_match_needs_sign_off(
    make_playbook, make_incident, make_user, actor_for, task_sends
):
    make_playbook(approve=True)
    incident = make_incident(category="dangerous_capability", risk_domain="cyber", severity="SEV1")
    correction = _request(incident, make_user(), actor_for)
    assert (correction.state, correction.tier, correction.playbook_version) == (State.PENDING_APPROVAL, 2, None)
    assert not correction.outbox.exists()


def test_without_leadership_approval_nothing_is_preauthorised(make_playbook, make_incident, make_user, actor_for):
    make_playbook(approve=False)
    incident = make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV2")
    correction = _request(incident, make_user(), actor_for)
    assert (correction.state, correction.tier) == (State.PENDING_APPROVAL, 2)


@pytest.mark.parametrize(
    "changes",
    [
        {"params": {"capability": "browsing"}},  # other parameters
        {"duration_minutes": 10_000},  # longer than the playbook names
        {"deployment": "atlas-chat"},  # a deployment the incident does not name
    ],
)
def test_a_request_outside_what_the_playbook_names_gets_the_normal_tier(
    make_playbook, make_incident, make_user, actor_for, changes
):
    make_playbook(approve=True)
    incident = make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV2")
    correction = _request(incident, make_user(), actor_for, **changes)
    assert (correction.state, correction.tier, correction.playbook_version) == (State.PENDING_APPROVAL, 2, None)


def test_lifting_a_preauthorised_tier_3_correction_early_still_needs_leadership(
    make_playbook, make_incident, make_user, actor_for, task_sends
):
    make_playbook(
        approve=True, recommendations=[{"type": "pause_deployment", "params": {}}],
        preauthorised_type="pause_deployment",
    )  # fmt: skip
    incident = make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV2")
    correction = _request(incident, make_user(), actor_for, type="pause_deployment", params={}, duration_minutes=None)
    assert (correction.state, correction.tier) == (State.APPROVED, 1)
    correction.state = State.ACTIVE
    correction.save(update_fields=["state"])
    services.correction_lift(actor=actor_for(make_user()), correction=correction, reason="over")
    correction.refresh_from_db()
    assert correction.state == State.ACTIVE  # asked, not started
    assert correction.lift_requests.filter(state="pending").exists()
