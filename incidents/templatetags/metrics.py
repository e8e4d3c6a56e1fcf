from django import template

from incidents.metrics.svg import format_duration

register = template.Library()


@register.filter
def duration(seconds: float | None) -> str:
    """A duration in seconds as a person reads it: 45 s, 12 min, 3.5 h, 2.1 d (— for none)."""
    return format_duration(seconds)
