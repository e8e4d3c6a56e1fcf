"""The metrics page and its CSV export. Any role may read them (each sees the numbers of what it
may see); nothing here writes, so any method but GET is refused."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import SafeString

from accounts.access import READ_ROLES, role_required
from incidents.metrics import svg
from incidents.metrics.forms import MetricsFilterForm
from incidents.metrics.registry import Metric
from incidents.metrics.selectors import ALL, Cell, GroupMetrics, MetricsReport, metrics_for
from incidents.models import Severity

metrics_page = role_required(READ_ROLES, write_roles=())
CSV_COLUMNS = ["group", "metric", "severity", "month", "n", "p50_seconds", "p90_seconds"]


def _month_label(month: dt.date) -> str:
    return month.strftime("%b %Y")


@dataclass(frozen=True)
class MetricView:
    """One metric on the page: its chart and the table that says the same (and more)."""

    metric: Metric
    chart: SafeString
    rows: list[tuple[str, Cell, list[Cell]]]  # month label, all severities, then each severity


@dataclass(frozen=True)
class GroupView:
    data: GroupMetrics
    summary: list[tuple[str, list[Cell]]]  # severity label (or "All"), a cell per metric
    metrics: list[MetricView]


def _severity_label(severity: str) -> str:
    return "All severities" if severity == ALL else severity


def _group_view(data: GroupMetrics, scope: str) -> GroupView:
    metrics = data.group.metrics
    summary = [
        (_severity_label(severity), [data.cell(m.key, severity) for m in metrics])
        for severity in [*data.severities, ALL]
    ]
    views = []
    labels = [month.strftime("%b %y") for month in data.months]
    for metric in metrics:
        overall = [data.cell(metric.key, ALL, month) for month in data.months]
        chart_id = f"chart-{data.group.key}-{metric.key}".replace("_", "-")
        chart = svg.line_chart(
            chart_id=chart_id,
            title=f"{metric.label}, {scope}: p50 and p90 by month",
            description=(
                f"{metric.formula}. Median (p50) and 90th percentile (p90) for each month from "
                f"{_month_label(data.months[0])} to {_month_label(data.months[-1])}; months without data are gaps. "
                "The table below gives the same numbers, per severity too."
            ),
            labels=labels,
            series=[
                svg.Series("p50", "metric-p50", [c.p50 for c in overall]),
                svg.Series("p90", "metric-p90", [c.p90 for c in overall]),
            ],
        )
        rows = [
            (_month_label(month), cell, [data.cell(metric.key, severity, month) for severity in data.severities])
            for month, cell in zip(data.months, overall, strict=True)
        ]
        views.append(MetricView(metric=metric, chart=chart, rows=rows))
    return GroupView(data=data, summary=summary, metrics=views)


def _scope(report: MetricsReport) -> str:
    parts = [report.filters.severity or "every severity"]
    if report.filters.category:
        parts.append(report.filters.category.replace("_", " "))
    return ", ".join(parts)


@metrics_page
def metrics(request: HttpRequest) -> HttpResponse:
    form = MetricsFilterForm(request.GET or None)
    filters = form.to_filters()
    context = {"form": form, "report": None, "query": request.GET.urlencode(), "severities": Severity.values}
    if filters is None:
        return render(request, "metrics/metrics.html", context, status=400)
    report = metrics_for(user=request.user, filters=filters)
    scope = _scope(report)
    context |= {
        "report": report,
        "scope": scope,
        "groups": [_group_view(group, scope) for group in report.groups],
        "severities": report.groups[0].severities if report.groups else Severity.values,
    }
    return render(request, "metrics/metrics.html", context)


def csv_rows(report: MetricsReport) -> list[list[str]]:
    """The CSV's rows after its header: one per cell, seconds with millisecond precision."""

    def seconds(value: float | None) -> str:
        return "" if value is None else f"{value:.3f}"

    return [
        [row.group, row.metric, row.severity, row.month, str(row.cell.n), seconds(row.cell.p50), seconds(row.cell.p90)]
        for row in report.rows()
    ]


@metrics_page
def metrics_csv(request: HttpRequest) -> HttpResponse:
    form = MetricsFilterForm(request.GET or None)
    filters = form.to_filters()
    if filters is None:
        messages = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())
        return HttpResponse(f"Invalid filters. {messages}\n", status=400, content_type="text/plain; charset=utf-8")
    report = metrics_for(user=request.user, filters=filters)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_rows(report))
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="failsafe-metrics-{stamp}.csv"'
    return response
