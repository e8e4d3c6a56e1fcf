"""Deciding on a request: approve (or ratify break glass), reject, cancel; and lapsing, when
nobody decided in time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import passkeys
from accounts.actor import Actor
from accounts.lockout import second_factor_verify
from accounts.models import User
from config.errors import DomainError
from corrections import locks, policy
from corrections.customers.services import notice_explanation_check
from corrections.events import CorrectionEvent
from corrections.models import Approval, Correction, CorrectionEditor, State, needs_ratification
from corrections.selectors import decision_facts
from corrections.services.common import approve, end, lock, person, record, require_typed_target, required_text
from corrections.services.lifts import lifts_sweep_deadlines
from corrections.services.permissions import CANCELLABLE_STATES, correction_actions_for, may_cancel
from incidents.notifications import Event, incident_url, notify
from incidents.selectors import can_view_incident


def lapse_if_due(actor: Actor, correction: Correction, now: datetime) -> bool:
    if correction.state == State.PENDING_APPROVAL and correction.pending_until and now >= correction.pending_until:
        deadline = "pending_until"
    elif correction.state == State.APPROVED and correction.execute_by and now >= correction.execute_by:
        deadline = "execute_by"
    else:
        return False
    before = end(correction, State.LAPSED, now)
    told = _tell_requester_it_lapsed(correction, deadline)
    record(actor, CorrectionEvent.LAPSED, correction, before={"state": before},
            after={"state": State.LAPSED, "deadline": deadline, "told": told})  # fmt: skip
    return True


LAPSED_BECAUSE = {
    "pending_until": "nobody gave the sign-off it needed within its time to live",
    "execute_by": "it was approved but did not start within its execution window",
}


def _tell_requester_it_lapsed(correction: Correction, deadline: str) -> list[str]:
    incident = correction.incident
    return notify(
        incident=incident,
        event=Event.REMINDER,
        users=[correction.requested_by],
        subject=f"Lapsed: {correction.type} on {correction.target_name} ({incident.ref})",
        body=f"Your request for {correction.type} on {correction.target_name} lapsed: {LAPSED_BECAUSE[deadline]}. "
        f"Nothing was applied. Request it again if it is still needed.\n\n{incident_url(incident.ref)}",
    )


def _verify_second_factor(actor: Actor, user: User, correction: Correction, *, otp: str, passkey: str) -> str:
    """Check the approver's fresh second factor; returns which kind ("passkey" or "totp").

    A passkey's answer counts only for a challenge issued to this approver for this correction as
    reviewed (accounts.passkeys.approval_purpose), once. Refused while the sign-in is locked out;
    a wrong code or answer counts towards that lockout.
    """
    if passkey:
        purpose = passkeys.approval_purpose(correction.pk, correction.content_hash)
        passkeys.passkey_verify(actor=actor, purpose=purpose, answer=passkey, field="passkey")
        return "passkey"
    devices = list(TOTPDevice.objects.filter(user=user, confirmed=True))
    if not devices:
        if passkeys.has_passkey(user):
            raise DomainError.invalid_field(
                "otp", "Confirm with your passkey (in the browser), or set up an authenticator app for its code."
            )
        raise DomainError.invalid_field(
            "otp",
            "This approval needs a second factor: add a passkey or an authenticator app on your account page first.",
        )
    if second_factor_verify(actor=actor, devices=devices, code=otp, field="otp") is None:
        raise DomainError.invalid_field("otp", "Enter the current 6-digit code from your authenticator app.")
    return "totp"


def correction_passkey_challenge(*, actor: Actor, correction: Correction) -> dict[str, Any]:
    """Options for the approver's browser to sign with a passkey: a challenge for this person and
    this correction as it stands now, answerable once (accounts.passkeys). Issued only to someone
    who may approve it now and whose approval needs a second factor."""
    user = person(actor)
    if "approve" not in correction_actions_for(user=user, correction=correction):
        raise DomainError("You cannot approve this correction now.", code="conflict")
    if not correction.policy_at_request.requires_second_factor:
        raise DomainError("This approval needs no second factor.", code="conflict")
    purpose = passkeys.approval_purpose(correction.pk, correction.content_hash)
    return passkeys.passkey_challenge_issue(actor=actor, purpose=purpose)


STALE_CONTENT = "The request changed since you opened it — review it again."


def _require_reviewed(correction: Correction, reviewed_hash: str) -> None:
    """An approval counts only for the content its approver saw (DESIGN §3)."""
    if reviewed_hash != correction.content_hash:
        raise DomainError(STALE_CONTENT, code="conflict", fields={"content_hash": [STALE_CONTENT]})


def _refuse(refusal: policy.Refusal | None) -> None:
    if refusal is not None:
        raise DomainError(refusal.message, code=refusal.code)


def correction_approve(
    *,
    actor: Actor,
    correction: Correction,
    content_hash: str,
    comment: str = "",
    otp: str = "",
    passkey: str = "",
    confirm_target: str = "",
    notice_explanation: str = "",
) -> Correction:
    """Approve (or ratify a break-glass correction) exactly the content hashed as `content_hash`.

    Tier 4 needs a fresh second factor: `passkey`, a passkey's answer to a challenge issued for
    this correction (browser only), or else `otp`, the authenticator app's code.
    Refusals a person can act on are 409; a stale hash records nothing and spends no code.
    """
    # The second factor is checked before the transaction: a wrong code must count against the
    # device's throttle, which a rolled-back transaction would forget.
    user = person(actor)
    unlocked = _correction_for_decision(correction.pk)
    if unlocked is None or not can_view_incident(user, unlocked.incident):
        raise DomainError("No such correction.", code="not_found")
    _require_reviewed(unlocked, content_hash)
    refusal = policy.approval_refusal(decision_facts(unlocked), user.pk, user.roles)
    snapshot = unlocked.policy_at_request
    second_factor = ""
    if refusal is None:  # otherwise the locked check below says why, without spending a code
        if snapshot.requires_typed_confirmation:
            require_typed_target(unlocked, confirm_target)
        if snapshot.requires_second_factor:
            second_factor = _verify_second_factor(actor, user, unlocked, otp=otp, passkey=passkey)
    with transaction.atomic():
        incident, correction = lock(actor, correction)
        if lapse_if_due(actor, correction, timezone.now()):
            lapsed = True
        else:
            lapsed = False
            _decide_approve(
                actor, correction, content_hash=content_hash, comment=comment,
                second_factor=second_factor, notice_explanation=notice_explanation,
            )  # fmt: skip
    if lapsed:  # the lapse is committed; the refusal follows
        raise DomainError("This request has lapsed: its time to live passed before it was approved.", code="conflict")
    return correction


def _correction_for_decision(pk: int) -> Correction | None:
    return (
        Correction.objects.select_related("incident", "deployment", "model")
        .prefetch_related("editors", "approvals__approver__groups")
        .filter(pk=pk)
        .first()
    )


def _decide_approve(
    actor: Actor,
    correction: Correction,
    *,
    content_hash: str,
    comment: str,
    second_factor: str,
    notice_explanation: str = "",
) -> None:
    user = person(actor)
    snapshot = correction.policy_at_request
    ratifying = needs_ratification(correction)
    # Again under the lock: an edit may have committed since the check outside it.
    _require_reviewed(correction, content_hash)
    approvals = locks.live_approvals(correction)
    editors = set(CorrectionEditor.objects.filter(correction=correction).values_list("editor_id", flat=True))
    _refuse(policy.approval_refusal(decision_facts(correction, approvals=approvals, editor_ids=editors),
                                    user.pk, user.roles))  # fmt: skip
    if snapshot.requires_second_factor and not second_factor:
        raise DomainError.invalid_field("otp", "Enter the current 6-digit code from your authenticator app.")
    if not ratifying:  # a correction breaking a customer's agreement carries why (corrections.customers)
        notice_explanation_check(actor=actor, correction=correction, explanation=notice_explanation)
    requirements = snapshot.requirements
    candidate = (user.pk, user.roles)
    signoff = policy.evaluate(requirements, [*[(a.approver_id, a.approver.roles) for a in approvals], candidate])
    approval = Approval.objects.create(
        correction=correction,
        approver=user,
        requester=correction.requested_by,
        decision=Approval.Decision.APPROVE,
        counted_as=signoff.filled.get(user.pk, ""),
        comment=comment,
        content_hash=correction.content_hash,
        second_factor_verified=snapshot.requires_second_factor,
        ratifies_break_glass=ratifying,
    )
    record(
        actor, CorrectionEvent.RATIFICATION_GIVEN if ratifying else CorrectionEvent.APPROVAL_GIVEN, correction,
        after={"approval": approval.pk, "counted_as": approval.counted_as, "content_hash": correction.content_hash,
               "still_needed": signoff.missing, "second_factor": approval.second_factor_verified,
               **({"second_factor_kind": second_factor} if second_factor else {})},
        reason=comment,
    )  # fmt: skip
    if not signoff.satisfied:
        return
    now = timezone.now()
    if ratifying:
        correction.ratified_at = now
        correction.save(update_fields=["ratified_at", "updated_at"])
        record(actor, CorrectionEvent.RATIFIED, correction, after={"ratified_at": now})
    else:
        approve(actor, correction, now)


@transaction.atomic
def correction_reject(*, actor: Actor, correction: Correction, comment: str) -> Correction:
    """One rejection ends the request."""
    user = person(actor)
    comment = required_text(comment, "comment", "Say why you reject it.")
    _, correction = lock(actor, correction)
    if lapse_if_due(actor, correction, timezone.now()):
        return correction
    editors = set(CorrectionEditor.objects.filter(correction=correction).values_list("editor_id", flat=True))
    facts = decision_facts(correction, approvals=[], editor_ids=editors)  # approvals play no part in rejecting
    _refuse(policy.rejection_refusal(facts, user.pk, user.roles))
    Approval.objects.create(
        correction=correction,
        approver=user,
        requester=correction.requested_by,
        decision=Approval.Decision.REJECT,
        comment=comment,
        content_hash=correction.content_hash,
    )
    before = end(correction, State.REJECTED, timezone.now())
    record(actor, CorrectionEvent.REJECTED, correction, before={"state": before}, after={"state": State.REJECTED},
            reason=comment)  # fmt: skip
    return correction


@transaction.atomic
def correction_cancel(*, actor: Actor, correction: Correction, reason: str) -> Correction:
    user = person(actor)
    reason = required_text(reason, "reason", "Say why you cancel it.")
    _, correction = lock(actor, correction)
    if not may_cancel(user, correction):
        raise DomainError("Only the requester or a commander may cancel this correction.", code="forbidden")
    if correction.state not in CANCELLABLE_STATES:
        raise DomainError(
            f"This correction is {correction.get_state_display().lower()}; lift it instead of cancelling.",
            code="conflict",
        )
    before = end(correction, State.CANCELLED, timezone.now())
    record(actor, CorrectionEvent.CANCELLED, correction, before={"state": before}, after={"state": State.CANCELLED},
            reason=reason)  # fmt: skip
    return correction


def corrections_sweep_deadlines(*, actor: Actor, now: datetime | None = None) -> int:
    """Lapse requests past their time to live and approvals past their execution window."""
    now = now or timezone.now()
    due = Correction.objects.filter(
        Q(state=State.PENDING_APPROVAL, pending_until__lte=now) | Q(state=State.APPROVED, execute_by__lte=now)
    ).values_list("pk", flat=True)
    lapsed = 0
    for pk in list(due):
        with transaction.atomic():
            correction = Correction.objects.select_related("incident").get(pk=pk)
            _, correction = lock(actor, correction)
            lapsed += lapse_if_due(actor, correction, now)
    return lapsed + lifts_sweep_deadlines(actor=actor, now=now)
