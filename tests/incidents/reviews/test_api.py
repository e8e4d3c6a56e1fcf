"""The reviews API: the publish flow, immutability as 409, visibility, follow-up lists."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import LedgerEvent
from incidents.models.reviews import ReviewApproval, ReviewVersion
from incidents.reviews import services
from tests.incidents.reviews.conftest import days_ago


def test_a_sev2_review_goes_from_draft_to_approved_to_published(resolved_incident, people, api_for):
    incident = resolved_incident(severity="SEV2")
    url = f"/api/v1/incidents/{incident.ref}/review/"
    writer = api_for(people["participant"])

    assert writer.post(url, {}, format="json").status_code == 201
    choices = writer.get(url).json()["excerpt_choices"]
    patched = writer.patch(url, {"summary": "It leaked.", "timeline_excerpt": [choices[0]["key"]]}, format="json")
    assert patched.status_code == 200, patched.json()
    digest = patched.json()["content_hash"]

    refused = api_for(people["commander"]).post(url + "publish/", {"content_hash": digest}, format="json")
    assert refused.status_code == 409
    approved = api_for(people["leader"]).post(url + "approve/", {"content_hash": digest}, format="json")
    assert approved.status_code == 201
    published = api_for(people["commander"]).post(url + "publish/", {"content_hash": digest}, format="json")

    assert published.status_code == 200
    body = published.json()
    assert body["published"] is True
    assert body["versions"][0]["state"] == "published"
    assert body["versions"][0]["timeline_excerpt"][0]["text"] == choices[0]["text"]
    assert [a["approver"] for a in body["versions"][0]["approvals"]] == ["leader"]


def test_patching_a_published_version_is_409_and_changes_nothing(
    resolved_incident, draft_of, people, api_for, actor_for
):
    incident = resolved_incident()
    draft = draft_of(incident)
    services.review_publish(actor=actor_for(people["commander"]), incident=incident, content_hash=draft.content_hash)
    events = LedgerEvent.objects.count()

    response = api_for(people["commander"]).patch(
        f"/api/v1/incidents/{incident.ref}/review/", {"summary": "Rewritten."}, format="json"
    )

    assert response.status_code == 409
    assert ReviewVersion.objects.get().summary == "What happened."
    assert LedgerEvent.objects.count() == events


def test_approving_a_stale_hash_is_409_and_records_nothing(resolved_incident, draft_of, people, api_for, actor_for):
    incident = resolved_incident(severity="SEV1")
    draft = draft_of(incident)
    services.review_save_draft(actor=actor_for(people["participant"]), incident=incident, sections={"impact": "More."})
    events = LedgerEvent.objects.count()

    response = api_for(people["leader"]).post(
        f"/api/v1/incidents/{incident.ref}/review/approve/", {"content_hash": draft.content_hash}, format="json"
    )

    assert response.status_code == 409 and "content_hash" in response.json()["errors"]
    assert not ReviewApproval.objects.exists() and LedgerEvent.objects.count() == events


def test_an_amendment_through_the_api_shows_what_changed(resolved_incident, draft_of, people, api_for, actor_for):
    incident = resolved_incident()
    draft = draft_of(incident)
    services.review_publish(actor=actor_for(people["commander"]), incident=incident, content_hash=draft.content_hash)
    url = f"/api/v1/incidents/{incident.ref}/review/"
    client = api_for(people["participant"])

    assert client.post(url + "amend/", {"reason": "Typo."}, format="json").status_code == 201
    client.patch(url, {"summary": "What really happened."}, format="json")

    versions = client.get(url).json()["versions"]
    assert [v["state"] for v in versions] == ["published", "draft"]
    assert versions[1]["amendment_reason"] == "Typo."
    assert versions[1]["changes"][0]["field"] == "summary"
    assert versions[1]["changes"][0]["after"] == "What really happened."


def test_auditors_read_reviews_but_cannot_write_them(resolved_incident, draft_of, people, api_for):
    incident = resolved_incident()
    draft_of(incident)
    client = api_for(people["auditor"])
    url = f"/api/v1/incidents/{incident.ref}/review/"

    assert client.get(url).status_code == 200
    assert client.patch(url, {"summary": "x"}, format="json").status_code == 403
    assert client.post(url + "amend/", {"reason": "x"}, format="json").status_code == 403


def test_a_restricted_incident_review_is_invisible_without_a_grant(
    resolved_incident, draft_of, people, api_for, actor_for
):
    incident = resolved_incident(restricted=True)
    draft_of(incident)
    action = services.follow_up_add(
        actor=actor_for(people["commander"]), incident=incident, title="Secret fix", owner=people["participant"],
        due_date=days_ago(2),
    )  # fmt: skip
    stranger = api_for(people["outsider"])  # a responder without a grant
    base = f"/api/v1/incidents/{incident.ref}/review/"

    for url in (base, base + "markdown/", base + "follow-ups/", f"/api/v1/follow-ups/{action.pk}/"):
        assert stranger.get(url).status_code == 404, url
    assert stranger.get("/api/v1/reviews/").json()["count"] == 0
    assert stranger.get("/api/v1/follow-ups/").json()["count"] == 0
    assert stranger.post(base + "amend/", {"reason": "x"}, format="json").status_code == 404
    granted = api_for(people["participant"])
    assert granted.get(base).status_code == 200
    assert granted.get("/api/v1/reviews/").json()["count"] == 1


def test_my_overdue_follow_ups_are_listed_by_the_api(resolved_incident, draft_of, people, api_for, actor_for):
    incident = resolved_incident()
    draft_of(incident)
    commander = actor_for(people["commander"])
    for title, owner, due in [
        ("late", "participant", days_ago(3)),
        ("not yet", "participant", days_ago(-3)),
        ("someone else's", "commander", days_ago(3)),
        ("done late", "participant", days_ago(5)),
    ]:
        action = services.follow_up_add(
            actor=commander, incident=incident, title=title, owner=people[owner], due_date=due
        )
    services.follow_up_update(actor=commander, action=action, changes={"status": "done"})

    response = api_for(people["participant"]).get("/api/v1/follow-ups/?owner=me&overdue=true")

    assert response.status_code == 200
    assert [(r["title"], r["overdue"]) for r in response.json()["results"]] == [("late", True)]


def test_a_follow_up_is_created_updated_and_removed_through_the_api(resolved_incident, draft_of, people, api_for):
    incident = resolved_incident()
    draft_of(incident)
    client = api_for(people["commander"])
    url = f"/api/v1/incidents/{incident.ref}/review/follow-ups/"

    bad = client.post(url, {"title": "Fix", "owner": "nobody", "due_date": "2030-01-01"}, format="json")
    assert bad.status_code == 400 and "owner" in bad.json()["errors"]
    created = client.post(url, {"title": "Fix", "owner": "participant", "due_date": "2030-01-01"}, format="json")
    assert created.status_code == 201
    pk = created.json()["id"]
    updated = client.patch(f"/api/v1/follow-ups/{pk}/", {"status": "wont_do"}, format="json")
    assert updated.status_code == 200 and updated.json()["status"] == "wont_do"
    assert client.delete(f"/api/v1/follow-ups/{pk}/").status_code == 204
    assert client.get(url).json()["count"] == 0


def _queries(client, url) -> int:
    client.get(url)  # the first request also reads the user's roles, once per client
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def _add_follow_ups(incident, people, actor_for, n):
    for i in range(n):
        services.follow_up_add(
            actor=actor_for(people["commander"]), incident=incident, title=f"Action {i}",
            owner=people["participant" if i % 2 else "reporter"], due_date=days_ago(i - 5),
        )  # fmt: skip


def test_the_follow_up_list_costs_the_same_queries_for_2_and_20_actions(
    resolved_incident, draft_of, people, api_for, actor_for
):
    incident = resolved_incident()
    draft_of(incident)
    client = api_for(people["outsider"])
    _add_follow_ups(incident, people, actor_for, 2)
    urls = ("/api/v1/follow-ups/", f"/api/v1/incidents/{incident.ref}/review/follow-ups/")
    small = [_queries(client, url) for url in urls]
    _add_follow_ups(incident, people, actor_for, 18)
    assert [_queries(client, url) for url in urls] == small


def test_the_review_api_costs_the_same_queries_for_1_and_4_versions(
    resolved_incident, draft_of, people, api_for, actor_for
):
    incident = resolved_incident(severity="SEV2")
    url = f"/api/v1/incidents/{incident.ref}/review/"
    client = api_for(people["outsider"])
    draft_of(incident)
    small = (_queries(client, url), _queries(client, "/api/v1/reviews/"))
    commander, participant = actor_for(people["commander"]), actor_for(people["participant"])
    for n in range(3):
        draft = services.review_save_draft(actor=participant, incident=incident, sections={"lessons": f"Lesson {n}"})
        services.review_approve(actor=actor_for(people["leader"]), incident=incident, content_hash=draft.content_hash)
        services.review_publish(actor=commander, incident=incident, content_hash=draft.content_hash)
        services.review_amend(actor=participant, incident=incident, reason=f"round {n}")
    _add_follow_ups(incident, people, actor_for, 5)
    assert (_queries(client, url), _queries(client, "/api/v1/reviews/")) == small
