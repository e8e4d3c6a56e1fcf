"""The numbers behind the metrics page, its CSV export and GET /api/v1/metrics/.

Each registered group costs one query whatever the data size. On PostgreSQL that query computes
every duration, count and percentile in the database (percentile_cont, grouped by severity and
month and, through GROUPING SETS, by month alone, by severity alone and overall). Elsewhere
(SQLite, for development) the same query without the aggregation streams one row per incident
and the percentiles are computed here with the same definition (linear interpolation between
the closest ranks), so both give the same numbers.

What is counted: the rows the user may see (a restricted incident, and its corrections, only by
someone who may see it, so no cell can reveal one to anyone else), minus dismissed incidents
(false alarms: their milestones measure nothing), drills (rehearsals) and their corrections. A
missing milestone, or one recorded before its start, leaves that row out of that metric only;
each cell says its n.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import connections
from django.db.models import F, QuerySet
from django.db.models.functions import TruncMonth
from django.utils import timezone

from accounts.models import User
from incidents.drills import real_incidents_q
from incidents.metrics.registry import MetricGroup, registered_groups
from incidents.models import Severity, Status

ALL = "all"  # the severity (or month) of a cell that spans every severity (or month)
PERCENTILES = (0.5, 0.9)
MAX_MONTHS = 120  # the widest date range a page, export or API call may ask for


@dataclass(frozen=True)
class MetricFilters:
    since: dt.date  # inclusive, from 00:00 UTC
    until: dt.date  # inclusive, to 24:00 UTC
    severity: str = ""
    category: str = ""

    @classmethod
    def default(cls, today: dt.date | None = None, **kwargs) -> MetricFilters:
        """The last 12 calendar months, this one included."""
        today = today or timezone.now().date()
        months_back = today.year * 12 + today.month - 1 - 11
        return cls(since=dt.date(months_back // 12, months_back % 12 + 1, 1), until=today, **kwargs)

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.since, dt.time.min, tzinfo=dt.UTC)

    @property
    def end(self) -> dt.datetime:
        return dt.datetime.combine(self.until, dt.time.min, tzinfo=dt.UTC) + dt.timedelta(days=1)

    def months(self) -> list[dt.date]:
        first = self.since.year * 12 + self.since.month - 1
        last = self.until.year * 12 + self.until.month - 1
        return [dt.date(m // 12, m % 12 + 1, 1) for m in range(first, last + 1)]

    def as_dict(self) -> dict[str, str]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "severity": self.severity,
            "category": self.category,
        }


@dataclass(frozen=True)
class Cell:
    n: int = 0
    p50: float | None = None  # seconds
    p90: float | None = None


EMPTY = Cell()


@dataclass(frozen=True)
class CellRow:
    """One cell as the CSV and the API carry it."""

    group: str
    metric: str
    severity: str  # a severity or ALL
    month: str  # YYYY-MM or ALL
    cell: Cell


@dataclass(frozen=True)
class GroupMetrics:
    group: MetricGroup
    months: list[dt.date]
    severities: list[str]
    cells: dict[tuple[str, str, dt.date | None], Cell] = field(repr=False)

    def cell(self, metric: str, severity: str = ALL, month: dt.date | None = None) -> Cell:
        return self.cells.get((metric, severity, month), EMPTY)

    def rows(self) -> Iterator[CellRow]:
        """Every cell, empty ones included, in the page's order: overall, by month, by severity."""
        for metric in self.group.metrics:
            for severity in [ALL, *self.severities]:
                for month in [None, *self.months]:
                    yield CellRow(
                        group=self.group.key,
                        metric=metric.key,
                        severity=severity,
                        month=month.strftime("%Y-%m") if month else ALL,
                        cell=self.cell(metric.key, severity, month),
                    )


@dataclass(frozen=True)
class MetricsReport:
    filters: MetricFilters
    groups: list[GroupMetrics]

    def rows(self) -> Iterator[CellRow]:
        for group in self.groups:
            yield from group.rows()


def metrics_for(*, user: User, filters: MetricFilters) -> MetricsReport:
    """Every registered group's metrics over what `user` may see: one query per group."""
    severities = [filters.severity] if filters.severity else list(Severity.values)
    months = filters.months()
    groups = []
    for group in registered_groups():
        rows, durations = _rows(group, user, filters)
        if connections[rows.db].vendor == "postgresql":
            cells = _cells_in_database(rows, durations)
        else:
            cells = _cells_in_python(rows, durations, len(group.metrics))
        keyed = {
            (metric.key, severity, month): cell
            for (severity, month), per_metric in cells.items()
            for metric, cell in zip(group.metrics, per_metric, strict=True)
        }
        groups.append(GroupMetrics(group=group, months=months, severities=severities, cells=keyed))
    return MetricsReport(filters=filters, groups=groups)


# --- the one query per group ------------------------------------------------------------------------


def _rows(group: MetricGroup, user: User, filters: MetricFilters) -> tuple[QuerySet, list[tuple[str, str]]]:
    """The counted rows as (severity, month, timestamps…), and each metric's (start, end) aliases."""
    qs = group.visible(user).select_related(None).prefetch_related(None).order_by()
    # Dismissed incidents were false alarms and drills were rehearsals (DESIGN §8a): both are left
    # out here, the one place every group's rows pass through.
    qs = qs.exclude(**{group.incident_field("status"): Status.DISMISSED})
    qs = qs.filter(real_incidents_q(group.incident_path))
    if filters.severity:
        qs = qs.filter(**{group.incident_field("severity"): filters.severity})
    if filters.category:
        qs = qs.filter(**{group.incident_field("category"): filters.category})
    qs = qs.filter(**{f"{group.month_field}__gte": filters.start, f"{group.month_field}__lt": filters.end})
    aliases: dict[str, str] = {}
    for metric in group.metrics:
        for name in (metric.start, metric.end):
            aliases.setdefault(name, f"m_t{len(aliases)}")
    columns = {
        "m_severity": F(group.incident_field("severity")),
        "m_month": TruncMonth(group.month_field, tzinfo=dt.UTC),
        **{alias: F(name) for name, alias in aliases.items()},
    }
    durations = [(aliases[metric.start], aliases[metric.end]) for metric in group.metrics]
    return qs.values(**columns), durations


def _month(value) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


Key = tuple[str, dt.date | None]


def _cells_in_database(rows: QuerySet, durations: list[tuple[str, str]]) -> dict[Key, list[Cell]]:
    inner, params = rows.query.get_compiler(using=rows.db).as_sql()
    seconds = ", ".join(
        # date_part gives float8 directly; EXTRACT gives numeric (PostgreSQL 14+), slower to sort.
        f"CASE WHEN r.{end} >= r.{start} THEN date_part('epoch', r.{end} - r.{start}) END AS d{i}"
        for i, (start, end) in enumerate(durations)
    )
    aggregates = ", ".join(
        f"count(d{i}), " + ", ".join(f"percentile_cont({p}) WITHIN GROUP (ORDER BY d{i})" for p in PERCENTILES)
        for i in range(len(durations))
    )
    sql = (
        f"SELECT GROUPING(m_severity), GROUPING(m_month), m_severity, m_month, {aggregates} "  # noqa: S608 (aliases from code; values are parameters)
        f"FROM (SELECT r.m_severity, r.m_month, {seconds} FROM ({inner}) r) d "
        "GROUP BY GROUPING SETS ((m_severity, m_month), (m_month), (m_severity), ())"
    )
    cells: dict[Key, list[Cell]] = {}
    with connections[rows.db].cursor() as cursor:
        cursor.execute(sql, params)
        for all_severities, all_months, severity, month, *values in cursor.fetchall():
            key = (ALL if all_severities else severity, None if all_months else _month(month))
            cells[key] = [Cell(n=values[j], p50=values[j + 1], p90=values[j + 2]) for j in range(0, len(values), 3)]
    return cells


def percentile_cont(ordered: list[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks of sorted values."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _cells_in_python(rows: QuerySet, durations: list[tuple[str, str]], count: int) -> dict[Key, list[Cell]]:
    samples: dict[Key, list[list[float]]] = defaultdict(lambda: [[] for _ in range(count)])
    for row in rows.iterator(chunk_size=2000):
        severity, month = row["m_severity"], _month(row["m_month"])
        keys = [(severity, month), (ALL, month), (severity, None), (ALL, None)]
        for i, (start, end) in enumerate(durations):
            begun, ended = row[start], row[end]
            if begun is None or ended is None or ended < begun:
                continue
            seconds = (ended - begun).total_seconds()
            for key in keys:
                samples[key][i].append(seconds)
    cells = {}
    for key, per_metric in samples.items():
        cells[key] = []
        for values in per_metric:
            values.sort()
            cells[key].append(Cell(len(values), *(percentile_cont(values, p) for p in PERCENTILES)))
    return cells
