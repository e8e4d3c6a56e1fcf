"""Reads of regulator reports, filtered to what the user may see: a report follows its incident's
visibility everywhere (pages, API, exports, bundle), in the query."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from accounts.models import User
from incidents.audit import DiffLine, event_diff
from incidents.models import Incident
from incidents.models.reports import Report, ReportVersion
from incidents.reports.regimes import template_for
from incidents.selectors import incidents_visible_to


def _versions() -> Prefetch:
    return Prefetch(
        "versions", queryset=ReportVersion.objects.select_related("created_by", "submitted_by").order_by("number")
    )


def reports_visible_to(user: User) -> QuerySet[Report]:
    return Report.objects.filter(incident__in=incidents_visible_to(user))


def reports_of(*, user: User, incident: Incident) -> QuerySet[Report]:
    """The incident's reports with their versions (three queries however many)."""
    return (
        reports_visible_to(user)
        .filter(incident=incident)
        .select_related("incident", "created_by")
        .prefetch_related(_versions())
        .order_by("regime")
    )


def report_for(*, user: User, incident: Incident, regime: str) -> Report | None:
    report = reports_of(user=user, incident=incident).filter(regime=regime).first()
    if report is not None:
        report.incident = incident
    return report


def pick_version(report: Report, number: int | None) -> ReportVersion | None:
    """Version `number`, or the latest when None."""
    versions = list(report.versions.all())
    if number is None:
        return versions[-1] if versions else None
    return next((v for v in versions if v.number == number), None)


def previous_of(report: Report, version: ReportVersion) -> ReportVersion | None:
    return next((v for v in reversed(list(report.versions.all())) if v.number < version.number), None)


def _line(row: Any) -> str:
    if not isinstance(row, dict):
        return str(row)
    if "state" in row:  # a correction
        times = ", ".join(f"{k.removesuffix('_at')} {str(v)[:16].replace('T', ' ')}"
                          for k, v in row.items() if k.endswith("_at") and v)  # fmt: skip
        return f"{row.get('type')} on {row.get('target')}: {row.get('state')}" + (f" ({times})" if times else "")
    return f"{str(row.get('at', ''))[:16].replace('T', ' ')} {row.get('actor', '')}: {row.get('text', '')}"


def comparable(report: Report, version: ReportVersion) -> dict[str, object]:
    """A version as label → value, for the audit diff helpers (the one diff the app has)."""
    template = template_for(report.regime)
    shown: dict[str, object] = {"Kind": version.get_kind_display()}
    for f in template.fields:
        value = version.fields.get(f.name)
        if f.type == "records" and isinstance(value, list):
            value = [_line(row) for row in value]
        if f.type == "choice" and value:
            value = dict(f.choices).get(value, value)
        shown[f.label] = value
    return shown


def version_diff(report: Report, older: ReportVersion | None, newer: ReportVersion) -> list[DiffLine]:
    if older is None:
        return []
    return event_diff(comparable(report, older), comparable(report, newer))


def diff_data(lines: list[DiffLine]) -> list[dict[str, Any]]:
    return [{"field": line.field, "change": line.change, "before": line.before, "after": line.after}
            for line in lines]  # fmt: skip


def shown_fields(report: Report, version: ReportVersion) -> list[tuple[Any, Any]]:
    """(field, value) in the template's order, for the pages."""
    return [(f, version.fields.get(f.name)) for f in template_for(report.regime).fields]
