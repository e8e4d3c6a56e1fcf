"""What the corrections and notifications add to readiness and to the Prometheus scrape (accounts.ops).

Every figure is read from the database when scraped, so any web process on any host reports the
same numbers, in a fixed number of queries (tests/accounts/test_ops.py counts them). Drills stay
out (DESIGN §8a). No label names an incident, a correction or a person: a restricted incident is
at most one more in a count (DESIGN §7).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from accounts import ops
from corrections.models import Correction, DispatchAttempt, OutboxEntry, State
from incidents.models.notifications import Delivery, DeliveryState

# Time from a correction's request to its being in force, in seconds.
TIME_TO_CORRECTION_BUCKETS = (30, 60, 120, 300, 600, 900, 1800, 3600, 4 * 3600, 24 * 3600)


def _age(oldest) -> float | None:
    return None if oldest is None else max(0.0, (timezone.now() - oldest).total_seconds())


def _outbox_ready() -> dict:
    oldest = OutboxEntry.objects.filter(done_at__isnull=True).aggregate(oldest=Min("created_at"))["oldest"]
    return ops.age_check(age_seconds=_age(oldest), limit=settings.FAILSAFE_READY_OUTBOX_MAX_AGE, what="dispatch")


def _notifications_ready() -> dict:
    # Deferred deliveries wait for the end of someone's quiet hours on purpose: not a backlog.
    pending = Delivery.objects.filter(done_at__isnull=True, state=DeliveryState.PENDING)
    oldest = pending.aggregate(oldest=Min("created_at"))["oldest"]
    return ops.age_check(age_seconds=_age(oldest), limit=settings.FAILSAFE_READY_NOTIFY_MAX_AGE, what="notification")


def collect() -> list:
    """Five queries (the ledger head, in accounts.ops, is the sixth of a scrape)."""
    outbox = OutboxEntry.objects.filter(done_at__isnull=True).aggregate(n=Count("id"), oldest=Min("created_at"))
    deliveries = Delivery.objects.filter(done_at__isnull=True).aggregate(n=Count("id"), oldest=Min("created_at"))

    backlog = GaugeMetricFamily("failsafe_outbox_backlog", "Outgoing work not yet done, by kind.", labels=["kind"])
    backlog.add_metric(["dispatch"], outbox["n"])
    backlog.add_metric(["notification"], deliveries["n"])
    oldest = GaugeMetricFamily(
        "failsafe_outbox_oldest_age_seconds", "Age of the oldest outgoing work not yet done, by kind.", labels=["kind"]
    )
    oldest.add_metric(["dispatch"], _age(outbox["oldest"]) or 0)
    oldest.add_metric(["notification"], _age(deliveries["oldest"]) or 0)

    attempts = CounterMetricFamily(
        "failsafe_dispatch_attempts", "Calls to actuators, by outcome (drills excluded).", labels=["outcome"]
    )
    counted = dict(
        DispatchAttempt.objects.filter(correction__incident__is_drill=False)
        .values_list("outcome")
        .annotate(n=Count("id"))
        .order_by()
    )
    for outcome in DispatchAttempt.Outcome.values:
        attempts.add_metric([outcome], counted.get(outcome, 0))

    pending = GaugeMetricFamily(
        "failsafe_pending_approvals", "Corrections waiting for sign-off, by tier (drills excluded).", labels=["tier"]
    )
    by_tier = dict(
        Correction.objects.filter(state=State.PENDING_APPROVAL, incident__is_drill=False)
        .values_list("tier")
        .annotate(n=Count("id"))
        .order_by()
    )
    for tier in (1, 2, 3, 4):
        pending.add_metric([str(tier)], by_tier.get(tier, 0))

    return [backlog, oldest, attempts, pending, _time_to_correction()]


def _time_to_correction() -> HistogramMetricFamily:
    took = ExpressionWrapper(F("activated_at") - F("requested_at"), output_field=DurationField())
    in_force = Correction.objects.filter(activated_at__isnull=False, incident__is_drill=False).annotate(took=took)
    buckets = {f"le_{b}": Count("id", filter=Q(took__lte=timedelta(seconds=b))) for b in TIME_TO_CORRECTION_BUCKETS}
    row = in_force.aggregate(n=Count("id"), total=Sum("took"), **buckets)
    histogram = HistogramMetricFamily(
        "failsafe_time_to_correction_seconds",
        "From a correction's request to its being in force (drills excluded).",
    )
    histogram.add_metric(
        [],
        [(str(float(b)), row[f"le_{b}"]) for b in TIME_TO_CORRECTION_BUCKETS] + [("+Inf", row["n"])],
        sum_value=row["total"].total_seconds() if row["total"] else 0.0,
    )
    return histogram


def register() -> None:
    ops.register_readiness("outbox", _outbox_ready)
    ops.register_readiness("notifications", _notifications_ready)
    ops.register_collector(collect)
