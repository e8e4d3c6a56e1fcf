"""The evidence gate (DESIGN §8, issue 13 §4): a rollback, capability restriction or shutdown on
a possibly reportable incident needs an evidence snapshot or a reasoned override; other
corrections and incidents assessed "not reportable" do not."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import LedgerEvent
from accounts.roles import Role
from config.errors import DomainError
from corrections import evidence_gate
from corrections import services as corrections
from corrections.catalogue import TYPES
from corrections.models import Correction
from incidents import reportability
from incidents.evidence.services import evidence_add

pytestmark = pytest.mark.evidence_gate  # the hook as production has it: every incident possibly reportable

OVERRIDE = "Weights are leaking now; a snapshot would take an hour."

# (type, deployment, params) for each catalogue type.
REQUESTS = {
    "block_accounts": ("atlas-api", {"accounts": []}),
    "restrict_access_tier": ("atlas-api", {"allowed_tiers": ["verified"]}),
    "rate_limit": ("atlas-api", {"scope": "deployment", "requests_per_minute": 10}),
    "disable_capability": ("atlas-api", {"capability": "code_execution"}),
    "tighten_safeguard": ("atlas-api", {"safeguard": "cbrn_classifier", "setting": "strict"}),
    "restrict_use_case": ("atlas-api", {"use_cases": ["bio_research"]}),
    "rollback_model": ("atlas-api", {"version": "atlas-1.9"}),
    "pause_deployment": ("atlas-api", {}),
    "withdraw_model": (None, {"model": "atlas"}),
    "destroy_weights": (None, {"model": "atlas"}),
}
GATED = {"disable_capability", "tighten_safeguard", "rollback_model", "pause_deployment", "withdraw_model",
         "destroy_weights"}  # fmt: skip


@pytest.fixture
def commander(make_user):
    return make_user(Role.INCIDENT_COMMANDER)


@pytest.fixture
def incident(make_incident, make_user):
    from incidents.models import CustomerAccount

    CustomerAccount.objects.get_or_create(account_id="acct-mallory")
    return make_incident(severity="SEV1")


def request(actor_for, user, incident, type, **kwargs):
    deployment, params = REQUESTS[type]
    if type == "block_accounts":
        params = {"accounts": ["acct-mallory"]}
    return corrections.correction_request(
        actor=actor_for(user), incident=incident, type=type, deployment=deployment, params=params,
        rationale="Contain it.", **kwargs,
    )  # fmt: skip


def test_the_catalogue_has_no_type_this_test_does_not_know():
    assert set(REQUESTS) == set(TYPES)
    assert {key for key, ctype in TYPES.items() if evidence_gate.is_gated(ctype)} == GATED


@pytest.mark.parametrize("type", sorted(GATED))
def test_a_gated_type_without_evidence_or_override_is_refused_and_nothing_recorded(
    actor_for, commander, incident, type
):
    with pytest.raises(DomainError) as refused:
        request(actor_for, commander, incident, type)

    assert refused.value.fields["evidence_id"] == [evidence_gate.NEEDED]
    assert not Correction.objects.exists() and not LedgerEvent.objects.filter(verb="correction.requested").exists()


@pytest.mark.parametrize("type", sorted(set(REQUESTS) - GATED))
def test_narrower_corrections_need_no_evidence(actor_for, commander, incident, type):
    correction = request(actor_for, commander, incident, type)
    assert correction.evidence is None and correction.evidence_override == ""


def test_an_incident_assessed_not_reportable_needs_no_evidence(actor_for, commander, incident):
    reportability.register(lambda i: i.pk == incident.pk)
    assert request(actor_for, commander, incident, "rollback_model").pk


def test_a_short_override_is_refused_with_its_minimum(actor_for, commander, incident):
    with pytest.raises(DomainError) as refused:
        request(actor_for, commander, incident, "pause_deployment", evidence_override="  because  ")
    assert "at least 20 characters" in refused.value.fields["evidence_override"][0]
    assert not Correction.objects.exists()


def test_an_override_is_recorded_on_the_correction_and_in_its_ledger_event(actor_for, commander, incident):
    correction = request(actor_for, commander, incident, "rollback_model", evidence_override=f"  {OVERRIDE} ")

    assert correction.evidence_override == OVERRIDE and correction.evidence is None
    event = LedgerEvent.objects.get(verb="correction.requested", object_id=str(correction.pk))
    assert event.after["evidence_override"] == OVERRIDE and event.after["evidence"] is None


def test_an_evidence_snapshot_is_recorded_with_its_hash(actor_for, commander, incident):
    evidence = evidence_add(actor=actor_for(commander), incident=incident,
                            upload=SimpleUploadedFile("state.json", b'{"routing": "atlas-2.0"}'))  # fmt: skip
    correction = request(actor_for, commander, incident, "rollback_model", evidence_id=evidence.pk)

    assert correction.evidence == evidence
    event = LedgerEvent.objects.get(verb="correction.requested", object_id=str(correction.pk))
    assert event.after["evidence"] == {"id": evidence.pk, "name": "state.json", "sha256": evidence.sha256}


def test_another_incidents_evidence_does_not_count(actor_for, commander, incident, make_incident):
    other = make_incident()
    elsewhere = evidence_add(actor=actor_for(commander), incident=other, upload=SimpleUploadedFile("a.txt", b"x\n"))
    with pytest.raises(DomainError) as refused:
        request(actor_for, commander, incident, "pause_deployment", evidence_id=elsewhere.pk)
    assert refused.value.fields["evidence_id"] == ["Choose evidence attached to this incident."]


def test_break_glass_needs_it_too_and_an_override_is_enough(actor_for, make_user, incident):
    leader = make_user(Role.LEADERSHIP)
    with pytest.raises(DomainError):
        request(actor_for, leader, incident, "pause_deployment", break_glass=True, justification="Mass harm now.")

    correction = request(actor_for, leader, incident, "pause_deployment", break_glass=True,
                         justification="Mass harm now.", evidence_override=OVERRIDE)  # fmt: skip
    assert correction.break_glass and correction.evidence_override == OVERRIDE


def test_the_api_names_the_field_and_shows_what_was_recorded(commander, incident, api_for):
    url = f"/api/v1/incidents/{incident.ref}/corrections/"
    body = {"type": "disable_capability", "deployment": "atlas-api", "params": {"capability": "browsing"},
            "rationale": "Contain it."}  # fmt: skip

    refused = api_for(commander).post(url, body, format="json")
    short = api_for(commander).post(url, body | {"evidence_override": "no"}, format="json")
    made = api_for(commander).post(url, body | {"evidence_override": OVERRIDE}, format="json")

    assert refused.status_code == 400 and refused.json()["errors"]["evidence_id"] == [evidence_gate.NEEDED]
    assert short.status_code == 400 and "evidence_override" in short.json()["errors"]
    assert made.status_code == 201 and made.json()["evidence_override"] == OVERRIDE and made.json()["evidence"] is None


def test_the_request_page_asks_for_evidence_and_keeps_the_choice_through_confirmation(
    commander, incident, actor_for, client_for
):
    evidence = evidence_add(actor=actor_for(commander), incident=incident,
                            upload=SimpleUploadedFile("routing.txt", b"atlas-api -> atlas-2.0\n"))  # fmt: skip
    client = client_for(commander)
    url = f"/incidents/{incident.ref}/corrections/new/?type=pause_deployment"
    form = {"type": "pause_deployment", "deployment": "atlas-api", "rationale": "Contain it."}

    page = client.get(url).content.decode()
    assert "Evidence before it changes" in page and "routing.txt" in page

    for step in ({}, {"confirmed": "yes"}):  # said before the confirmation step, and at it
        refused = client.post(url, form | step)
        assert refused.status_code == 400 and "may be reportable to a regulator" in refused.content.decode()

    confirm = client.post(url, form | {"evidence_id": str(evidence.pk)})
    assert confirm.status_code == 200 and f'value="{evidence.pk}"' in confirm.content.decode()  # carried, hidden
    made = client.post(url, form | {"evidence_id": str(evidence.pk), "confirmed": "yes"})
    assert made.status_code == 302
    assert Correction.objects.get().evidence == evidence


def test_the_request_page_does_not_ask_for_narrow_corrections(commander, incident, client_for):
    page = client_for(commander).get(f"/incidents/{incident.ref}/corrections/new/?type=block_accounts")
    assert "Evidence before it changes" not in page.content.decode()


def test_the_gate_asks_the_reportability_assessments(actor_for, commander, make_user, incident):
    """As wired in production: only when every regime's current assessment says "does not apply"."""
    from incidents.models.reporting import Regime
    from incidents.reporting import services as reporting

    leader = make_user(Role.LEADERSHIP)
    regimes = list(Regime.values)
    for regime in regimes[:-1]:
        reporting.assessment_record(
            actor=actor_for(leader), incident=incident, regime=regime, decision="does_not_apply",
            reason="No harm, no infrastructure, no infringement.", facts=None, milestones={},
        )  # fmt: skip
    with pytest.raises(DomainError):  # one regime not assessed yet: possibly reportable
        request(actor_for, commander, incident, "pause_deployment")
    reporting.assessment_record(
        actor=actor_for(leader), incident=incident, regime=regimes[-1], decision="does_not_apply",
        reason="No safety incident under RAISE.", facts=None, milestones={},
    )  # fmt: skip
    assert request(actor_for, commander, incident, "pause_deployment").pk
