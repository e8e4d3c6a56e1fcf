"""Configuration of corrections, audited like any change: actuators (the secret never enters the
ledger) and approval policies (admin-editable, versioned)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts import ledger
from accounts.actor import Actor
from accounts.roles import Role
from config.errors import DomainError
from corrections import locks, readiness
from corrections.catalogue import TYPES
from corrections.connectors.base import CallResult
from corrections.events import CorrectionEvent
from corrections.models import Actuator, ActuatorCheck, ApprovalPolicy
from corrections.services.common import required_text
from incidents.models import Deployment


def _require_admin(actor: Actor) -> None:
    if actor.user is not None and not actor.user.has_role(Role.ADMIN):
        raise DomainError("Only an admin may configure actuators.", code="forbidden")


@transaction.atomic
def actuator_configure(
    *,
    actor: Actor,
    deployment: Deployment,
    base_url: str,
    secret: str | None = None,
    connect_timeout_seconds: float = 2.0,
    read_timeout_seconds: float = 10.0,
    manual_types: list[str] | None = None,
) -> Actuator:
    """Wire (or rewire) a deployment's actuator. `manual_types`: None keeps them; a list replaces them."""
    _require_admin(actor)
    manual = None if manual_types is None else validate_manual_types(manual_types)
    actuator = locks.actuator_of(deployment)
    before = None
    if actuator is None:
        if not secret:
            raise DomainError.invalid_field("secret", "A new actuator needs its shared secret.")
        actuator = Actuator(deployment=deployment)
    else:
        before = {"base_url": actuator.base_url, "connect_timeout_seconds": actuator.connect_timeout_seconds,
                  "read_timeout_seconds": actuator.read_timeout_seconds,
                  "manual_types": list(actuator.manual_types or [])}  # fmt: skip
    actuator.base_url = base_url
    actuator.connect_timeout_seconds = connect_timeout_seconds
    actuator.read_timeout_seconds = read_timeout_seconds
    if secret:
        actuator.secret = secret
    if manual is not None:
        actuator.manual_types = manual
    actuator.ready = False
    actuator.next_check_at = None  # the next beat checks the new configuration
    actuator.save()
    ledger.record(
        actor=actor, verb=CorrectionEvent.ACTUATOR_CONFIGURED, obj=actuator, before=before,
        after={"deployment": deployment.slug, "base_url": base_url, "secret_changed": bool(secret),
               "connect_timeout_seconds": connect_timeout_seconds, "read_timeout_seconds": read_timeout_seconds,
               "manual_types": list(actuator.manual_types or [])},
    )  # fmt: skip
    return actuator


# The newest checks kept per actuator; the ledger keeps every change of readiness for good.
CHECK_HISTORY = 20


@transaction.atomic
def actuator_record_readiness(*, actor: Actor, actuator: Actuator, result: CallResult) -> Actuator:
    """Store one /health check. The ledger records a change (first check, ready <-> failing), not every
    check, except a person's own check (the admin action), which is audited whatever it found."""
    actuator = locks.actuator(actuator.pk)
    now = timezone.now()
    before = None if actuator.checked_at is None else actuator.ready
    actuator.checked_at = now
    actuator.ready = bool(result.ok)
    actuator.check_detail = ("ready" if result.ok else result.error or f"HTTP {result.status}")[:500]
    fields = ["checked_at", "ready", "check_detail"]
    if result.ok:
        actuator.supported_types = readiness.supported_types_of(result.body)
        fields.append("supported_types")
    actuator.save(update_fields=fields)
    ActuatorCheck.objects.create(
        actuator=actuator, checked_at=now, ok=actuator.ready, status=result.status, detail=actuator.check_detail,
        latency_ms=result.latency_ms, supported_types=actuator.supported_types if result.ok else None,
    )  # fmt: skip
    old = actuator.checks.order_by("-checked_at", "-id").values_list("pk", flat=True)[CHECK_HISTORY:]
    ActuatorCheck.objects.filter(pk__in=list(old)).delete()
    after = {"deployment": actuator.deployment.slug, "ready": actuator.ready, "detail": actuator.check_detail,
             "latency_ms": result.latency_ms}  # fmt: skip
    if before != actuator.ready:
        verb = CorrectionEvent.ACTUATOR_READY if actuator.ready else CorrectionEvent.ACTUATOR_FAILING
        ledger.record(actor=actor, verb=verb, obj=actuator, before={"ready": before}, after=after)
    elif actor.user is not None:
        ledger.record(actor=actor, verb=CorrectionEvent.ACTUATOR_READINESS_CHECKED, obj=actuator, after=after)
    return actuator


def validate_manual_types(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise DomainError.invalid_field("manual_types", "Give a list of correction types.")
    unknown = [t for t in value if t not in TYPES or not TYPES[t].dispatchable]
    if unknown:
        raise DomainError.invalid_field(
            "manual_types", f"Not a correction type that could be automated: {', '.join(unknown)}."
        )
    return sorted(set(value))


POLICY_FIELDS = (
    "requester_roles", "requirements", "pending_ttl_minutes", "execution_window_minutes",
    "requires_second_factor", "requires_typed_confirmation", "break_glass_roles",
    "sev1_commander_may_break_glass", "ratification_hours",
)  # fmt: skip


def validate_policy(tier: int, values: dict[str, Any]) -> None:
    known = {r.value for r in Role}

    def roles_ok(field: str, roles: Any) -> None:
        if not isinstance(roles, list) or not all(isinstance(r, str) and r in known for r in roles):
            raise DomainError.invalid_field(field, f"Give a list of roles from: {', '.join(sorted(known))}.")

    roles_ok("requester_roles", values["requester_roles"])
    if not values["requester_roles"]:
        raise DomainError.invalid_field("requester_roles", "At least one role must be able to request.")
    roles_ok("break_glass_roles", values["break_glass_roles"])
    requirements = values["requirements"]
    if not isinstance(requirements, list):
        raise DomainError.invalid_field("requirements", "Give a list of {roles, count} requirements.")
    for req in requirements:
        if not isinstance(req, dict) or set(req) != {"roles", "count"}:
            raise DomainError.invalid_field("requirements", 'Each requirement is {"roles": [...], "count": n}.')
        roles_ok("requirements", req["roles"])
        if not req["roles"] or not isinstance(req["count"], int) or not 1 <= req["count"] <= 10:
            raise DomainError.invalid_field("requirements", "Each requirement needs roles and a count from 1 to 10.")
    for field in ("pending_ttl_minutes", "execution_window_minutes", "ratification_hours"):
        value = values[field]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 60 * 24 * 30:
            raise DomainError.invalid_field(field, "Give a whole number from 1 to 43200.")
    if tier == 4 and (sum(r["count"] for r in requirements) < 2 or not values["requires_second_factor"]):
        raise DomainError.invalid_field(
            "requirements", "Tier 4 always needs at least two approvals and a second factor (DESIGN §3)."
        )


@transaction.atomic
def policy_update(*, actor: Actor, tier: int, changes: dict[str, Any], reason: str) -> ApprovalPolicy:
    """Write a new version of a tier's policy. Pending requests keep the snapshot they were given."""
    _require_admin(actor)
    reason = required_text(reason, "reason", "Say why the policy changes.")
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise DomainError.invalid_field(sorted(unknown)[0], "Not a policy field.")
    current = locks.current_policy(tier)
    before = {f: getattr(current, f) for f in POLICY_FIELDS}
    after = before | changes
    validate_policy(tier, after)
    if after == before:
        return current
    current.is_current = False
    current.save(update_fields=["is_current"])
    new = ApprovalPolicy.objects.create(
        tier=tier, version=current.version + 1, is_current=True, created_by=actor.user, **after
    )
    ledger.record(
        actor=actor, verb=CorrectionEvent.POLICY_UPDATED, obj=new,
        before={k: v for k, v in before.items() if after[k] != v} | {"version": current.version},
        after={k: v for k, v in after.items() if before[k] != v} | {"version": new.version},
        reason=reason,
    )  # fmt: skip
    return new
