"""Readiness (DESIGN §8a): for every deployment × correction type, can it run automatically?

- automatable: an actuator is wired to the deployment and its last passing GET /health says it
  supports the type (an actuator whose /health lists no `supported_types` supports every type
  that dispatches);
- manual: the type is never dispatched (`destroy_weights`), or an admin chose to carry it out by
  hand on this deployment (`Actuator.manual_types`);
- missing: the type dispatches but no actuator reaches the deployment, or its actuator does not
  support the type.

Apart from that, each actuator's health: ok, failing (its last check failed), stale (older than
FAILSAFE_READINESS_STALE_AFTER × FAILSAFE_READINESS_INTERVAL_SECONDS) or unchecked. Requests warn,
never refuse, when a deployment they reach is missing, failing, stale or unchecked for their type:
an emergency may still need the manual step.

This module only reads; checks are written by services.actuator_record_readiness.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from corrections.catalogue import TYPES, CorrectionType
from corrections.models import Actuator, Correction
from incidents.models import Deployment

AUTOMATABLE, MANUAL, MISSING = "automatable", "manual", "missing"
OK, FAILING, STALE, UNCHECKED, NO_ACTUATOR = "ok", "failing", "stale", "unchecked", "no actuator"
MODES = (AUTOMATABLE, MANUAL, MISSING)
HEALTH_STATES = (OK, FAILING, STALE, UNCHECKED, NO_ACTUATOR)
# Health that makes an automatable cell worth a warning.
UNHEALTHY = frozenset({FAILING, STALE, UNCHECKED})


def interval() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "FAILSAFE_READINESS_INTERVAL_SECONDS", 60)))


def beat_period() -> timedelta:
    """How often beat runs the check task; a check due within one period is taken now, so each actuator
    is checked at least once per interval (and a failure seen within one interval of it starting)."""
    entry = getattr(settings, "CELERY_BEAT_SCHEDULE", {}).get("check-readiness", {})
    return timedelta(seconds=min(float(entry.get("schedule", 5.0)), interval().total_seconds()))


def stale_after() -> timedelta:
    return interval() * float(getattr(settings, "FAILSAFE_READINESS_STALE_AFTER", 3))


def supported_types_of(body: Any) -> list[str] | None:
    """What a /health answer says the actuator can apply (None: it does not say)."""
    listed = body.get("supported_types") if isinstance(body, dict) else None
    if not isinstance(listed, list):
        return None
    return sorted({t for t in listed if isinstance(t, str) and t in TYPES})


# --- one actuator, one type -------------------------------------------------------------------


@dataclass(frozen=True)
class Health:
    state: str  # ok, failing, stale, unchecked, no actuator
    checked_at: datetime | None
    detail: str

    @property
    def age_seconds(self) -> int | None:
        if self.checked_at is None:
            return None
        return max(0, int((timezone.now() - self.checked_at).total_seconds()))

    @property
    def bad(self) -> bool:
        return self.state in UNHEALTHY


def health_of(actuator: Actuator | None, *, now: datetime | None = None) -> Health:
    if actuator is None:
        return Health(NO_ACTUATOR, None, "")
    if actuator.checked_at is None:
        return Health(UNCHECKED, None, "")
    if not actuator.ready:
        return Health(FAILING, actuator.checked_at, actuator.check_detail)
    if actuator.checked_at < (now or timezone.now()) - stale_after():
        return Health(STALE, actuator.checked_at, actuator.check_detail)
    return Health(OK, actuator.checked_at, actuator.check_detail)


@dataclass(frozen=True)
class Cell:
    """One deployment × one correction type."""

    type: str
    mode: str  # automatable, manual, missing
    reason: str  # why manual or missing; "" when automatable


def cell_of(actuator: Actuator | None, ctype: CorrectionType) -> Cell:
    if not ctype.dispatchable:
        return Cell(ctype.key, MANUAL, "never automatic: carried out by hand and confirmed")
    if actuator is not None and ctype.key in (actuator.manual_types or []):
        return Cell(ctype.key, MANUAL, "carried out by hand on this deployment (an admin's choice)")
    if actuator is None:
        return Cell(ctype.key, MISSING, "no actuator is configured")
    if actuator.supported_types is not None and ctype.key not in actuator.supported_types:
        return Cell(ctype.key, MISSING, "its actuator does not support it")
    return Cell(ctype.key, AUTOMATABLE, "")


def dispatches(actuator: Actuator | None, type_key: str) -> bool:
    """Whether the worker sends this type to this actuator (otherwise the target is a manual step)."""
    ctype = TYPES.get(type_key)
    return ctype is not None and cell_of(actuator, ctype).mode == AUTOMATABLE


# --- before approval: what cannot be automated -------------------------------------------------


@dataclass(frozen=True)
class Automation:
    """Whether a correction of one type can reach a deployment automatically now, and if not, why."""

    deployment: str
    automatable: bool
    problem: str  # "" when automatable
    mode: str = AUTOMATABLE
    health: str = OK


def _age(when: datetime | None) -> str:
    if when is None:
        return "never"
    minutes = int((timezone.now() - when).total_seconds() // 60)
    return f"{minutes} min ago" if minutes < 120 else f"{minutes // 60} h ago"


def automation(slug: str, actuator: Actuator | None, ctype: CorrectionType) -> Automation:
    cell = cell_of(actuator, ctype)
    health = health_of(actuator)
    problem = ""
    if cell.mode == MISSING and actuator is None:
        problem = "no actuator is configured: this step will be manual"
    elif cell.mode == MISSING:
        problem = f"its actuator does not support {ctype.label.lower()}: this step will be manual"
    elif cell.mode == MANUAL:
        problem = "carried out by hand here (an admin's choice): this step will be manual"
    elif health.state == UNCHECKED:
        problem = "its actuator has not passed a readiness check yet"
    elif health.state == FAILING:
        problem = f"its last readiness check failed ({health.detail or 'no detail'})"
    elif health.state == STALE:
        problem = f"its last readiness check is stale ({_age(health.checked_at)}): it may not answer"
    return Automation(slug, not problem, problem, cell.mode, health.state)


def automation_of(deployments: list[Deployment], ctype: CorrectionType) -> list[Automation]:
    """One query for the actuators of these deployments. Nothing to warn about for a type never dispatched."""
    if not ctype.dispatchable:
        return []
    actuators = {a.deployment_id: a for a in Actuator.objects.filter(deployment__in=[d.pk for d in deployments])}
    return [automation(d.slug, actuators.get(d.pk), ctype) for d in deployments]


def automation_for_correction(correction: Correction) -> list[Automation]:
    """For a correction's targets, prefetched with their deployments' actuators (no query)."""
    ctype = TYPES.get(correction.type)
    if ctype is None or not ctype.dispatchable:
        return []
    return [
        automation(t.deployment.slug, getattr(t.deployment, "actuator", None), ctype) for t in correction.targets.all()
    ]


# --- the matrix --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One deployment: its actuator's health and a cell per correction type, in catalogue order."""

    deployment: Deployment
    actuator: Actuator | None
    health: Health
    cells: list[Cell]

    @property
    def missing(self) -> int:
        return sum(c.mode == MISSING for c in self.cells)


def matrix_queryset(*, model: str | None = None, deployment: str | None = None) -> QuerySet[Deployment]:
    """Active deployments (what a correction can aim at), with their model and actuator: one query."""
    qs = Deployment.objects.filter(active=True).select_related("model", "actuator")
    if model:
        qs = qs.filter(model__name=model)
    if deployment:
        qs = qs.filter(slug=deployment)
    return qs.order_by("model__name", "slug")


def rows_of(deployments) -> list[Row]:
    """No query: the deployments come with their actuators (matrix_queryset)."""
    now = timezone.now()
    rows = []
    for d in deployments:
        actuator = getattr(d, "actuator", None)
        rows.append(Row(d, actuator, health_of(actuator, now=now), [cell_of(actuator, t) for t in TYPES.values()]))
    return rows


@dataclass(frozen=True)
class Trouble:
    deployment: str
    health: str


def troubles() -> list[Trouble]:
    """For the dashboard: actuators of active deployments whose health is failing, stale or unchecked (one query)."""
    cutoff = timezone.now() - stale_after()
    rows = (
        Actuator.objects.filter(deployment__active=True)
        .filter(Q(checked_at__isnull=True) | Q(ready=False) | Q(checked_at__lt=cutoff))
        .values_list("deployment__slug", "checked_at", "ready")
        .order_by("deployment__slug")
    )
    return [
        Trouble(slug, UNCHECKED if checked_at is None else FAILING if not ready else STALE)
        for slug, checked_at, ready in rows
    ]
