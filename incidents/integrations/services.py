"""Managing inbound integrations (admins) and receiving their alerts (the integrations themselves).

An alert becomes one signal, keyed `<kind>:<integration id>:<fingerprint>` through the signals'
dedup (incidents.services: signal_new, signal_fold), so two integrations never fold into each other:

- firing, nothing open with that key        → a new signal (ledger `signal.received`)
- firing, same episode already recorded      → nothing changes (a sender's resend, no ledger row)
- firing, a new `startsAt` while still open  → folded: occurrences + 1 (`signal.folded`)
- resolved                                   → `resolved_at` is set on that signal (`signal.resolved`)
- firing again after resolved                → re-opened: `resolved_at` cleared, occurrences + 1 (`signal.reopened`)
- resolved, and nothing open with that key   → ignored (we never saw it fire, or it was dismissed)

Deliveries of one integration are serialised by a row lock on it, so a retry racing its original
never makes two signals of one alert. A delivery is read and written in batches (one lookup of its
alerts' open signals, one INSERT, one UPDATE, one ledger append), not alert by alert.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import ledger
from accounts.actor import Actor
from accounts.models import User
from accounts.roles import Role
from config.errors import DomainError
from incidents import locks
from incidents.events import IncidentEvent
from incidents.integrations.formats import Alert
from incidents.models import Deployment, Severity, Signal, Source
from incidents.models.integrations import Integration, IntegrationKind
from incidents.services import SIGNAL_FOLD_FIELDS, open_signal_q, signal_fold, signal_new

NAME_MAX = 100


def _require_admin(actor: Actor) -> User:
    if actor.user is None or not (actor.user.is_superuser or actor.user.has_role(Role.ADMIN)):
        raise DomainError("Only an admin manages integrations.", code="forbidden")
    return actor.user


def _summary(integration: Integration) -> dict[str, str | None]:
    return {
        "name": integration.name,
        "kind": integration.kind,
        "token": f"{Integration.TOKEN_PREFIX}{integration.lookup}…",
        "default_deployment": integration.default_deployment.slug if integration.default_deployment else None,
        "default_severity_hint": integration.default_severity_hint,
    }


def integration_check_new(*, name: str, kind: str, default_severity_hint: str = "") -> str:
    """The rules a new integration must meet (the API and the admin form both ask here); returns
    the name as it will be stored."""
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise DomainError.invalid_field("name", f"Give the integration a name of 1 to {NAME_MAX} characters.")
    if kind not in IntegrationKind.values:
        raise DomainError.invalid_field("kind", f"Expected one of: {', '.join(IntegrationKind.values)}.")
    if default_severity_hint and default_severity_hint not in Severity.values:
        raise DomainError.invalid_field("default_severity_hint", f"Expected one of {', '.join(Severity.values)}.")
    if Integration.objects.filter(name__iexact=name).exists():
        raise DomainError.invalid_field("name", "An integration with this name already exists.")
    return name


@transaction.atomic
def integration_create(
    *,
    actor: Actor,
    name: str,
    kind: str,
    default_deployment: Deployment | None = None,
    default_severity_hint: str = "",
) -> tuple[Integration, str]:
    """A new integration and its token (shown this once; only its hash is kept)."""
    admin = _require_admin(actor)
    name = integration_check_new(name=name, kind=kind, default_severity_hint=default_severity_hint)
    token, lookup = Integration.new_token()
    try:
        with transaction.atomic():
            integration = Integration.objects.create(
                name=name, kind=kind, lookup=lookup, token_hash=Integration.hash_token(token),
                default_deployment=default_deployment, default_severity_hint=default_severity_hint,
                created_by=admin,
            )  # fmt: skip
    except IntegrityError as exc:  # the same name, created a moment ago by someone else
        raise DomainError.invalid_field("name", "An integration with this name already exists.") from exc
    ledger.record(actor=actor, verb=IncidentEvent.INTEGRATION_CREATED, obj=integration, after=_summary(integration))
    return integration, token


@transaction.atomic
def integration_rotate(*, actor: Actor, integration: Integration) -> tuple[Integration, str]:
    """A new token; the old one stops working at once."""
    _require_admin(actor)
    integration = locks.lock_integration(integration.pk)
    if integration.revoked_at is not None:
        raise DomainError("This integration is revoked; create a new one.", code="conflict")
    before = _summary(integration)
    token, lookup = Integration.new_token()
    integration.lookup, integration.token_hash, integration.rotated_at = (
        lookup,
        Integration.hash_token(token),
        timezone.now(),
    )
    integration.save(update_fields=["lookup", "token_hash", "rotated_at"])
    ledger.record(
        actor=actor, verb=IncidentEvent.INTEGRATION_ROTATED, obj=integration, before=before, after=_summary(integration)
    )
    return integration, token


@transaction.atomic
def integration_revoke(*, actor: Actor, integration: Integration, reason: str) -> Integration:
    _require_admin(actor)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError.invalid_field("reason", "Say why this integration is revoked.")
    integration = locks.lock_integration(integration.pk)
    if integration.revoked_at is not None:
        raise DomainError("This integration is already revoked.", code="conflict")
    integration.revoked_at = timezone.now()
    integration.save(update_fields=["revoked_at"])
    ledger.record(
        actor=actor, verb=IncidentEvent.INTEGRATION_REVOKED, obj=integration, after=_summary(integration), reason=reason
    )
    return integration


# --- receiving ----------------------------------------------------------------------------------

OUTCOMES = ("created", "folded", "reopened", "resolved", "unchanged", "ignored")


@dataclass
class Receipt:
    """What one delivery did, alert by alert (counts, and the signals it touched)."""

    counts: Counter[str] = field(default_factory=Counter)
    signal_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"received": sum(self.counts.values()), **{k: self.counts[k] for k in OUTCOMES},
                "signals": self.signal_ids}  # fmt: skip


def dedup_key_for(integration: Integration, fingerprint: str) -> str:
    return f"{integration.kind}:{integration.pk}:{fingerprint}" if fingerprint else ""


def _deployment(integration: Integration, slug: str, cache: dict[str, Deployment | None]) -> Deployment | None:
    if slug and slug not in cache:
        cache[slug] = Deployment.objects.filter(slug=slug).first()
    return cache.get(slug) or integration.default_deployment


class _Batch:
    """One delivery's changes, kept in memory and written at the end: new signals in one INSERT,
    changed ones in one UPDATE, the ledger events in one append (in alert order). Alerts are
    decided one after another against this state, so a fingerprint repeated within a delivery
    sees what the alert before it did, exactly as if each were written at once."""

    def __init__(self, actor: Actor, integration: Integration, keys: set[str]) -> None:
        self.actor, self.integration = actor, integration
        self.open = locks.lock_open_signals(dedup_keys=keys, still_open=open_signal_q()) if keys else {}
        self.new: list[Signal] = []
        self.changed: dict[int, Signal] = {}
        self.fields: set[str] = set()
        self.events: list[tuple[IncidentEvent, Signal, dict[str, object]]] = []

    def change(self, signal: Signal, fields: Sequence[str]) -> None:
        if signal.pk is not None:  # a new one is inserted with whatever it holds by then
            self.changed[signal.pk] = signal
            self.fields.update(fields)

    def event(self, verb: IncidentEvent, signal: Signal, after: dict[str, object]) -> None:
        self.events.append((verb, signal, after))

    def write(self) -> None:
        if self.new:
            Signal.objects.bulk_create(self.new)  # sets each pk (PostgreSQL, SQLite)
        if self.changed:
            Signal.objects.bulk_update(list(self.changed.values()), sorted(self.fields))
        ledger.record_many(actor=self.actor, entries=[
            ledger.Entry(verb=verb, obj=signal, incident_ref=signal.incident.ref if signal.incident else "",
                         after=after)
            for verb, signal, after in self.events
        ])  # fmt: skip


@transaction.atomic
def alerts_receive(*, actor: Actor, integration: Integration, alerts: Sequence[Alert]) -> Receipt:
    """Record one delivery's alerts as signals (see the module's table). All or nothing."""
    integration = locks.lock_integration(integration.pk)
    if integration.revoked_at is not None:  # revoked between authentication and this lock
        raise DomainError("This integration was revoked.", code="forbidden")
    now = timezone.now()
    integration.last_used_at = now
    integration.save(update_fields=["last_used_at"])
    batch = _Batch(actor, integration, {dedup_key_for(integration, a.fingerprint) for a in alerts} - {""})
    receipt = Receipt()
    touched: list[Signal] = []
    deployments: dict[str, Deployment | None] = {}
    for alert in alerts:
        outcome, signal = _receive(batch, alert, now, deployments)
        receipt.counts[outcome] += 1
        if signal is not None and all(signal is not seen for seen in touched):
            touched.append(signal)
    batch.write()
    receipt.signal_ids = [signal.pk for signal in touched]
    return receipt


def _receive(
    batch: _Batch, alert: Alert, now: datetime, deployments: dict[str, Deployment | None]
) -> tuple[str, Signal | None]:
    integration = batch.integration
    key = dedup_key_for(integration, alert.fingerprint)
    existing = batch.open.get(key) if key else None
    if not alert.firing:
        if existing is None:
            return "ignored", None
        if existing.resolved_at is not None:
            return "unchanged", existing
        existing.resolved_at = alert.ends_at or now
        existing.last_seen_at = now
        batch.change(existing, ["resolved_at", "last_seen_at"])
        batch.event(IncidentEvent.SIGNAL_RESOLVED, existing,
                    {"resolved_at": existing.resolved_at, "fingerprint": alert.fingerprint})  # fmt: skip
        return "resolved", existing
    if existing is not None and existing.resolved_at is not None:
        existing.resolved_at = None
        existing.occurrences += 1
        existing.last_seen_at = now
        existing.alert_started_at = alert.starts_at or now
        batch.change(existing, ["resolved_at", "occurrences", "last_seen_at", "alert_started_at"])
        batch.event(IncidentEvent.SIGNAL_REOPENED, existing,
                    {"occurrences": existing.occurrences, "fingerprint": alert.fingerprint})  # fmt: skip
        return "reopened", existing
    if existing is not None and alert.starts_at is not None and existing.alert_started_at == alert.starts_at:
        return "unchanged", existing  # the sender repeating a notification about the same episode
    if existing is not None:  # a new episode while the signal is open: signal_ingest's fold
        after = signal_fold(existing, title=alert.title, alert_started_at=alert.starts_at or now, now=now)
        batch.change(existing, SIGNAL_FOLD_FIELDS)
        batch.event(IncidentEvent.SIGNAL_FOLDED, existing, after)
        return "folded", existing
    signal, after = signal_new(
        actor=batch.actor,
        source=Source.INTERNAL_MONITORING,
        title=alert.title,
        detail=alert.detail,
        severity_hint=alert.severity_hint or integration.default_severity_hint,
        deployment=_deployment(integration, alert.deployment_slug, deployments),
        dedup_key=key,
        integration=integration,
        alert_started_at=alert.starts_at or now,
        link=alert.link,
        now=now,
    )
    batch.new.append(signal)
    batch.event(IncidentEvent.SIGNAL_RECEIVED, signal, after)
    if key:
        batch.open[key] = signal
    return "created", signal
