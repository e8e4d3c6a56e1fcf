"""The incident page's playbook and checklist: one click from a recommendation to the request form
filled in, ticks with who and when on the timeline, and progress in the incident list."""

from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from accounts.roles import Role
from incidents import services as incidents


@pytest.fixture
def cbrn(make_playbook, make_incident):
    version = make_playbook(approve=True)
    incident = make_incident(category="dangerous_capability", risk_domain="cbrn", severity="SEV2")
    return version, incident


def test_the_incident_page_shows_the_playbook_and_its_checklist(cbrn, make_user, client_for):
    version, incident = cbrn
    page = client_for(make_user()).get(reverse("incident-detail", args=[incident.ref])).content.decode()
    assert "Playbook: CBRN uplift via a tool" in page and version.label in page
    assert "SEV1 if uplift is confirmed in CBRN" in page
    assert "Preserve the transcripts" in page and "0/3" in page
    assert "pre-authorised" in page


def test_request_link_opens_the_form_filled_in(cbrn, make_user, client_for):
    _, incident = cbrn
    client = client_for(make_user())
    response = client.get(reverse("incident-detail", args=[incident.ref]))
    link = next(r.links[0].url for r in response.context["recommendations"] if r.type == "disable_capability")
    form = client.get(link).context["form"]
    assert form.ctype.key == "disable_capability"
    assert form.initial["param_capability"] == "tool_use"
    assert form.initial["deployment"] == "atlas-api"
    assert form.initial["duration_minutes"] == "4320"
    assert "Recommended by playbook cbrn-uplift v1" in form.initial["rationale"]
    assert urlsplit(link).path == reverse("correction-new", args=[incident.ref])


def test_submitting_the_filled_in_form_runs_preauthorised(cbrn, make_user, client_for, task_sends):
    version, incident = cbrn
    client = client_for(make_user())
    page = client.get(reverse("incident-detail", args=[incident.ref]))
    link = next(r.links[0].url for r in page.context["recommendations"] if r.type == "disable_capability")
    form = client.get(link).context["form"]
    data = {"type": "disable_capability", "confirmed": "yes", **{k: v for k, v in form.initial.items() if v}}
    data["submit_token"] = form.initial.get("submit_token", "")
    response = client.post(reverse("correction-new", args=[incident.ref]), data)
    assert response.status_code == 302, response.content[:500]
    correction = incident.corrections.get()
    assert (correction.tier, correction.playbook_version_id, correction.state) == (1, version.pk, "approved")


def test_ticking_on_the_page_records_who_and_is_on_the_timeline(cbrn, make_user, client_for):
    _, incident = cbrn
    item = incident.checklist.first()
    responder = make_user(username="riley")
    client = client_for(responder)
    response = client.post(reverse("incident-checklist-tick", args=[incident.ref, item.pk]))
    assert response.status_code == 302
    page = client.get(reverse("incident-detail", args=[incident.ref])).content.decode()
    assert "ticked by" in page and "1/3" in page
    assert "ticked “Preserve the transcripts” on the checklist (1/3)" in page  # the timeline's sentence
    again = client.post(reverse("incident-checklist-tick", args=[incident.ref, item.pk]))
    assert again.status_code == 409 and "already ticked" in again.content.decode()


def test_auditor_sees_no_tick_button_and_cannot_tick(cbrn, make_user, client_for):
    _, incident = cbrn
    auditor = client_for(make_user(Role.AUDITOR))
    page = auditor.get(reverse("incident-detail", args=[incident.ref])).content.decode()
    assert "checklist-tick" not in page
    item = incident.checklist.first()
    assert auditor.post(reverse("incident-checklist-tick", args=[incident.ref, item.pk])).status_code == 403
    item.refresh_from_db()
    assert item.ticked_at is None


def test_the_incident_list_shows_checklist_progress(cbrn, make_user, client_for, actor_for):
    _, incident = cbrn
    incidents.checklist_item_tick(
        actor=actor_for(make_user()), incident=incident, item_id=incident.checklist.first().pk
    )
    page = client_for(make_user()).get(reverse("incident-list")).content.decode()
    assert "checklist 1/3" in page
