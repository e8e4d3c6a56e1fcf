"""Row locks of the corrections app, taken in one fixed order (as Saleor's order/lock_objects.py):

    incident → correction → its targets → its approvals, its lift request, its customer notices → its outbox entry

and the ledger head last (inside ledger.record). A transaction may skip a step but never goes
back to an earlier one, so two transactions wanting the same rows queue instead of deadlocking.
Every select_for_update of the app is here (tests/corrections/test_locks.py checks it).
Configuration rows (actuators, policies, playbooks) are locked on their own, never with the rows
above; a playbook before its versions.
"""

from __future__ import annotations

from corrections.models import (
    Actuator,
    Approval,
    ApprovalPolicy,
    Correction,
    CorrectionTarget,
    CustomerNotice,
    Drill,
    DrillSchedule,
    LiftRequest,
    OutboxEntry,
    Playbook,
    PlaybookVersion,
)
from incidents.models import Deployment, Incident


def incident(incident_id: int) -> Incident:
    return Incident.objects.select_for_update().get(pk=incident_id)


def correction(correction_id: int, *, related: tuple[str, ...] = ()) -> Correction:
    """The correction's row only: rows read with it through `related` are not locked."""
    return Correction.objects.select_for_update(of=("self",)).select_related(*related).get(pk=correction_id)


def incident_and_correction(correction_id: int, *, related: tuple[str, ...] = ()) -> tuple[Incident, Correction]:
    """For a change that may write both: the incident first, as every other writer takes them."""
    incident_id = Correction.objects.filter(pk=correction_id).values_list("incident_id", flat=True).get()
    return incident(incident_id), correction(correction_id, related=related)


def targets(correction: Correction) -> list[CorrectionTarget]:
    """The correction's targets, in a fixed order; lock the correction first."""
    return list(
        CorrectionTarget.objects.select_for_update(of=("self",))
        .select_related("deployment")
        .filter(correction=correction)
        .order_by("id")
    )


def live_approvals(correction: Correction) -> list[Approval]:
    """The correction's live approvals; lock the correction first."""
    return list(
        Approval.objects.select_for_update(of=("self",))
        .select_related("approver")
        .prefetch_related("approver__groups")
        .filter(correction=correction, voided_at__isnull=True, decision=Approval.Decision.APPROVE)
    )


def pending_lift(correction: Correction) -> LiftRequest | None:
    """The correction's lift request awaiting approval, if any; lock the correction first."""
    return (
        LiftRequest.objects.select_for_update(of=("self",))
        .select_related("requested_by")
        .filter(correction=correction, state=LiftRequest.State.PENDING)
        .first()
    )


def outbox_entry(entry_id: int) -> OutboxEntry:
    """An outbox entry; lock its correction first."""
    return OutboxEntry.objects.select_for_update().get(pk=entry_id)


def actuator_of(deployment: Deployment) -> Actuator | None:
    return Actuator.objects.select_for_update().filter(deployment=deployment).first()


def actuator(actuator_id: int) -> Actuator:
    return Actuator.objects.select_for_update().select_related("deployment").get(pk=actuator_id)


def current_policy(tier: int) -> ApprovalPolicy:
    return ApprovalPolicy.objects.select_for_update().get(tier=tier, is_current=True)


def playbooks() -> list[Playbook]:
    """Every playbook, locked: saving one checks its matchers against all the others (no overlap)."""
    return list(Playbook.objects.select_for_update().order_by("pk"))


def playbook_version(version_id: int) -> PlaybookVersion:
    """A playbook version, locked (approving its pre-authorisation); lock its playbook first if at all."""
    return PlaybookVersion.objects.select_for_update(of=("self",)).select_related("playbook").get(pk=version_id)


def current_playbook_version(playbook: Playbook) -> PlaybookVersion | None:
    return PlaybookVersion.objects.select_for_update().filter(playbook=playbook, is_current=True).first()


def drill(drill_id: int) -> Drill:
    """A drill's row, while its report is made (after its incident, if that is locked too)."""
    return Drill.objects.select_for_update(of=("self",)).select_related("incident").get(pk=drill_id)


def drill_schedule(schedule_id: int) -> DrillSchedule:
    """Configuration: locked on its own, never with the rows above."""
    return DrillSchedule.objects.select_for_update().get(pk=schedule_id)


def customer_notice(notice_id: int) -> CustomerNotice:
    """A customer notice, after its incident and correction when those are locked too."""
    return (
        CustomerNotice.objects.select_for_update(of=("self",))
        .select_related("correction", "organisation")
        .get(pk=notice_id)
    )
