"""What the metrics page measures: groups of durations between two timestamps, one group per
kind of thing (incidents here; corrections contribute theirs from corrections/metrics.py).

A group names where its rows come from (a selector already filtered to what the user may see),
the path from its rows to their incident (severity, category, status and drills are always the
incident's), the timestamp that places a row in a month, and its metrics. The computation in
incidents.metrics.selectors is shared by every group, so the exclusions, the visibility rule and
the fixed query count hold for all of them.

    from incidents import metrics
    metrics.register_group(metrics.MetricGroup(key="corrections", ..., visible=corrections_visible_to))

(call it from the app's AppConfig.ready()).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from accounts.models import User


@dataclass(frozen=True)
class Metric:
    """end − start, in seconds, for each row where both are recorded and end is not before start."""

    key: str
    label: str
    start: str  # field (path) on the group's rows
    end: str
    formula: str  # as the page shows it, e.g. "acknowledged − reported"
    meaning: str


@dataclass(frozen=True)
class MetricGroup:
    key: str
    title: str
    # The rows the user may see (restricted incidents only when granted): the visibility rule.
    visible: Callable[[User], QuerySet[Any]]
    incident_path: str  # "" for incidents themselves, "incident" for rows that belong to one
    month_field: str  # the row's timestamp that places it in a month (UTC) and in the date range
    month_basis: str  # how the page explains it
    metrics: tuple[Metric, ...]
    order: int = 100
    # bench_incidents: adds this group's rows to a freshly seeded scratch database (raw SQL on a
    # cursor), so the metrics page is measured with every group populated.
    bench_seed: Callable[[Any], None] | None = None

    def incident_field(self, name: str) -> str:
        return f"{self.incident_path}__{name}" if self.incident_path else name


_GROUPS: dict[str, MetricGroup] = {}


def register_group(group: MetricGroup) -> None:
    keys = [metric.key for metric in group.metrics]
    if len(set(keys)) != len(keys):
        raise ValueError(f"metric keys repeat in group {group.key!r}")
    _GROUPS[group.key] = group


def registered_groups() -> list[MetricGroup]:
    return sorted(_GROUPS.values(), key=lambda group: (group.order, group.key))
