"""What corrections put in the way of resolving or closing their incident (incidents.closing).

Pending requests (and lifts, and break glass awaiting ratification) must be decided or cancelled
first: nothing is approved on a closed incident, so they would be stuck. Corrections in force, or on
their way, block closing unless a commander records a reasoned exception.
"""

from __future__ import annotations

from django.db.models import Q
from django.urls import reverse

from corrections.in_force import AWAITING_RATIFICATION
from corrections.models import LIVE_STATES, PENDING_STATES, RATIFIABLE_STATES, Correction, LiftRequest, State
from incidents import closing
from incidents.models import Incident, Status


def _link(correction: Correction) -> str:
    return reverse("correction-detail", args=[correction.pk])


def _name(correction: Correction) -> str:
    return f"#{correction.pk} {correction.type} on {correction.target_name}"


def pending_decisions(incident: Incident) -> list[closing.Blocker]:
    corrections = (
        Correction.objects.filter(incident=incident)
        .filter(
            Q(state__in=PENDING_STATES)
            | AWAITING_RATIFICATION
            | Q(state=State.ACTIVE, lift_requests__state=LiftRequest.State.PENDING)
        )
        .select_related("deployment", "model")
        .distinct()
        .order_by("id")
    )
    blockers = []
    for c in corrections:
        if c.state in PENDING_STATES:
            what = f"{_name(c)} is {c.get_state_display().lower()}"
        elif c.break_glass and c.ratified_at is None and c.state in RATIFIABLE_STATES:
            what = f"{_name(c)} (break glass) awaits ratification"
        else:
            what = f"the lift of {_name(c)} awaits approval"
        blockers.append(closing.Blocker(what, _link(c)))
    return blockers


def in_force(incident: Incident) -> list[closing.Blocker]:
    corrections = (
        Correction.objects.filter(incident=incident, state__in=(*LIVE_STATES, State.FAILED))
        .select_related("deployment", "model")
        .order_by("id")
    )
    return [closing.Blocker(f"{_name(c)} is {c.get_state_display().lower()}", _link(c)) for c in corrections]


def register() -> None:
    closing.register_blocker(
        "pending_decisions",
        pending_decisions,
        title="Requests still waiting for a decision",
        blocks=(Status.RESOLVED, Status.CLOSED, Status.DISMISSED),
        overridable=False,
    )
    closing.register_blocker(
        "in_force",
        in_force,
        title="Corrections in force or on their way",
        blocks=(Status.CLOSED, Status.DISMISSED),
        overridable=True,
    )
