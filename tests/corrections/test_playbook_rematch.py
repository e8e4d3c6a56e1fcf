"""Re-matching when an incident's severity (or category, or risk domain) is changed, not only on
creation and escalation: a playbook is attached only when none is or a higher-priority one now
matches, and no checklist step is copied twice."""

import pytest

from accounts.roles import Role
from corrections import policy
from corrections.models import IncidentPlaybook
from corrections.playbooks import selectors
from incidents import services as incidents
from incidents.models import ChecklistItem


@pytest.fixture
def commander(make_user):
    return make_user(Role.INCIDENT_COMMANDER)


def _set_severity(actor, incident, severity):
    return incidents.incident_edit(actor=actor, incident=incident, changes={"severity": severity}, reason="triage")


def test_raising_the_severity_by_edit_attaches_the_playbook_it_now_matches(
    make_playbook, make_incident, commander, actor_for
):
    version = make_playbook()  # CBRN, SEV2 and worse
    incident = make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV3")
    assert selectors.playbook_for(incident) is None
    incident = _set_severity(actor_for(commander), incident, "SEV2")
    assert selectors.playbook_for(incident) == version
    assert IncidentPlaybook.objects.get(incident=incident).trigger == "changed"
    assert incident.checklist_total == ChecklistItem.objects.filter(incident=incident).count() == 3


def test_changing_the_severity_again_neither_reattaches_nor_duplicates_the_checklist(
    make_playbook, make_incident, commander, actor_for
):
    make_playbook()
    incident = make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV2")
    for severity in ("SEV1", "SEV2", "SEV1"):
        incident = _set_severity(actor_for(commander), incident, severity)
    assert IncidentPlaybook.objects.filter(incident=incident).count() == 1
    assert ChecklistItem.objects.filter(incident=incident).count() == 3


def test_a_higher_priority_playbook_matching_after_the_change_is_attached_without_repeating_shared_steps(
    make_playbook, make_incident, commander, actor_for
):
    broad = make_playbook("cbrn-any", priority=10, min_severity="SEV3", preauthorised_type="")
    sev1 = make_playbook(
        "cbrn-sev1", priority=50, min_severity="SEV1", preauthorised_type="",
        steps=["Preserve the transcripts", "Page the RSO now"],
    )  # fmt: skip
    incident = make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV3")
    assert selectors.playbook_for(incident) == broad
    incident = _set_severity(actor_for(commander), incident, "SEV1")
    assert selectors.playbook_for(incident) == sev1
    texts = list(ChecklistItem.objects.filter(incident=incident).order_by("position").values_list("text", flat=True))
    assert texts == [
        "Preserve the transcripts",
        "Disable tool use on the deployment",
        "Brief the RSO",
        "Page the RSO now",
    ]
    assert incident.checklist_total == 4


def test_lowering_the_severity_does_not_swap_in_a_lower_priority_playbook(
    make_playbook, make_incident, commander, actor_for
):
    make_playbook("cbrn-any", priority=10, min_severity="SEV4", preauthorised_type="")
    sev1 = make_playbook("cbrn-sev1", priority=50, min_severity="SEV1", preauthorised_type="")
    incident = make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV1")
    assert selectors.playbook_for(incident) == sev1
    incident = _set_severity(actor_for(commander), incident, "SEV3")
    assert selectors.playbook_for(incident) == sev1
    assert IncidentPlaybook.objects.filter(incident=incident).count() == 1


def test_changing_the_risk_domain_re_matches(make_playbook, make_incident, commander, actor_for):
    version = make_playbook()
    incident = make_incident(category="dangerous_capability", risk_domain="cyber", severity="SEV2")
    assert selectors.playbook_for(incident) is None
    incident = incidents.incident_edit(
        actor=actor_for(commander), incident=incident, changes={"risk_domain": "cbrn"}, reason="it is CBRN"
    )
    assert selectors.playbook_for(incident) == version


def test_an_edit_that_changes_nothing_relevant_attaches_nothing(make_playbook, make_incident, commander, actor_for):
    make_playbook(min_severity="SEV1")
    incident = make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV2")
    incidents.incident_edit(actor=actor_for(commander), incident=incident, changes={"title": "Renamed"})
    assert not IncidentPlaybook.objects.filter(incident=incident).exists()


@pytest.mark.parametrize(
    ("attached", "found", "attaches"),
    [
        (None, ("a", 10), True),
        (("a", 10), ("a", 99), False),  # the same playbook (a newer version) adds nothing
        (("a", 50), ("b", 10), False),
        (("a", 50), ("b", 50), False),
        (("a", 10), ("b", 50), True),
    ],
)
def test_rematch_rule(attached, found, attaches):
    def m(priority):
        return policy.Matcher(frozenset(), frozenset(), "SEV4", priority)

    assert (
        policy.rematch_attaches(
            attached=(attached[0], m(attached[1])) if attached else None, found=(found[0], m(found[1]))
        )
        is attaches
    )
