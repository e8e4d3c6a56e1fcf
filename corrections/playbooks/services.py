"""Writing playbooks: create, a new version (every save), approve a version's pre-authorisation,
and attach the best matching playbook to an incident (with its checklist) when it is created or
escalated. Each is one transaction with its ledger event."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts import ledger
from accounts.actor import Actor
from accounts.models import User
from accounts.roles import Role
from config.errors import DomainError
from corrections import locks, policy
from corrections.events import CorrectionEvent
from corrections.models import IncidentPlaybook, Playbook, PlaybookVersion
from corrections.playbooks import selectors
from corrections.playbooks.content import Content, overlap_refusal, read_content
from incidents import hooks
from incidents import services as incidents
from incidents.models import Incident

EDITOR_ROLES = (Role.ADMIN, Role.INCIDENT_COMMANDER)


def _editor(actor: Actor) -> User:
    user = actor.user
    if user is None or not user.has_role(*EDITOR_ROLES):
        raise DomainError("Only admins and incident commanders may write playbooks.", code="forbidden")
    return user


def _refuse_overlap(content: Content, *, besides: Playbook | None) -> None:
    others = [
        (v.playbook.slug, selectors.matcher_of(v))
        for v in selectors.current_versions()
        if besides is None or v.playbook_id != besides.pk
    ]
    error = overlap_refusal(content, others)
    if error is not None:
        raise error


def _summary(version: PlaybookVersion) -> dict[str, Any]:
    return {
        "playbook": version.playbook.slug, "version": version.number, "title": version.playbook.title,
        "active": version.active, "categories": version.categories, "risk_domains": version.risk_domains,
        "min_severity": version.min_severity, "priority": version.priority, "steps": len(version.steps),
        "recommendations": [r["type"] for r in version.recommendations],
        "preauthorised_type": version.preauthorised_type or None,
    }  # fmt: skip


def _write_version(user: User, playbook: Playbook, content: Content, number: int) -> PlaybookVersion:
    return PlaybookVersion.objects.create(
        playbook=playbook, number=number, is_current=True, created_by=user, **content.version_fields()
    )


@transaction.atomic
def playbook_create(*, actor: Actor, slug: str, data: dict[str, Any]) -> PlaybookVersion:
    """A new playbook and its version 1."""
    user = _editor(actor)
    slug = (slug or "").strip()
    if not slug or len(slug) > 64 or not slug.replace("-", "").replace("_", "").isalnum() or not slug.isascii():
        raise DomainError.invalid_field("slug", "A short name: letters, digits, - and _ (at most 64).")
    content = read_content(data)
    locks.playbooks()
    if Playbook.objects.filter(slug=slug).exists():
        raise DomainError.invalid_field("slug", f"There is already a playbook {slug!r}.")
    _refuse_overlap(content, besides=None)
    playbook = Playbook.objects.create(slug=slug, title=content.title, created_by=user)
    version = _write_version(user, playbook, content, 1)
    ledger.record(actor=actor, verb=CorrectionEvent.PLAYBOOK_CREATED, obj=version, after=_summary(version))
    return version


@transaction.atomic
def playbook_version_create(*, actor: Actor, playbook: Playbook, data: dict[str, Any]) -> PlaybookVersion:
    """Save an edit: a new current version; the earlier ones are kept as they were. A pre-authorisation
    is not carried over: leadership approves it again for what this version says."""
    user = _editor(actor)
    content = read_content(data)
    locks.playbooks()
    previous = locks.current_playbook_version(playbook)
    _refuse_overlap(content, besides=playbook)
    number = 1
    if previous is not None:
        number = previous.number + 1
        previous.is_current = False
        previous.save(update_fields=["is_current"])
    playbook = Playbook.objects.get(pk=playbook.pk)
    playbook.title = content.title
    playbook.save(update_fields=["title"])
    version = _write_version(user, playbook, content, number)
    ledger.record(
        actor=actor, verb=CorrectionEvent.PLAYBOOK_VERSIONED, obj=version,
        before=_summary(previous) if previous is not None else None, after=_summary(version), reason=content.note,
    )  # fmt: skip
    return version


@transaction.atomic
def playbook_preauth_approve(*, actor: Actor, version: PlaybookVersion, comment: str = "") -> PlaybookVersion:
    """Leadership approves the version's pre-authorised correction; not its author (no self-approval)."""
    user = actor.user
    if user is None:
        raise DomainError("Approving needs a person.", code="forbidden")
    version = locks.playbook_version(version.pk)
    facts = policy.PreAuthApproval(
        current=version.is_current, names_one=bool(version.preauthorised_type),
        approved=version.preauth_approved_at is not None, author_id=version.created_by_id,
    )  # fmt: skip
    refusal = policy.preauth_approval_refusal(facts, user.pk, user.roles)
    if refusal is not None:
        raise DomainError(refusal.message, code=refusal.code)
    version.preauth_approved_by, version.preauth_approved_at = user, timezone.now()
    version.save(update_fields=["preauth_approved_by", "preauth_approved_at"])
    ledger.record(
        actor=actor, verb=CorrectionEvent.PLAYBOOK_PREAUTH_APPROVED, obj=version,
        after={"playbook": version.playbook.slug, "version": version.number,
               "preauthorised_type": version.preauthorised_type},
        reason=(comment or "").strip()[:2000],
    )  # fmt: skip
    return version


@transaction.atomic
def playbook_attach(
    *, actor: Actor, incident: Incident, version: PlaybookVersion, trigger: str
) -> IncidentPlaybook | None:
    """Attach this version to the incident and copy its checklist onto it (None if already attached).

    The incidents hook calls it with the best match; a drill started "from a playbook" may call it
    with the version it names. The incident is locked first, as every writer of it does.
    """
    incident = locks.incident(incident.pk)
    if IncidentPlaybook.objects.filter(incident=incident, version=version).exists():
        return None
    attached = IncidentPlaybook.objects.create(incident=incident, version=version, trigger=str(trigger))
    ledger.record(
        actor=actor, verb=CorrectionEvent.PLAYBOOK_ATTACHED, obj=version, incident_ref=incident.ref,
        after={"playbook": version.playbook.slug, "version": version.number, "title": version.playbook.title,
               "trigger": str(trigger), "recommendations": [r["type"] for r in version.recommendations]},
    )  # fmt: skip
    on_list = set(incident.checklist.values_list("text", flat=True))
    steps = [step for step in version.steps if step.strip()[:300] not in on_list]  # a step already there stays once
    incidents.checklist_add(actor=actor, incident=incident, steps=steps, source=f"playbook {version.label}")
    return attached


def playbook_attach_best(actor: Actor, incident: Incident, trigger: hooks.Trigger) -> IncidentPlaybook | None:
    """The incidents hook, inside the incident service's transaction: attach the best matching
    playbook's current version. Re-matching (escalation, a changed severity, category or risk domain)
    attaches one only when none is attached or another playbook of higher priority now matches
    (policy.rematch_attaches); a checklist step already on the incident is not copied again."""
    version = selectors.best_version_for(incident)
    if version is None:
        return None
    if trigger != hooks.Trigger.CREATED:
        current = selectors.playbook_for(incident)
        attached = (current.playbook_id, selectors.matcher_of(current)) if current is not None else None
        if not policy.rematch_attaches(attached=attached, found=(version.playbook_id, selectors.matcher_of(version))):
            return None
    return playbook_attach(actor=actor, incident=incident, version=version, trigger=str(trigger))


def register() -> None:
    hooks.register_on_triage("playbooks", playbook_attach_best)
