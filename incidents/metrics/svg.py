"""A line chart as SVG markup, built here (no chart library, no JavaScript).

Styled by static/css/metrics.css through classes only (the CSP allows no inline style); labelled
for screen readers by <title> and <desc>, and every chart on the page has a table beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 56
UNITS = ((86400, "d"), (3600, "h"), (60, "min"), (1, "s"))


def format_duration(seconds: float | None) -> str:
    """45 s, 12 min, 3.5 h, 2.1 d."""
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


@dataclass(frozen=True)
class Series:
    name: str
    css_class: str  # e.g. "metric-p50"
    values: Sequence[float | None]  # one per label; None leaves a gap


def _axis(top_value: float) -> tuple[float, float, int, str]:
    """(axis maximum, tick step, unit in seconds, unit name) for values up to top_value seconds."""
    unit, name = next(((u, n) for u, n in UNITS if top_value >= 2 * u), (1, "s"))
    top = max(top_value / unit, 1.0)
    magnitude = 10 ** math.floor(math.log10(top / 4)) if top >= 4 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if top / (m * magnitude) <= 5)
    return math.ceil(top / step) * step, step, unit, name


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def line_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    x_title: str = "Month (UTC)",
) -> SafeString:
    """Markup for an <svg> with one line per series over the labels (months, or what x_title says), y from 0."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    present = [v for s in series for v in s.values if v is not None]
    axis_max, step, unit, unit_name = _axis(max(present, default=0.0))
    count = max(len(labels), 1)

    def x(i: int) -> float:
        return LEFT + (plot_w * (i + 0.5) / count)

    def y(seconds: float) -> float:
        return TOP + plot_h - plot_h * (seconds / unit) / axis_max

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="metric-chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" id="{chart_id}">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        '<g class="chart-grid">',
    ]
    ticks = int(round(axis_max / step))
    for t in range(ticks + 1):
        value = t * step
        ty = TOP + plot_h - plot_h * value / axis_max
        out.append(f'<line x1="{LEFT}" y1="{ty:.1f}" x2="{WIDTH - RIGHT}" y2="{ty:.1f}"/>')
        out.append(_text("chart-tick", LEFT - 6, ty + 4, _num(value), anchor="end"))
    out.append("</g>")
    # Month labels: at most about 12, so they never overlap.
    every = max(1, math.ceil(len(labels) / 12))
    out.append('<g class="chart-axis">')
    out.append(f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}"/>')
    out.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}"/>')
    for i, label in enumerate(labels):
        if i % every == 0:
            out.append(_text("chart-tick", x(i), TOP + plot_h + 16, label))
    out.append(_text("chart-label", LEFT + plot_w / 2, HEIGHT - 8, x_title))
    middle = TOP + plot_h / 2
    out.append(_text("chart-label", 14, middle, _unit_title(unit_name), f' transform="rotate(-90 14 {middle:.1f})"'))
    out.append("</g>")
    for s in series:
        out.append(f'<g class="chart-series {escape(s.css_class)}">')
        segment: list[str] = []
        for i, value in enumerate([*s.values, None]):
            if value is not None:
                segment.append(f"{x(i):.1f},{y(value):.1f}")
                out.append(f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="3"/>')
            elif segment:  # a month without data breaks the line
                out.append(f'<polyline points="{" ".join(segment)}"/>')
                segment = []
        out.append("</g>")
    legend_x = LEFT
    for s in series:
        out.append(f'<g class="chart-legend {escape(s.css_class)}">')
        out.append(f'<line x1="{legend_x}" y1="12" x2="{legend_x + 18}" y2="12"/>')
        out.append(_text("", legend_x + 24, 16, s.name, anchor="start"))
        out.append("</g>")
        legend_x += 24 + 8 * len(s.name) + 24
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 (every text above is escaped; numbers are ours)


def _text(css_class: str, x: float, y: float, content: str, extra: str = "", anchor: str = "middle") -> str:
    cls = f' class="{css_class}"' if css_class else ""
    return f'<text{cls} x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(content)}</text>'


def _unit_title(unit_name: str) -> str:
    return "Duration (" + {"s": "seconds", "min": "minutes", "h": "hours", "d": "days"}[unit_name] + ")"
