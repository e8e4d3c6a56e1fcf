"""Playbook pages (issue 12 §1): everyone with a role reads the list and every version with what it
changed; admins and commanders write a new playbook or version through the API's own validation, its
messages next to the fields; leadership (not the author) approves a pre-authorisation after a
confirmation step."""

import json

import pytest
from django.urls import reverse

from accounts.models import LedgerEvent
from accounts.roles import Role
from corrections.events import CorrectionEvent
from corrections.models import Playbook, PlaybookVersion
from tests.conftest import CBRN_PLAYBOOK


def _form_data(**changes) -> dict:
    data = {
        "title": CBRN_PLAYBOOK["title"], "active": "on", "categories": CBRN_PLAYBOOK["categories"],
        "risk_domains": CBRN_PLAYBOOK["risk_domains"], "min_severity": "SEV2", "priority": "100",
        "steps": "\n".join(CBRN_PLAYBOOK["steps"]),
        "escalation_criteria": json.dumps(CBRN_PLAYBOOK["escalation_criteria"]),
        "recommendations": json.dumps(CBRN_PLAYBOOK["recommendations"]),
        "preauthorised_type": "disable_capability", "note": "",
    }  # fmt: skip
    data.update(changes)
    return data


@pytest.fixture
def version(make_playbook):
    return make_playbook()


# --- reading ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_every_role_reads_the_list_and_the_detail(version, make_user, client_for, role):
    client = client_for(make_user(role))
    page = client.get(reverse("playbook-list"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "CBRN uplift via a tool" in body and "v1" in body and "SEV2 and worse" in body
    assert "awaiting leadership" in body  # named but not approved yet
    detail = client.get(reverse("playbook-detail", args=[version.playbook_id]))
    assert detail.status_code == 200 and "Preserve the transcripts" in detail.content.decode()


def test_without_a_role_the_pages_are_refused(version, make_user, client_for):
    client = client_for(make_user(None))
    assert client.get(reverse("playbook-list")).status_code == 403
    assert client.get(reverse("playbook-detail", args=[version.playbook_id])).status_code == 403


def test_the_list_is_in_the_nav_and_has_an_empty_state(db, make_user, client_for):
    body = client_for(make_user()).get(reverse("playbook-list")).content.decode()
    assert 'href="/playbooks/" aria-current="page"' in body and "No playbooks yet." in body


def test_an_unknown_playbook_or_version_is_404(version, make_user, client_for):
    leader = client_for(make_user(Role.LEADERSHIP))
    assert leader.get(reverse("playbook-detail", args=[version.playbook_id + 999])).status_code == 404
    url = reverse("playbook-preauth-approve", args=[version.playbook_id, 7])
    assert leader.get(url).status_code == 404


def test_the_detail_shows_what_each_version_changed(version, make_user, client_for, actor_for):
    from corrections.playbooks import services as playbooks

    editor = make_user(Role.ADMIN)
    playbooks.playbook_version_create(
        actor=actor_for(editor), playbook=version.playbook,
        data=CBRN_PLAYBOOK | {"steps": ["Preserve the transcripts", "Page the RSO"], "priority": 120,
                              "note": "RSO is paged, not briefed"},
    )  # fmt: skip
    page = client_for(make_user()).get(reverse("playbook-detail", args=[version.playbook_id]))
    rows = page.context["rows"]
    assert [row.version.number for row in rows] == [2, 1]
    changes = {c.field: c for c in rows[0].changes}
    assert set(changes) == {"Priority", "Checklist"}
    assert (changes["Priority"].before, changes["Priority"].after) == ("100", "120")
    assert changes["Checklist"].added == ("Page the RSO",)
    assert changes["Checklist"].removed == ("Disable tool use on the deployment", "Brief the RSO")
    assert rows[1].changes == []
    body = page.content.decode()
    assert "What changed from v1" in body and "Page the RSO" in body and "RSO is paged, not briefed" in body


# --- writing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADMIN, Role.INCIDENT_COMMANDER])
def test_an_editor_saves_a_new_version_from_the_page(version, make_user, client_for, role):
    client = client_for(make_user(role))
    url = reverse("playbook-version-new", args=[version.playbook_id])
    form = client.get(url).context["form"]
    assert form.initial["steps"].splitlines() == CBRN_PLAYBOOK["steps"]  # starts from the current version
    data = _form_data(priority="110", note="Higher priority", submit_token=form["submit_token"].value())
    response = client.post(url, data)
    assert response.status_code == 302 and response["Location"] == f"/playbooks/{version.playbook_id}/"
    current = PlaybookVersion.objects.get(playbook=version.playbook, is_current=True)
    assert (current.number, current.priority, current.preauth_approved_at) == (2, 110, None)
    assert LedgerEvent.objects.filter(verb=CorrectionEvent.PLAYBOOK_VERSIONED, object_id=str(current.pk)).exists()
    # The same form posted again (a double click) makes nothing more.
    again = client.post(url, data)
    assert again.status_code == 302 and PlaybookVersion.objects.filter(playbook=version.playbook).count() == 2


def test_a_new_playbook_from_the_page(db, registry, make_user, client_for):
    client = client_for(make_user(Role.INCIDENT_COMMANDER))
    response = client.post(reverse("playbook-new"), _form_data(slug="cbrn-uplift"))
    assert response.status_code == 302
    playbook = Playbook.objects.get(slug="cbrn-uplift")
    assert playbook.versions.get().steps == CBRN_PLAYBOOK["steps"]


@pytest.mark.parametrize("role", [Role.RESPONDER, Role.LEADERSHIP, Role.AUDITOR])
def test_others_may_not_write_versions(version, make_user, client_for, role):
    client = client_for(make_user(role))
    url = reverse("playbook-version-new", args=[version.playbook_id])
    assert client.get(url).status_code == 403
    assert client.post(url, _form_data(priority="110")).status_code == 403
    assert client.post(reverse("playbook-new"), _form_data(slug="x")).status_code == 403
    assert PlaybookVersion.objects.filter(playbook=version.playbook).count() == 1


def test_bad_content_is_refused_with_messages_next_to_the_fields(version, make_user, client_for):
    client = client_for(make_user(Role.INCIDENT_COMMANDER))
    bad = _form_data(
        recommendations=json.dumps([{"type": "launch_rockets"},
                                    {"type": "disable_capability", "params": {"capability": "telepathy"}}]),
        escalation_criteria="[{not json",
        preauthorised_type="",
    )  # fmt: skip
    response = client.post(reverse("playbook-version-new", args=[version.playbook_id]), bad)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "Not valid JSON" in errors["escalation_criteria"][0]
    # JSON fine elsewhere: the content checker's verdict comes only once the form parses; fix it and see.
    bad["escalation_criteria"] = ""
    response = client.post(reverse("playbook-version-new", args=[version.playbook_id]), bad)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert any(m.startswith("item 1, type:") for m in errors["recommendations"]), errors
    assert any(m.startswith("item 2, params.capability:") for m in errors["recommendations"]), errors
    assert "has-error" in response.content.decode()
    assert PlaybookVersion.objects.filter(playbook=version.playbook).count() == 1


def test_overlapping_matchers_are_refused_on_the_priority_field(version, make_user, client_for):
    client = client_for(make_user(Role.ADMIN))
    response = client.post(reverse("playbook-new"), _form_data(slug="cbrn-too", preauthorised_type=""))
    assert response.status_code == 400
    assert "cbrn-uplift" in response.context["form"].errors["priority"][0]


def test_a_tier_4_pre_authorisation_is_refused_on_its_field(db, registry, make_user, client_for):
    client = client_for(make_user(Role.ADMIN))
    recs = [{"type": "withdraw_model", "params": {"model": "atlas"}}]
    data = _form_data(slug="exfil", recommendations=json.dumps(recs), preauthorised_type="withdraw_model")
    response = client.post(reverse("playbook-new"), data)
    assert response.status_code == 400
    assert "never pre-authorised" in response.context["form"].errors["preauthorised_type"][0]


# --- approving the pre-authorisation -------------------------------------------------------------------


def test_leadership_approves_after_a_confirmation_step(version, make_user, client_for):
    leader = make_user(Role.LEADERSHIP)
    client = client_for(leader)
    detail = client.get(reverse("playbook-detail", args=[version.playbook_id]))
    url = reverse("playbook-preauth-approve", args=[version.playbook_id, 1])
    assert detail.context["can_approve"] and url in detail.content.decode()
    confirm = client.get(url)
    assert confirm.status_code == 200 and "at tier 1, without further sign-off" in confirm.content.decode()
    unconfirmed = client.post(url, {"comment": "ok"})
    assert unconfirmed.status_code == 400 and "confirm" in unconfirmed.context["form"].errors
    assert PlaybookVersion.objects.get(pk=version.pk).preauth_approved_at is None
    done = client.post(url, {"comment": "Reviewed with the RSO", "confirm": "on"})
    assert done.status_code == 302
    version.refresh_from_db()
    assert version.preauth_approved_by == leader
    event = LedgerEvent.objects.get(verb=CorrectionEvent.PLAYBOOK_PREAUTH_APPROVED, object_id=str(version.pk))
    assert event.reason == "Reviewed with the RSO"
    # Approved: no button any more, and a second approval is refused.
    assert not client.get(reverse("playbook-detail", args=[version.playbook_id])).context["can_approve"]
    assert client.post(url, {"confirm": "on"}).status_code == 409


def test_the_author_cannot_approve_their_own_version(db, registry, make_user, client_for, actor_for):
    from corrections.playbooks import services as playbooks

    author = make_user(Role.LEADERSHIP)
    author.groups.add(*make_user(Role.INCIDENT_COMMANDER).groups.all())  # a leader who also edits playbooks
    version = playbooks.playbook_create(actor=actor_for(author), slug="cbrn-uplift", data=CBRN_PLAYBOOK)
    client = client_for(author)
    assert not client.get(reverse("playbook-detail", args=[version.playbook_id])).context["can_approve"]
    url = reverse("playbook-preauth-approve", args=[version.playbook_id, 1])
    assert "someone else in leadership" in client.get(url).content.decode()
    response = client.post(url, {"confirm": "on"})
    assert response.status_code == 409
    assert PlaybookVersion.objects.get(pk=version.pk).preauth_approved_at is None


@pytest.mark.parametrize("role", [Role.RESPONDER, Role.INCIDENT_COMMANDER, Role.ADMIN, Role.AUDITOR])
def test_only_leadership_reaches_the_approval(version, make_user, client_for, role):
    client = client_for(make_user(role))
    url = reverse("playbook-preauth-approve", args=[version.playbook_id, 1])
    assert client.get(url).status_code == 403
    assert client.post(url, {"confirm": "on"}).status_code == 403
    assert PlaybookVersion.objects.get(pk=version.pk).preauth_approved_at is None


def test_an_old_version_cannot_be_approved(version, make_user, client_for, actor_for):
    from corrections.playbooks import services as playbooks

    playbooks.playbook_version_create(
        actor=actor_for(make_user(Role.ADMIN)), playbook=version.playbook, data=CBRN_PLAYBOOK | {"priority": 101}
    )
    client = client_for(make_user(Role.LEADERSHIP))
    url = reverse("playbook-preauth-approve", args=[version.playbook_id, 1])
    assert "Only the current version" in client.get(url).content.decode()
    assert client.post(url, {"confirm": "on"}).status_code == 409


def test_the_django_admin_shows_playbooks_read_only(version, admin_client):
    for url in (
        "/admin/corrections/playbook/",
        f"/admin/corrections/playbook/{version.playbook_id}/change/",
        "/admin/corrections/playbookversion/",
        f"/admin/corrections/playbookversion/{version.pk}/change/",
    ):
        assert admin_client.get(url).status_code == 200, url
    assert admin_client.get("/admin/corrections/playbook/add/").status_code == 403
    response = admin_client.post(f"/admin/corrections/playbookversion/{version.pk}/change/", {"priority": 1})
    assert response.status_code == 403
    assert PlaybookVersion.objects.get(pk=version.pk).priority == 100
