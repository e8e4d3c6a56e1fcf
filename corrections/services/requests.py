"""Asking for a correction, and changing the request while it waits for sign-off."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.actor import Actor
from accounts.models import User
from accounts.roles import Role
from config.errors import DomainError
from corrections import evidence_gate, policy
from corrections.catalogue import MAX_DURATION_MINUTES, CorrectionType, get_type, resolve_target, validate_params
from corrections.customers.services import notice_explanation_check, notices_draft
from corrections.events import CorrectionEvent
from corrections.models import Approval, Correction, CorrectionEditor, State
from corrections.playbooks import selectors as playbooks
from corrections.policy import PolicySnapshot
from corrections.services.common import (
    COMMANDER_ROLES,
    approve,
    content_hash,
    create_targets,
    current_policy,
    lock,
    lock_incident,
    person,
    record,
    refuse_if_closed,
    required_text,
)
from incidents.models import Incident, Severity
from incidents.models.oncall import Page
from incidents.notifications import Event, Need, incident_url, members_of, notify
from incidents.oncall import services as oncall

NO_RATIONALE = "Say why this correction is needed."


def _duration(ctype: CorrectionType, duration_minutes: Any) -> int | None:
    if duration_minutes in (None, ""):
        return ctype.default_duration_minutes if ctype.reversible else None
    if isinstance(duration_minutes, bool) or not isinstance(duration_minutes, int):
        raise DomainError.invalid_field("duration_minutes", "Give the duration as a whole number of minutes.")
    if not ctype.reversible:
        raise DomainError.invalid_field("duration_minutes", f"{ctype.label} cannot expire: it is irreversible.")
    if not 1 <= duration_minutes <= MAX_DURATION_MINUTES:
        raise DomainError.invalid_field("duration_minutes", f"Choose 1 to {MAX_DURATION_MINUTES} minutes.")
    return duration_minutes


def _notify_approvers(actor: Actor, correction: Correction, signoff: policy.Signoff) -> None:
    """Mail every approver; a tier 3–4 request also pages leadership's on-call (who then gets the
    page instead of the mail)."""
    roles = {role for need in signoff.missing for role in need["roles"]}
    subject = f"Approval needed: {correction.type} on {correction.target_name} ({correction.incident.ref})"
    body = (
        f"{correction.requested_by.username} requests {correction.type} on {correction.target_name}.\n"
        f"Rationale: {correction.rationale}\nStill needed: {signoff.describe_missing()}"
    )
    paged: set[int] = set()
    paged_role = correction.tier >= 3 and Role.LEADERSHIP in roles
    if paged_role:
        page = oncall.page_open(
            actor=actor, incident=correction.incident, role=Role.LEADERSHIP, reason=Page.Reason.APPROVAL_NEEDED,
            subject=subject, summary=body,
        )  # fmt: skip
        paged = set(page.recipients.values_list("user_id", flat=True))
    users = [
        u
        for role in sorted(roles)
        for u in members_of(Role(role))
        if u.pk != correction.requested_by_id and u.pk not in paged
    ]
    notify(
        incident=correction.incident,
        users=users,
        needs=Need.APPROVAL,
        event=Event.APPROVAL_NEEDED,
        # The roles still needed hear it on their Slack channels; leadership's page told its channel already.
        roles=[Role(role) for role in sorted(roles) if not (paged_role and role == Role.LEADERSHIP)],
        subject=subject,
        body=f"{body}\n\n{incident_url(correction.incident.ref)}",
    )


def _may_break_glass(user: User, snapshot: PolicySnapshot, incident: Incident) -> bool:
    if user.roles & set(snapshot.break_glass_roles):
        return True
    return (
        snapshot.sev1_commander_may_break_glass
        and incident.severity == Severity.SEV1
        and incident.commander_id == user.pk
    )


def _break_glass_applies(ctype: CorrectionType, tier: int) -> bool:
    return tier >= 3 and ctype.dispatchable


def break_glass_hours_for(*, user: User, ctype: CorrectionType, incident: Incident) -> int | None:
    """Hours to ratify if this person may break glass on this type here, else None (for forms)."""
    if not _break_glass_applies(ctype, ctype.tier):
        return None
    snapshot = current_policy(ctype.tier).snapshot()
    return snapshot.ratification_hours if _may_break_glass(user, snapshot, incident) else None


def _preauthorisation(facts: policy.RequestFacts, incident: Incident) -> policy.PreAuthorisation | None:
    """The leadership-approved playbook that lowers this request to tier 1 here, if any (policy decides)."""
    if facts.break_glass or facts.tier <= 1 or facts.tier > policy.PREAUTHORISED_MAX_TIER:
        return None  # nothing to lower, or never lowered: skip the queries
    candidates = playbooks.preauthorisations_for(incident)
    if not candidates:
        return None
    return policy.preauthorised_by(facts, playbooks.profile_of(incident, deployments=True), candidates)


@transaction.atomic
def correction_request(
    *,
    actor: Actor,
    incident: Incident,
    type: str,
    params: Any,
    rationale: str,
    deployment: str | None = None,
    duration_minutes: int | None = None,
    break_glass: bool = False,
    justification: str = "",
    notice_explanation: str = "",
    evidence_id: int | None = None,
    evidence_override: str = "",
) -> Correction:
    """Ask for a correction. Customers it touches get draft notices; if one breaks their agreement and the
    correction runs at once (pre-authorised, break glass), `notice_explanation` must say why."""
    user = person(actor)
    ctype = get_type(type)
    target = resolve_target(ctype, deployment=deployment, params=params if isinstance(params, dict) else {})
    params = validate_params(ctype, params, target)
    rationale = required_text(rationale, "rationale", NO_RATIONALE)
    duration = _duration(ctype, duration_minutes)
    tier = normal_tier = ctype.tier_of(params)
    rule = current_policy(tier)
    snapshot = rule.snapshot()
    if not user.roles & set(snapshot.requester_roles):
        raise DomainError(
            f"Your role may not request a tier {tier} correction ({ctype.label}).",
            code="forbidden",
        )
    facts = policy.RequestFacts(
        type=ctype.key, tier=tier, params=params, duration_minutes=duration,
        deployment=target.deployment.slug if target.deployment else None, break_glass=break_glass,
    )  # fmt: skip
    # Policies are locked before the incident (corrections.locks): take tier 1's now if a playbook may need it.
    preauth = _preauthorisation(facts, incident)
    tier1 = current_policy(1) if preauth is not None else None
    incident = lock_incident(actor, incident)
    refuse_if_closed(incident, "nothing can be requested on it")
    evidence, evidence_override = evidence_gate.evidence_check(
        ctype=ctype, incident=incident, evidence_id=evidence_id, override=evidence_override
    )
    if tier1 is not None:  # decided again on the incident as locked: it may have changed meanwhile
        preauth = _preauthorisation(facts, incident)
        if preauth is not None:
            tier, rule = 1, tier1
            snapshot = rule.snapshot()
    if break_glass:
        justification = (justification or rationale).strip()
        if not _break_glass_applies(ctype, tier):
            raise DomainError.invalid_field(
                "break_glass", "Break glass is for tier 3–4 corrections that run automatically."
            )
        if not _may_break_glass(user, snapshot, incident):
            raise DomainError("Only leadership (or the commander of a SEV1) may break glass.", code="forbidden")
    now = timezone.now()
    correction = Correction.objects.create(
        incident=incident,
        type=ctype.key,
        deployment=target.deployment,
        model=target.model,
        params=params,
        rationale=rationale,
        duration_minutes=duration,
        state=State.PENDING_APPROVAL,
        tier=tier,
        policy=rule,
        policy_snapshot=snapshot.as_dict(),
        content_hash=content_hash(type=ctype.key, target=target.name, params=params, duration_minutes=duration),
        requested_by=user,
        pending_until=now + timedelta(minutes=snapshot.pending_ttl_minutes),
        break_glass=break_glass,
        break_glass_justification=justification if break_glass else "",
        playbook_version_id=preauth.version_id if preauth is not None else None,
        evidence=evidence,
        evidence_override=evidence_override,
    )
    targets = create_targets(correction)
    record(
        actor, CorrectionEvent.REQUESTED, correction,
        after={"type": ctype.key, "target": target.name, "params": params, "duration_minutes": duration,
               "tier": tier, "policy": f"tier {tier} v{rule.version}", "rationale": rationale,
               "break_glass": break_glass, "targets": [t.deployment.slug for t in targets]}
        | evidence_gate.evidence_record(evidence, evidence_override)
        | ({"preauthorised_by": preauth.label, "normal_tier": normal_tier} if preauth is not None else {}),
    )  # fmt: skip
    signoff = policy.evaluate(snapshot.requirements, [])
    notices_draft(actor=actor, correction=correction)
    if break_glass or signoff.satisfied or notice_explanation.strip():
        notice_explanation_check(actor=actor, correction=correction, explanation=notice_explanation)
    if break_glass:
        correction.ratification_due_at = now + timedelta(hours=snapshot.ratification_hours)
        approve(actor, correction, now)
        subject = f"BREAK GLASS: {ctype.label} on {target.name} ({incident.ref})"
        told = (
            f"{user.username} broke glass: {justification}\nRatification due by "
            f"{correction.ratification_due_at:%Y-%m-%d %H:%M} UTC."
        )
        # Leadership's on-call is paged (to acknowledge); every other leader is mailed as before.
        page = oncall.page_open(
            actor=actor, incident=incident, role=Role.LEADERSHIP, reason=Page.Reason.BREAK_GLASS,
            subject=subject, summary=told,
        )  # fmt: skip
        on_page = set(page.recipients.values_list("user_id", flat=True))
        paged = sorted(page.recipients.values_list("user__username", flat=True)) + notify(
            incident=incident,
            users=[u for u in members_of(Role.LEADERSHIP) if u.pk not in on_page],
            needs=Need.LEADERSHIP,
            event=Event.BREAK_GLASS,
            urgent=True,
            subject=subject,
            body=f"{told}\n\n{incident_url(incident.ref)}",
        )
        record(actor, CorrectionEvent.BREAK_GLASS, correction, after={"paged": paged}, reason=justification)
    elif signoff.satisfied:  # pre-authorised (tier 1, or by a playbook): runs now, the commander is told
        approve(actor, correction, now)
        by = f" (pre-authorised by playbook {preauth.label})" if preauth is not None else ""
        notify(
            incident=incident,
            users=[incident.commander] if incident.commander is not None else members_of(Role.INCIDENT_COMMANDER),
            needs=Need.INCIDENT_COMMANDER,
            event=Event.PREAUTHORISED,
            subject=f"Pre-authorised correction: {ctype.label} on {target.name} ({incident.ref})",
            body=f"{user.username} applied {ctype.label}{by}: {rationale}\n\n{incident_url(incident.ref)}",
        )
    else:
        _notify_approvers(actor, correction, signoff)
    return correction


@transaction.atomic
def correction_edit(
    *,
    actor: Actor,
    correction: Correction,
    params: Any = None,
    duration_minutes: int | None = None,
    rationale: str | None = None,
) -> Correction:
    """Change a pending request. If what would run changes, every earlier approval is void."""
    user = person(actor)
    incident, correction = lock(actor, correction)
    refuse_if_closed(incident, "its requests cannot be changed")
    if correction.state != State.PENDING_APPROVAL:
        raise DomainError("Only a request still pending approval can be edited.", code="conflict")
    if user.pk != correction.requested_by_id and not user.has_role(*COMMANDER_ROLES):
        raise DomainError("Only the requester or a commander may edit this request.", code="forbidden")
    ctype = get_type(correction.type)
    target = resolve_target(
        ctype,
        deployment=correction.deployment.slug if correction.deployment is not None else None,
        params=params if isinstance(params, dict) else correction.params,
    )
    new_params = validate_params(ctype, params, target) if params is not None else correction.params
    new_duration = _duration(ctype, duration_minutes) if duration_minutes is not None else correction.duration_minutes
    if ctype.tier_of(new_params) != correction.tier:
        raise DomainError.invalid_field("params", "This change would need a different tier; cancel and re-request.")
    before = {"params": correction.params, "duration_minutes": correction.duration_minutes,
              "rationale": correction.rationale}  # fmt: skip
    correction.params, correction.duration_minutes = new_params, new_duration
    if rationale is not None:
        correction.rationale = required_text(rationale, "rationale", NO_RATIONALE)
    new_hash = content_hash(type=ctype.key, target=target.name, params=new_params, duration_minutes=new_duration)
    voided = 0
    changed = new_hash != correction.content_hash
    if changed:
        correction.content_hash = new_hash
        voided = Approval.objects.filter(correction=correction, voided_at__isnull=True).update(voided_at=timezone.now())
        # Whoever shaped what will run counts as a requester of it (DESIGN §3): no sign-off from them.
        CorrectionEditor.objects.get_or_create(correction=correction, editor=user)
    correction.save()
    notices_draft(actor=actor, correction=correction)  # customers the edit newly touches
    record(
        actor, CorrectionEvent.EDITED, correction, before=before,
        after={"params": new_params, "duration_minutes": new_duration, "rationale": correction.rationale,
               "approvals_voided": voided, "content_hash": correction.content_hash,
               "counts_as_requester": changed},
    )  # fmt: skip
    return correction
