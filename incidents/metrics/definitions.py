"""The incident metrics: durations between an incident's milestone columns (DESIGN §4)."""

from __future__ import annotations

from incidents.metrics.registry import Metric, MetricGroup, register_group
from incidents.selectors import incidents_visible_to

INCIDENT_METRICS = (
    Metric(
        key="detect",
        label="Time to detect",
        start="occurred_at",
        end="detected_at",
        formula="detected − occurred",
        meaning="From when it began (when someone recorded that) to when it was first noticed.",
    ),
    Metric(
        key="report",
        label="Time to report",
        start="detected_at",
        end="reported_at",
        formula="reported − detected",
        meaning="From when it was first noticed (a signal's first sighting) to when it was logged here.",
    ),
    Metric(
        key="acknowledge",
        label="Time to acknowledge",
        start="reported_at",
        end="acknowledged_at",
        formula="acknowledged − reported",
        meaning="From logging to the first triage or response.",
    ),
    Metric(
        key="contain",
        label="Time to contain",
        start="reported_at",
        end="contained_at",
        formula="contained − reported",
        meaning="From logging to the first correction in force (or the incident marked contained).",
    ),
    Metric(
        key="resolve",
        label="Time to resolve",
        start="reported_at",
        end="resolved_at",
        formula="resolved − reported",
        meaning="From logging to the commander declaring it resolved.",
    ),
    Metric(
        key="close",
        label="Time to close",
        start="reported_at",
        end="closed_at",
        formula="closed − reported",
        meaning="From logging to closing, after any review.",
    ),
)

INCIDENT_GROUP = MetricGroup(
    key="incidents",
    title="Incidents",
    visible=incidents_visible_to,
    incident_path="",
    month_field="reported_at",
    month_basis="the month (UTC) in which the incident was reported",
    metrics=INCIDENT_METRICS,
    order=0,
)


def register() -> None:
    register_group(INCIDENT_GROUP)
