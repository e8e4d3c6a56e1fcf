from django import template
from django.utils.html import format_html

from incidents.metrics.selectors import Cell
from incidents.metrics.svg import format_duration

register = template.Library()


@register.filter
def duration(seconds: float | None) -> str:
    """A duration in seconds as a person reads it: 45 s, 12 min, 3.5 h, 2.1 d (— for none)."""
    return format_duration(seconds)


@register.simple_tag
def metric_cell(cell: Cell) -> str:
    """A table cell's content: "p50 / p90 n=…" (a tag, not an include: the page has hundreds)."""
    if not cell.n:
        return format_html('<span class="metric-n">n={}</span>', 0)
    return format_html(
        '<span class="metric-p50">{}</span> / <span class="metric-p90">{}</span> <span class="metric-n">n={}</span>',
        format_duration(cell.p50),
        format_duration(cell.p90),
        cell.n,
    )
