"""Review pages: the flow through forms, immutability, visibility, the dashboard panel, exports."""

from __future__ import annotations

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents import services as incident_services
from incidents.models.reviews import ReviewVersion
from incidents.reviews import selectors, services
from tests.incidents.reviews.conftest import days_ago


def _hash(response) -> str:
    return re.search(r'name="content_hash" value="([0-9a-f]{64})"', response.content.decode()).group(1)


def test_participants_start_edit_and_the_commander_publishes_through_the_pages(resolved_incident, people, client_for):
    incident = resolved_incident()
    base = f"/incidents/{incident.ref}/review/"
    participant = client_for(people["participant"])

    assert participant.post(base + "start/").status_code == 302
    form = participant.get(base + "edit/")
    saved = participant.post(base + "edit/", {"content_hash": _hash(form), "summary": "It leaked.", "lessons": "Page."})
    assert saved.status_code == 302
    commander = client_for(people["commander"])
    page = commander.get(base)
    assert "Publish version 1" in page.content.decode()

    published = commander.post(base + "publish/", {"content_hash": _hash(page)})

    assert published.status_code == 302
    version = ReviewVersion.objects.get()
    assert version.is_published and version.summary == "It leaked."


def test_a_stale_publish_form_is_refused_beside_the_form(resolved_incident, draft_of, people, client_for, actor_for):
    incident = resolved_incident()
    draft_of(incident)
    commander = client_for(people["commander"])
    page = commander.get(f"/incidents/{incident.ref}/review/")
    services.review_save_draft(actor=actor_for(people["participant"]), incident=incident, sections={"impact": "Late."})

    response = commander.post(f"/incidents/{incident.ref}/review/publish/", {"content_hash": _hash(page)})

    assert response.status_code == 409
    assert "changed since you opened it" in response.content.decode()
    assert not ReviewVersion.objects.get().is_published


def test_a_published_version_cannot_be_edited_from_the_page(resolved_incident, draft_of, people, client_for, actor_for):
    incident = resolved_incident()
    draft = draft_of(incident)
    services.review_publish(actor=actor_for(people["commander"]), incident=incident, content_hash=draft.content_hash)
    client = client_for(people["commander"])

    assert client.get(f"/incidents/{incident.ref}/review/edit/").status_code == 302
    response = client.post(
        f"/incidents/{incident.ref}/review/edit/", {"content_hash": draft.content_hash, "summary": "Rewritten."}
    )

    assert response.status_code == 302  # back to the review, with "amend it" said
    assert ReviewVersion.objects.get().summary == "What happened."
    assert "Edit the draft" not in client.get(f"/incidents/{incident.ref}/review/").content.decode()


def test_the_amended_version_page_shows_the_diff(resolved_incident, draft_of, people, client_for, actor_for):
    incident = resolved_incident()
    draft = draft_of(incident)
    services.review_publish(actor=actor_for(people["commander"]), incident=incident, content_hash=draft.content_hash)
    client = client_for(people["participant"])
    assert client.post(f"/incidents/{incident.ref}/review/amend/", {"reason": "Cause found."}).status_code == 302
    services.review_save_draft(
        actor=actor_for(people["participant"]), incident=incident, sections={"root_cause": "A stale list."}
    )

    html = client.get(f"/incidents/{incident.ref}/review/?version=2").content.decode()

    assert "Changes from version 1" in html
    assert "root cause" in html and "<ins>A stale list.</ins>" in html


def test_a_restricted_incident_review_pages_and_exports_are_404_without_a_grant(
    resolved_incident, draft_of, people, client_for
):
    incident = resolved_incident(restricted=True)
    draft_of(incident)
    stranger = client_for(people["auditor"])
    granted = client_for(people["participant"])

    for suffix in ("", "?version=1", "print/", "markdown/"):
        url = f"/incidents/{incident.ref}/review/{suffix}"
        assert stranger.get(url).status_code == 404, url
        assert granted.get(url).status_code == 200, url
    assert stranger.post(f"/incidents/{incident.ref}/review/amend/", {"reason": "x"}).status_code == 403


def test_my_overdue_follow_ups_are_on_my_dashboard_and_nobody_else_s(
    resolved_incident, draft_of, people, client_for, actor_for
):
    incident = resolved_incident()
    draft_of(incident)
    commander = actor_for(people["commander"])
    services.follow_up_add(
        actor=commander, incident=incident, title="Rotate the keys", owner=people["participant"], due_date=days_ago(2)
    )
    services.follow_up_add(
        actor=commander, incident=incident, title="Not yet due", owner=people["participant"], due_date=days_ago(-2)
    )

    mine = _panel(client_for(people["participant"]).get("/"))
    theirs = _panel(client_for(people["reporter"]).get("/"))

    assert "Your overdue follow-ups" in mine and "Rotate the keys" in mine and "Not yet due" not in mine
    assert theirs == ""


def _panel(response) -> str:
    """The dashboard's overdue follow-ups panel ("" when absent); the event feed also names actions."""
    found = re.search(r'<section class="card dashboard-follow-ups".*?</section>', response.content.decode(), re.S)
    return found.group(0) if found else ""


def test_an_overdue_follow_up_leaves_the_dashboard_when_its_restricted_incident_is_revoked(
    resolved_incident, draft_of, people, client_for, actor_for
):
    incident = resolved_incident(restricted=True)
    draft_of(incident)
    services.follow_up_add(
        actor=actor_for(people["commander"]), incident=incident, title="Secret step", owner=people["participant"],
        due_date=days_ago(2),
    )  # fmt: skip
    client = client_for(people["participant"])
    assert "Secret step" in _panel(client.get("/"))

    incident_services.incident_grant_access(
        actor=actor_for(people["commander"]), incident=incident, user=people["participant"], reason="off", revoke=True
    )

    assert "Secret step" not in _panel(client.get("/"))


def test_the_incident_page_shows_the_review_state(resolved_incident, draft_of, people, client_for):
    incident = resolved_incident()
    draft_of(incident)

    html = client_for(people["auditor"]).get(f"/incidents/{incident.ref}/").content.decode()

    assert "Post-incident review" in html and "Version 1 is a draft" in html


def test_the_markdown_export_holds_the_whole_published_version(
    resolved_incident, draft_of, people, client_for, actor_for
):
    incident = resolved_incident(severity="SEV2")
    draft_of(incident, root_cause="A stale filter list.", lessons="Test the filters.")
    event = next(c for c in selectors.excerpt_choices(incident=incident) if c.kind == "entry")
    draft = services.review_save_draft(
        actor=actor_for(people["participant"]), incident=incident, timeline_excerpt=[event.key]
    )
    services.follow_up_add(
        actor=actor_for(people["commander"]), incident=incident, title="Add a | filter test",
        owner=people["participant"], due_date=days_ago(-30),
    )  # fmt: skip
    services.review_approve(actor=actor_for(people["leader"]), incident=incident, content_hash=draft.content_hash)
    services.review_publish(actor=actor_for(people["commander"]), incident=incident, content_hash=draft.content_hash)

    response = client_for(people["auditor"]).get(f"/incidents/{incident.ref}/review/markdown/")

    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{incident.ref}-review-v1.md"'
    text = response.content.decode()
    assert text.startswith(f"# Post-incident review: {incident.ref} ")
    assert "- Severity: SEV2" in text and "- Approved by: leader" in text
    assert f"- Content hash: `{draft.content_hash}`" in text
    assert "## Root cause\n\nA stale filter list." in text and "## Lessons\n\nTest the filters." in text
    assert "participant: Classifier caught it." in text
    assert "| Add a \\| filter test | participant |" in text


def test_the_printable_page_uses_the_print_stylesheet_and_no_inline_style(
    resolved_incident, draft_of, people, client_for
):
    incident = resolved_incident()
    draft_of(incident)

    html = client_for(people["auditor"]).get(f"/incidents/{incident.ref}/review/print/").content.decode()

    assert "css/review-print" in html and "DRAFT, not published" in html
    assert "style=" not in html and "<style" not in html and "<script" not in html


def _queries(client, url) -> int:
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def test_the_review_page_costs_the_same_queries_at_two_sizes(
    resolved_incident, draft_of, people, client_for, actor_for
):
    incident = resolved_incident(severity="SEV2")
    draft_of(incident)
    client = client_for(people["commander"])
    url = f"/incidents/{incident.ref}/review/"
    commander, participant = actor_for(people["commander"]), actor_for(people["participant"])
    services.follow_up_add(
        actor=commander, incident=incident, title="One", owner=people["participant"], due_date=days_ago(1)
    )
    small = _queries(client, url)
    for n in range(3):
        draft = services.review_save_draft(actor=participant, incident=incident, sections={"lessons": f"Lesson {n}"})
        services.review_approve(actor=actor_for(people["leader"]), incident=incident, content_hash=draft.content_hash)
        services.review_publish(actor=commander, incident=incident, content_hash=draft.content_hash)
        services.review_amend(actor=participant, incident=incident, reason=f"round {n}")
    for n in range(10):
        services.follow_up_add(
            actor=commander, incident=incident, title=f"A{n}", owner=people["reporter"], due_date=days_ago(n)
        )
    assert _queries(client, url) == small


def test_the_draft_editor_is_only_for_those_who_may_draft(resolved_incident, draft_of, people, client_for):
    incident = resolved_incident()
    draft_of(incident)
    url = f"/incidents/{incident.ref}/review/edit/"

    assert client_for(people["auditor"]).get(url).status_code == 403
    assert client_for(people["outsider"]).get(url).status_code == 403
    assert client_for(people["participant"]).get(url).status_code == 200
