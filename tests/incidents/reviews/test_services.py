"""Review services: who drafts, approves and publishes; versions; the excerpt; follow-ups."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import DatabaseError, transaction

from accounts.models import LedgerEvent
from accounts.roles import Role
from config.errors import DomainError
from incidents import services as incident_services
from incidents.models.reviews import FollowUpAction, ReviewApproval, ReviewVersion
from incidents.reviews import selectors, services
from incidents.reviews.events import ReviewEvent
from tests.incidents.reviews.conftest import days_ago


def _verbs(incident) -> list[str]:
    return list(
        LedgerEvent.objects.filter(incident_ref=incident.ref, verb__startswith="review.").values_list("verb", flat=True)
    )


# --- publishing, per severity ------------------------------------------------------------------------


@pytest.mark.parametrize("severity", ["SEV3", "SEV4"])
def test_sev3_and_sev4_reviews_are_published_by_the_commander_alone(
    severity, resolved_incident, draft_of, people, actor_for
):
    incident = resolved_incident(severity=severity)
    draft = draft_of(incident)

    version = services.review_publish(
        actor=actor_for(people["commander"]), incident=incident, content_hash=draft.content_hash
    )

    assert version.is_published and version.published_by == people["commander"]
    assert selectors.review_published(incident)
    assert _verbs(incident)[-1] == ReviewEvent.PUBLISHED


@pytest.mark.parametrize("severity", ["SEV1", "SEV2"])
def test_sev1_and_sev2_reviews_need_one_leadership_approval_before_publishing(
    severity, resolved_incident, draft_of, people, actor_for
):
    incident = resolved_incident(severity=severity)
    draft = draft_of(incident)
    commander = actor_for(people["commander"])

    with pytest.raises(DomainError) as refused:
        services.review_publish(actor=commander, incident=incident, content_hash=draft.content_hash)
    assert refused.value.code == "conflict" and "leadership approval" in refused.value.message
    assert not selectors.review_published(incident)

    services.review_approve(actor=actor_for(people["leader"]), incident=incident, content_hash=draft.content_hash)
    version = services.review_publish(actor=commander, incident=incident, content_hash=draft.content_hash)

    assert version.is_published
    published = LedgerEvent.objects.get(incident_ref=incident.ref, verb=ReviewEvent.PUBLISHED)
    assert published.after["approved_by"] == ["leader"]


def test_an_edit_after_the_leadership_approval_voids_it(resolved_incident, draft_of, people, actor_for):
    incident = resolved_incident(severity="SEV1")
    draft = draft_of(incident)
    services.review_approve(actor=actor_for(people["leader"]), incident=incident, content_hash=draft.content_hash)

    # The insider's move: get the approval, then change the words before publishing.
    edited = services.review_save_draft(
        actor=actor_for(people["participant"]), incident=incident, sections={"root_cause": "Nobody's fault."}
    )

    assert edited.content_hash != draft.content_hash
    assert ReviewApproval.objects.get().voided_at is not None
    with pytest.raises(DomainError, match="leadership approval"):
        services.review_publish(
            actor=actor_for(people["commander"]), incident=incident, content_hash=edited.content_hash
        )
    saved = LedgerEvent.objects.filter(verb=ReviewEvent.DRAFT_SAVED).last()
    assert saved.after["approvals_voided"] == ["leader"]


def test_publishing_what_the_commander_did_not_read_is_refused(resolved_incident, draft_of, people, actor_for):
    incident = resolved_incident()
    draft = draft_of(incident)
    seen = draft.content_hash
    services.review_save_draft(actor=actor_for(people["participant"]), incident=incident, sections={"lessons": "New."})

    with pytest.raises(DomainError) as refused:
        services.review_publish(actor=actor_for(people["commander"]), incident=incident, content_hash=seen)

    assert refused.value.code == "conflict" and "content_hash" in refused.value.fields
    assert not selectors.review_published(incident)


def test_a_leader_who_edited_the_version_cannot_approve_it(resolved_incident, draft_of, people, actor_for):
    incident = resolved_incident(severity="SEV2")
    draft = draft_of(incident, by=people["leader"])

    with pytest.raises(DomainError, match="You edited this version"):
        services.review_approve(actor=actor_for(people["leader"]), incident=incident, content_hash=draft.content_hash)
    assert not ReviewApproval.objects.exists()


def test_a_leader_commanding_the_incident_cannot_approve_what_they_publish(
    resolved_incident, draft_of, people, actor_for, make_user
):
    boss = make_user(Role.LEADERSHIP, username="boss")
    boss.groups.add(Group.objects.get_or_create(name=Role.INCIDENT_COMMANDER)[0])
    incident = resolved_incident(severity="SEV1")
    incident_services.incident_assign(actor=actor_for(people["commander"]), incident=incident, commander=boss)
    draft = draft_of(incident)

    with pytest.raises(DomainError, match="another leader"):
        services.review_approve(actor=actor_for(boss), incident=incident, content_hash=draft.content_hash)


def test_the_publisher_own_approval_does_not_count(resolved_incident, draft_of, people, actor_for, make_user):
    """No commander assigned: any incident commander publishes; one who is also a leader and
    approved cannot be their own second pair of eyes."""
    both = make_user(Role.LEADERSHIP, username="both")
    both.groups.add(Group.objects.get_or_create(name=Role.INCIDENT_COMMANDER)[0])
    incident = resolved_incident(severity="SEV2")
    incident.commander = None
    incident.save(update_fields=["commander"])
    draft = draft_of(incident)
    services.review_approve(actor=actor_for(both), incident=incident, content_hash=draft.content_hash)

    with pytest.raises(DomainError, match="neither edited it nor publishes it"):
        services.review_publish(actor=actor_for(both), incident=incident, content_hash=draft.content_hash)
    services.review_publish(
        actor=actor_for(people["other_commander"]), incident=incident, content_hash=draft.content_hash
    )
    assert selectors.review_published(incident)


@pytest.mark.parametrize("who", ["other_commander", "participant", "leader"])
def test_only_the_incident_commander_publishes(who, resolved_incident, draft_of, people, actor_for):
    incident = resolved_incident()
    draft = draft_of(incident)

    with pytest.raises(DomainError) as refused:
        services.review_publish(actor=actor_for(people[who]), incident=incident, content_hash=draft.content_hash)

    assert refused.value.code == "forbidden"


def test_responders_outside_the_incident_and_auditors_cannot_draft(resolved_incident, people, actor_for):
    incident = resolved_incident()
    for who in ("outsider", "auditor"):
        with pytest.raises(DomainError) as refused:
            services.review_start(actor=actor_for(people[who]), incident=incident)
        assert refused.value.code == "forbidden"
    services.review_start(actor=actor_for(people["participant"]), incident=incident)
    with pytest.raises(DomainError) as refused:
        services.review_save_draft(actor=actor_for(people["outsider"]), incident=incident, sections={"summary": "x"})
    assert refused.value.code == "forbidden"


def test_a_review_starts_only_once_the_incident_is_resolved(make_incident, people, actor_for):
    incident = make_incident(by=people["reporter"])

    with pytest.raises(DomainError, match="once it is resolved"):
        services.review_start(actor=actor_for(people["reporter"]), incident=incident)


# --- immutability and amendments ------------------------------------------------------------------


def test_a_published_version_cannot_be_edited_through_the_service(resolved_incident, draft_of, people, actor_for):
    incident = resolved_incident()
    draft = draft_of(incident)
    services.review_publish(actor=actor_for(people["commander"]), incident=incident, content_hash=draft.content_hash)

    with pytest.raises(DomainError) as refused:
        services.review_save_draft(
            actor=actor_for(people["commander"]), incident=incident, sections={"summary": "Rewritten."}
        )

    assert refused.value.code == "conflict" and "amend" in refused.value.message
    assert ReviewVersion.objects.get().summary == "What happened."


@pytest.mark.postgres
def test_the_database_refuses_to_change_or_delete_a_published_version_on_postgresql(
    resolved_incident, draft_of, people, actor_for
):
    incident = resolved_incident()
    draft = draft_of(incident)
    services.review_publish(actor=actor_for(people["commander"]), incident=incident, content_hash=draft.content_hash)

    for attempt in (
        lambda: ReviewVersion.objects.filter(pk=draft.pk).update(summary="Rewritten behind the app's back."),
        lambda: ReviewVersion.objects.filter(pk=draft.pk).update(published_at=None),
        lambda: ReviewVersion.objects.filter(pk=draft.pk).delete(),
    ):
        with pytest.raises(DatabaseError, match="is published"), transaction.atomic():
            attempt()
    assert ReviewVersion.objects.get(pk=draft.pk).summary == "What happened."


def test_an_amendment_starts_version_2_copied_from_1_and_shows_the_diff(resolved_incident, draft_of, people, actor_for):
    incident = resolved_incident()
    draft = draft_of(incident, lessons="Page earlier.")
    services.review_publish(actor=actor_for(people["commander"]), incident=incident, content_hash=draft.content_hash)

    v2 = services.review_amend(actor=actor_for(people["participant"]), incident=incident, reason="Root cause found.")
    assert (v2.number, v2.summary, v2.lessons, v2.is_published) == (2, "What happened.", "Page earlier.", False)
    v2 = services.review_save_draft(
        actor=actor_for(people["participant"]), incident=incident, sections={"root_cause": "A stale filter list."}
    )

    v1 = ReviewVersion.objects.get(number=1)
    diff = selectors.version_diff(v1, v2)
    assert [(d.field, d.change, d.after) for d in diff] == [("root cause", "set", "A stale filter list.")]
    assert v1.root_cause == "" and v1.is_published
    services.review_publish(actor=actor_for(people["commander"]), incident=incident, content_hash=v2.content_hash)
    assert ReviewVersion.objects.filter(published_at__isnull=False).count() == 2


def test_an_amendment_needs_a_reason_and_no_open_draft(resolved_incident, draft_of, people, actor_for):
    incident = resolved_incident()
    draft = draft_of(incident)
    actor = actor_for(people["participant"])
    with pytest.raises(DomainError, match="still a draft"):
        services.review_amend(actor=actor, incident=incident, reason="x")
    services.review_publish(actor=actor_for(people["commander"]), incident=incident, content_hash=draft.content_hash)
    with pytest.raises(DomainError) as refused:
        services.review_amend(actor=actor, incident=incident, reason="  ")
    assert "reason" in refused.value.fields
    services.review_amend(actor=actor, incident=incident, reason="x")
    with pytest.raises(DomainError, match="still a draft"):
        services.review_amend(actor=actor, incident=incident, reason="again")


def test_an_unchanged_amendment_is_not_published(resolved_incident, draft_of, people, actor_for):
    incident = resolved_incident()
    draft = draft_of(incident)
    commander = actor_for(people["commander"])
    services.review_publish(actor=commander, incident=incident, content_hash=draft.content_hash)
    v2 = services.review_amend(actor=commander, incident=incident, reason="Nothing really.")

    with pytest.raises(DomainError, match="says exactly what version 1 says"):
        services.review_publish(actor=commander, incident=incident, content_hash=v2.content_hash)


# --- the timeline excerpt --------------------------------------------------------------------------


def test_the_excerpt_stores_references_with_their_words(resolved_incident, draft_of, people, actor_for):
    incident = resolved_incident()
    draft_of(incident)
    note = next(c for c in selectors.excerpt_choices(incident=incident) if c.kind == "entry")
    event = next(c for c in selectors.excerpt_choices(incident=incident) if c.kind == "event")

    version = services.review_save_draft(
        actor=actor_for(people["participant"]), incident=incident, timeline_excerpt=[event.key, note.key]
    )

    by_kind = {item["kind"]: item for item in version.timeline_excerpt}
    assert by_kind["entry"]["id"] == note.id and by_kind["entry"]["text"] == "Classifier caught it."
    assert by_kind["event"]["id"] == event.id and by_kind["event"]["text"] == event.text
    assert by_kind["entry"]["actor"] == "participant"


def test_the_excerpt_keeps_the_words_it_was_picked_with(resolved_incident, draft_of, people, actor_for, monkeypatch):
    incident = resolved_incident()
    draft_of(incident)
    event = next(c for c in selectors.excerpt_choices(incident=incident) if c.kind == "event")
    actor = actor_for(people["participant"])
    services.review_save_draft(actor=actor, incident=incident, timeline_excerpt=[event.key])

    # However the history comes to phrase the event later, the quoted words stay as picked.
    monkeypatch.setattr("incidents.audit.describe", lambda e: "reworded")
    version = services.review_save_draft(actor=actor, incident=incident, timeline_excerpt=[event.key])

    assert version.timeline_excerpt[0]["text"] == event.text


def test_the_excerpt_refuses_items_from_another_incident(resolved_incident, draft_of, people, actor_for, make_incident):
    incident = resolved_incident()
    draft_of(incident)
    secret = make_incident(by=people["leader"], restricted=True)
    secret_event = LedgerEvent.objects.filter(incident_ref=secret.ref).first()

    with pytest.raises(DomainError) as refused:
        services.review_save_draft(
            actor=actor_for(people["participant"]), incident=incident, timeline_excerpt=[f"event:{secret_event.seq}"]
        )

    assert "timeline_excerpt" in refused.value.fields
    assert ReviewVersion.objects.get().timeline_excerpt == []


# --- follow-up actions ----------------------------------------------------------------------------


def test_a_follow_up_owner_must_be_able_to_see_a_restricted_incident(resolved_incident, draft_of, people, actor_for):
    incident = resolved_incident(restricted=True)
    draft_of(incident)

    with pytest.raises(DomainError) as refused:
        services.follow_up_add(
            actor=actor_for(people["commander"]), incident=incident, title="Audit", owner=people["outsider"],
            due_date=days_ago(-7),
        )  # fmt: skip
    assert "owner" in refused.value.fields
    action = services.follow_up_add(
        actor=actor_for(people["commander"]), incident=incident, title="Audit", owner=people["participant"],
        due_date=days_ago(-7),
    )  # fmt: skip
    assert action.pk


def test_the_owner_may_close_an_action_but_not_rewrite_it(resolved_incident, draft_of, people, actor_for, make_user):
    incident = resolved_incident()
    draft_of(incident)
    owner = make_user(Role.RESPONDER, username="owner")  # not a participant
    action = services.follow_up_add(
        actor=actor_for(people["commander"]), incident=incident, title="Fix filter", owner=owner, due_date=days_ago(1)
    )

    with pytest.raises(DomainError) as refused:
        services.follow_up_update(actor=actor_for(owner), action=action, changes={"title": "Nothing to do"})
    assert refused.value.code == "forbidden"
    services.follow_up_update(actor=actor_for(owner), action=action, changes={"status": "done"})
    assert FollowUpAction.objects.get().status == "done"


def test_follow_ups_change_after_publishing_and_each_change_is_ledgered(resolved_incident, draft_of, people, actor_for):
    incident = resolved_incident()
    draft = draft_of(incident)
    commander = actor_for(people["commander"])
    action = services.follow_up_add(
        actor=commander, incident=incident, title="Fix filter", owner=people["participant"], due_date=days_ago(-3)
    )
    version = services.review_publish(actor=commander, incident=incident, content_hash=draft.content_hash)

    services.follow_up_update(actor=commander, action=action, changes={"due_date": days_ago(-10), "status": "done"})

    event = LedgerEvent.objects.filter(verb=ReviewEvent.FOLLOW_UP_UPDATED).get()
    assert event.before["status"] == "open" and event.after["status"] == "done"
    version.refresh_from_db()
    assert version.follow_ups_snapshot[0]["status"] == "open"  # the published record keeps what it said


def test_a_published_follow_up_cannot_be_removed(resolved_incident, draft_of, people, actor_for):
    incident = resolved_incident()
    draft = draft_of(incident)
    commander = actor_for(people["commander"])
    kept = services.follow_up_add(
        actor=commander, incident=incident, title="Published", owner=people["participant"], due_date=days_ago(-3)
    )
    services.review_publish(actor=commander, incident=incident, content_hash=draft.content_hash)
    later = services.follow_up_add(
        actor=commander, incident=incident, title="Later", owner=people["participant"], due_date=days_ago(-3)
    )

    with pytest.raises(DomainError, match="won't do"):
        services.follow_up_remove(actor=commander, action=kept)
    services.follow_up_remove(actor=commander, action=later)
    assert list(FollowUpAction.objects.values_list("title", flat=True)) == ["Published"]


def test_overdue_follow_ups_disappear_when_the_owner_loses_access(resolved_incident, draft_of, people, actor_for):
    incident = resolved_incident(restricted=True)
    draft_of(incident)
    services.follow_up_add(
        actor=actor_for(people["commander"]), incident=incident, title="Late", owner=people["participant"],
        due_date=days_ago(2),
    )  # fmt: skip
    assert selectors.overdue_follow_ups_for(user=people["participant"]).count() == 1

    incident_services.incident_grant_access(
        actor=actor_for(people["commander"]), incident=incident, user=people["participant"], reason="left", revoke=True
    )

    assert selectors.overdue_follow_ups_for(user=people["participant"]).count() == 0


def test_the_owner_of_a_new_follow_up_is_told_by_email(
    resolved_incident, draft_of, people, actor_for, mailoutbox, django_capture_on_commit_callbacks, task_sends,
    deliver_notifications,
):  # fmt: skip
    incident = resolved_incident()
    draft_of(incident)

    with django_capture_on_commit_callbacks(execute=True):
        services.follow_up_add(
            actor=actor_for(people["commander"]), incident=incident, title="Rotate keys", owner=people["participant"],
            due_date=days_ago(-7),
        )  # fmt: skip
    deliver_notifications()

    assert [m.to for m in mailoutbox] == [[people["participant"].email]]
    assert "Rotate keys" in mailoutbox[0].body
    event = LedgerEvent.objects.get(verb=ReviewEvent.FOLLOW_UP_ADDED)
    assert event.after["notified"] == ["participant"]


@pytest.mark.real_today
def test_a_new_follow_up_cannot_fall_due_in_the_past(resolved_incident, draft_of, people, actor_for):
    incident = resolved_incident()
    draft_of(incident)
    commander = actor_for(people["commander"])
    with pytest.raises(DomainError) as err:
        services.follow_up_add(
            actor=commander, incident=incident, title="Late", owner=people["participant"], due_date=days_ago(1)
        )
    assert "due_date" in err.value.fields
    action = services.follow_up_add(
        actor=commander, incident=incident, title="Today", owner=people["participant"], due_date=days_ago(0)
    )
    assert action.due_date == days_ago(0)
