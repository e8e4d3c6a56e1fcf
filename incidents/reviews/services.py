"""Everything that writes reviews and follow-up actions.

Each function runs in one transaction: it locks the incident first (the order every incidents
service uses), then the review's draft, checks the rule (incidents.reviews.policy), writes the
change and its ledger event (incidents.reviews.events) together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts import ledger
from accounts.actor import Actor
from accounts.models import User
from accounts.roles import Role
from config.errors import DomainError
from incidents import locks
from incidents.models import Incident, Status
from incidents.models.reviews import (
    SECTION_FIELDS,
    SECTION_MAX,
    FollowUpAction,
    FollowUpStatus,
    Review,
    ReviewApproval,
    ReviewVersion,
)
from incidents.notifications import Event, incident_url, notify
from incidents.reviews import policy
from incidents.reviews.events import ReviewEvent
from incidents.reviews.selectors import excerpt_choices
from incidents.selectors import can_view_incident, viewers_among

# A review is written from resolution on (DESIGN §4: closing waits for it).
REVIEWABLE = (Status.RESOLVED, Status.IN_REVIEW, Status.CLOSED)
DRAFTING_ROLES = (Role.INCIDENT_COMMANDER, Role.LEADERSHIP, Role.ADMIN)
EXCERPT_MAX = 200
TITLE_MAX = 200
REASON_MAX = 2000
STALE_CONTENT = "The review changed since you opened it — read it again."
FOLLOW_UP_FIELDS = ("title", "owner", "due_date", "status")


# --- guards and helpers --------------------------------------------------------------------------


def _user(actor: Actor) -> User:
    if actor.user is None:
        raise DomainError("This action needs a person.", code="forbidden")
    return actor.user


def _lock_incident(actor: Actor, incident: Incident) -> Incident:
    locked = locks.lock_incident(incident.pk)
    if not can_view_incident(_user(actor), locked):
        raise DomainError("No such incident.", code="not_found")
    return locked


def is_participant(user: User, incident: Incident) -> bool:
    return user.pk in (incident.reporter_id, incident.commander_id) or incident.participants.filter(pk=user.pk).exists()


def may_draft(user: User, incident: Incident) -> bool:
    """Participants of the incident, commanders and leadership draft; auditors never write."""
    if not user.can_write:
        return False
    return user.has_role(*DRAFTING_ROLES) or is_participant(user, incident)


def _require_drafter(user: User, incident: Incident) -> None:
    if not may_draft(user, incident):
        raise DomainError(
            "Only the incident's participants, commanders and leadership write its review.", code="forbidden"
        )


def _require_reviewable(incident: Incident) -> None:
    if incident.status not in REVIEWABLE:
        raise DomainError(
            f"{incident.ref} is {incident.status}: its review is written once it is resolved.", code="conflict"
        )


def _review_of(incident: Incident) -> Review:
    review = locks.lock_review(incident)
    if review is None:
        raise DomainError(f"{incident.ref} has no review yet: start one first.", code="not_found")
    return review


def _draft_of(review: Review) -> ReviewVersion:
    draft = locks.lock_review_draft(review)
    if draft is None:
        latest = review.versions.order_by("-number").values_list("number", flat=True).first()
        raise DomainError(
            f"Version {latest} is published and never changes: amend the review to start version {latest + 1}.",
            code="conflict",
        )
    return draft


def _require_reviewed(version: ReviewVersion, reviewed_hash: str) -> None:
    if reviewed_hash != version.content_hash:
        raise DomainError(STALE_CONTENT, code="conflict", fields={"content_hash": [STALE_CONTENT]})


def content_hash(sections: dict[str, str], excerpt: Sequence[dict[str, Any]]) -> str:
    """What an approval is bound to: every section and the excerpt's words. Any edit changes it."""
    body = {"sections": {name: sections.get(name, "") for name in SECTION_FIELDS}, "excerpt": list(excerpt)}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _sections_of(version: ReviewVersion) -> dict[str, str]:
    return {name: getattr(version, name) for name in SECTION_FIELDS}


def version_facts(incident: Incident, version: ReviewVersion) -> policy.VersionFacts:
    live = ReviewApproval.objects.filter(version=version, voided_at__isnull=True).select_related("approver")
    return policy.VersionFacts(
        severity=incident.severity,
        commander_id=incident.commander_id,
        content_hash=version.content_hash,
        editor_ids=frozenset(version.editors.values_list("pk", flat=True)),
        approvals=tuple(policy.ApprovalFact(a.approver_id, frozenset(a.approver.roles), a.content_hash) for a in live),
    )


def _refuse(refusal: policy.Refusal | None) -> None:
    if refusal is not None:
        raise DomainError(refusal.message, code=refusal.code)


def _excerpt(incident: Incident, picks: Sequence[str], current: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The picked timeline items, each by reference with its words snapshotted. Items already in the
    excerpt keep the words they were picked with; anything not on this incident's timeline is refused."""
    if len(picks) > EXCERPT_MAX:
        raise DomainError.invalid_field("timeline_excerpt", f"Pick at most {EXCERPT_MAX} items.")
    kept = {f"{item['kind']}:{item['id']}": item for item in current}
    available = {choice.key: choice for choice in excerpt_choices(incident=incident)}
    unknown = [key for key in picks if key not in kept and key not in available]
    if unknown:
        raise DomainError.invalid_field(
            "timeline_excerpt", f"Not on this incident's timeline: {', '.join(map(str, unknown[:5]))}."
        )
    excerpt = []
    for key in dict.fromkeys(picks):  # once each, in any order given
        if key in kept:
            excerpt.append(kept[key])
            continue
        choice = available[key]
        at = choice.at.isoformat() if hasattr(choice.at, "isoformat") else str(choice.at)
        excerpt.append({"kind": choice.kind, "id": choice.id, "at": at, "actor": choice.actor, "text": choice.text})
    return sorted(excerpt, key=lambda item: (item["at"], item["kind"], item["id"]))


def _clean_sections(changes: dict[str, Any]) -> dict[str, str]:
    unknown = set(changes) - set(SECTION_FIELDS)
    if unknown:
        raise DomainError.invalid_field(sorted(unknown)[0], "This is not a section of the review.")
    cleaned = {}
    for name, value in changes.items():
        if not isinstance(value, str):
            raise DomainError.invalid_field(name, "Write text here.")
        if len(value) > SECTION_MAX:
            raise DomainError.invalid_field(name, f"At most {SECTION_MAX} characters.")
        cleaned[name] = value
    return cleaned


def _record(actor: Actor, event: ReviewEvent, obj: Any, incident: Incident, **kwargs) -> None:
    ledger.record(actor=actor, verb=event, obj=obj, incident_ref=incident.ref, **kwargs)


# --- the document ----------------------------------------------------------------------------------


@transaction.atomic
def review_start(*, actor: Actor, incident: Incident) -> Review:
    """Open the incident's review with an empty draft, version 1."""
    user = _user(actor)
    incident = _lock_incident(actor, incident)
    _require_drafter(user, incident)
    _require_reviewable(incident)
    if Review.objects.filter(incident=incident).exists():
        raise DomainError(f"{incident.ref} already has a review.", code="conflict")
    review = Review.objects.create(incident=incident, created_by=user)
    version = ReviewVersion.objects.create(review=review, number=1, created_by=user, content_hash=content_hash({}, []))
    _record(actor, ReviewEvent.STARTED, version, incident, after={"version": 1})
    return review


@transaction.atomic
def review_save_draft(
    *,
    actor: Actor,
    incident: Incident,
    sections: dict[str, Any] | None = None,
    timeline_excerpt: Sequence[str] | None = None,
    content_hash_seen: str = "",
) -> ReviewVersion:
    """Save changes to the draft. `content_hash_seen` (optional) is the hash of the draft the editor
    started from: if someone saved since, nothing is written. An edit voids earlier approvals."""
    user = _user(actor)
    incident = _lock_incident(actor, incident)
    _require_drafter(user, incident)
    _require_reviewable(incident)
    draft = _draft_of(_review_of(incident))
    if content_hash_seen:
        _require_reviewed(draft, content_hash_seen)
    before = _sections_of(draft)
    after = before | _clean_sections(sections or {})
    old_excerpt = list(draft.timeline_excerpt or [])
    excerpt = old_excerpt if timeline_excerpt is None else _excerpt(incident, timeline_excerpt, old_excerpt)
    new_hash = content_hash(after, excerpt)
    if new_hash == draft.content_hash:
        return draft
    for name, value in after.items():
        setattr(draft, name, value)
    draft.timeline_excerpt = excerpt
    draft.content_hash = new_hash
    draft.save()
    draft.editors.add(user)
    live = locks.lock_live_review_approvals(draft)
    voided = sorted(live.values_list("approver__username", flat=True))
    live.update(voided_at=timezone.now())
    old = {k: v for k, v in before.items() if after[k] != v}
    new = {k: after[k] for k in old}
    if excerpt != old_excerpt:
        old["timeline_excerpt"] = [f"{i['kind']}:{i['id']}" for i in old_excerpt]
        new["timeline_excerpt"] = [f"{i['kind']}:{i['id']}" for i in excerpt]
    _record(
        actor, ReviewEvent.DRAFT_SAVED, draft, incident, before=old,
        after=new | {"version": draft.number, "content_hash": new_hash, "approvals_voided": voided},
    )  # fmt: skip
    return draft


@transaction.atomic
def review_approve(*, actor: Actor, incident: Incident, content_hash: str, comment: str = "") -> ReviewApproval:
    """A leader approves exactly the draft they read (its content hash), for a SEV1–2 publication."""
    user = _user(actor)
    incident = _lock_incident(actor, incident)
    draft = _draft_of(_review_of(incident))
    _require_reviewed(draft, content_hash)
    _refuse(policy.approval_refusal(version_facts(incident, draft), user.pk, user.roles))
    if len(comment) > REASON_MAX:
        raise DomainError.invalid_field("comment", f"At most {REASON_MAX} characters.")
    approval = ReviewApproval.objects.create(
        version=draft, approver=user, content_hash=draft.content_hash, comment=comment
    )
    _record(
        actor, ReviewEvent.APPROVED, draft, incident,
        after={"version": draft.number, "content_hash": draft.content_hash}, reason=comment,
    )  # fmt: skip
    return approval


def _follow_up_snapshot(review: Review) -> list[dict[str, Any]]:
    return [
        {"id": a.pk, "title": a.title, "owner": a.owner.username, "due_date": a.due_date.isoformat(),
         "status": a.status}
        for a in FollowUpAction.objects.filter(review=review).select_related("owner").order_by("due_date", "id")
    ]  # fmt: skip


@transaction.atomic
def review_publish(*, actor: Actor, incident: Incident, content_hash: str) -> ReviewVersion:
    """Publish the draft the commander read (its content hash); from then on it never changes."""
    user = _user(actor)
    incident = _lock_incident(actor, incident)
    _require_reviewable(incident)
    review = _review_of(incident)
    draft = _draft_of(review)
    _require_reviewed(draft, content_hash)
    facts = version_facts(incident, draft)
    _refuse(policy.publish_refusal(facts, user.pk, user.roles))
    previous = review.versions.filter(published_at__isnull=False).order_by("-number").first()
    if previous is not None and previous.content_hash == draft.content_hash:
        raise DomainError(
            f"Version {draft.number} says exactly what version {previous.number} says: change something first.",
            code="conflict",
        )
    draft.published_at = timezone.now()
    draft.published_by = user
    draft.follow_ups_snapshot = _follow_up_snapshot(review)
    draft.save(update_fields=["published_at", "published_by", "follow_ups_snapshot", "updated_at"])
    FollowUpAction.objects.filter(review=review, published=False).update(published=True)
    approvers = sorted(
        User.objects.filter(pk__in=[a.approver_id for a in policy.counting_approvals(facts, user.pk)]).values_list(
            "username", flat=True
        )
    )
    _record(
        actor, ReviewEvent.PUBLISHED, draft, incident,
        after={"version": draft.number, "content_hash": draft.content_hash, "approved_by": approvers,
               "severity": incident.severity},
    )  # fmt: skip
    return draft


@transaction.atomic
def review_amend(*, actor: Actor, incident: Incident, reason: str) -> ReviewVersion:
    """Start version N+1 as a draft copied from the published version N."""
    user = _user(actor)
    incident = _lock_incident(actor, incident)
    _require_drafter(user, incident)
    _require_reviewable(incident)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError.invalid_field("reason", "Say why the review is amended.")
    if len(reason) > REASON_MAX:
        raise DomainError.invalid_field("reason", f"At most {REASON_MAX} characters.")
    review = _review_of(incident)
    latest = ReviewVersion.objects.filter(review=review).order_by("-number").first()
    if latest is None or not latest.is_published:
        number = latest.number if latest else 1
        raise DomainError(f"Version {number} is still a draft: edit it instead.", code="conflict")
    version = ReviewVersion.objects.create(
        review=review,
        number=latest.number + 1,
        created_by=user,
        amendment_reason=reason,
        timeline_excerpt=latest.timeline_excerpt,
        content_hash=latest.content_hash,
        **_sections_of(latest),
    )
    _record(actor, ReviewEvent.AMENDED, version, incident, after={"version": version.number}, reason=reason)
    return version


# --- follow-up actions -------------------------------------------------------------------------------


def _check_owner(incident: Incident, owner: User) -> None:
    if not owner.is_active or not owner.can_write or owner.pk not in viewers_among(incident=incident, users=[owner]):
        raise DomainError.invalid_field(
            "owner", f"{owner.username} cannot own this action: they may not work on {incident.ref}."
        )


def _check_title(title: Any) -> str:
    title = title.strip() if isinstance(title, str) else ""
    if not title:
        raise DomainError.invalid_field("title", "Say what is to be done.")
    if len(title) > TITLE_MAX:
        raise DomainError.invalid_field("title", f"At most {TITLE_MAX} characters.")
    return title


def _check_status(status: Any) -> str:
    if status not in FollowUpStatus.values:
        raise DomainError.invalid_field("status", f"Choose one of: {', '.join(FollowUpStatus.values)}.")
    return status


def _tell_owner(actor: Actor, incident: Incident, action: FollowUpAction) -> list[str]:
    if action.owner_id == actor.user.pk:
        return []
    return notify(
        incident=incident,
        users=[action.owner],
        event=Event.REVIEW,
        subject=f"Follow-up for {incident.ref}: {action.title}",
        body=f"{actor.name} made you the owner of a follow-up action from the review of {incident.ref}, "
        f"due {action.due_date.isoformat()}:\n\n{action.title}\n\n{incident_url(incident.ref)}review/",
    )


def _action_data(action: FollowUpAction) -> dict[str, Any]:
    return {"title": action.title, "owner": action.owner.username, "due_date": action.due_date.isoformat(),
            "status": action.status}  # fmt: skip


def _today() -> date:
    return timezone.localdate()


def _check_due(due_date: object) -> date:
    """A follow-up is planned work: it falls due today or later (one already overdue may keep its date)."""
    if not isinstance(due_date, date):
        raise DomainError.invalid_field("due_date", "Give a date.")
    if due_date < _today():
        raise DomainError.invalid_field("due_date", "Choose today or a later day: this date has passed.")
    return due_date


@transaction.atomic
def follow_up_add(*, actor: Actor, incident: Incident, title: str, owner: User, due_date: date) -> FollowUpAction:
    user = _user(actor)
    incident = _lock_incident(actor, incident)
    _require_drafter(user, incident)
    review = _review_of(incident)
    action = FollowUpAction(
        review=review, title=_check_title(title), owner=owner, due_date=_check_due(due_date), created_by=user
    )
    _check_owner(incident, owner)
    action.save()
    told = _tell_owner(actor, incident, action)
    _record(actor, ReviewEvent.FOLLOW_UP_ADDED, action, incident, after=_action_data(action) | {"notified": told})
    return action


def _lock_action(actor: Actor, action: FollowUpAction) -> tuple[Incident, FollowUpAction]:
    incident = _lock_incident(actor, action.review.incident)
    locked = locks.lock_follow_up(action.pk)
    return incident, locked


@transaction.atomic
def follow_up_update(*, actor: Actor, action: FollowUpAction, changes: dict[str, Any]) -> FollowUpAction:
    """Change an action: drafters change anything; its owner may change its status. Works after
    publishing too (it is tracked work, not the document); each change is a ledger event."""
    user = _user(actor)
    incident, action = _lock_action(actor, action)
    unknown = set(changes) - set(FOLLOW_UP_FIELDS)
    if unknown:
        raise DomainError.invalid_field(sorted(unknown)[0], "This field cannot be changed here.")
    owner_closing = user.can_write and action.owner_id == user.pk and set(changes) <= {"status"}
    if not owner_closing and not may_draft(user, incident):
        raise DomainError("Only the review's writers, and its owner (the status), change it.", code="forbidden")
    before = _action_data(action)
    if "title" in changes:
        action.title = _check_title(changes["title"])
    if "status" in changes:
        action.status = _check_status(changes["status"])
    if "due_date" in changes and changes["due_date"] != action.due_date:
        action.due_date = _check_due(changes["due_date"])
    new_owner = changes.get("owner")
    if new_owner is not None and new_owner.pk != action.owner_id:
        _check_owner(incident, new_owner)
        action.owner = new_owner
    after = _action_data(action)
    old = {k: v for k, v in before.items() if after[k] != v}
    if not old:
        return action
    action.save()
    told = _tell_owner(actor, incident, action) if "owner" in old else []
    _record(
        actor, ReviewEvent.FOLLOW_UP_UPDATED, action, incident, before=old | {"title": before["title"]},
        after={k: after[k] for k in old} | {"title": action.title} | ({"notified": told} if told else {}),
    )  # fmt: skip
    return action


@transaction.atomic
def follow_up_remove(*, actor: Actor, action: FollowUpAction) -> None:
    """Remove an action never published; a published one is on the record: close it as won't do."""
    user = _user(actor)
    incident, action = _lock_action(actor, action)
    _require_drafter(user, incident)
    if action.published:
        raise DomainError(
            "This action is part of a published version of the review: mark it won't do instead.", code="conflict"
        )
    data = _action_data(action)
    pk = action.pk
    action.delete()
    _record(actor, ReviewEvent.FOLLOW_UP_REMOVED, None, incident, object_type="incidents.followupaction",
            object_id=pk, before=data)  # fmt: skip
