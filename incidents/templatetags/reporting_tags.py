"""Regulators' clocks on the incident page and the dashboard, and how a clock's time reads."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html

from incidents.models.reporting import Clock, ClockState
from incidents.reporting import selectors, services

register = template.Library()
DASHBOARD_CLOCKS = 5


def _span(delta: timedelta) -> str:
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


@register.simple_tag
def time_left(clock: Clock) -> str:
    """ "2 d 3 h left", or "overdue by 5 h" (red through .clock-overdue), or what became of it."""
    if clock.state == ClockState.MET:
        return format_html('<span class="clock-left clock-met">met</span>')
    if clock.state == ClockState.STOPPED:
        return format_html('<span class="clock-left clock-stopped">stopped</span>')
    left = clock.due_at - timezone.now()
    if left <= timedelta(0):
        return format_html('<strong class="clock-left clock-overdue">overdue by {}</strong>', _span(left))
    return format_html('<span class="clock-left">{} left</span>', _span(left))


@register.inclusion_tag("incidents/reporting/_panel.html", takes_context=True)
def reportability_panel(context, incident) -> dict[str, Any]:
    """Each regime's decision and clocks, earliest due first: two queries (the incident is visible)."""
    statuses = selectors.reportability_of(incident=incident)
    clocks = sorted((c for s in statuses for c in s.clocks if c.state == ClockState.RUNNING), key=lambda c: c.due_at)
    return {
        "incident": incident,
        "statuses": statuses,
        "clocks": clocks,
        "may_assess": services.may_assess(context["request"].user),
    }


@register.inclusion_tag("incidents/reporting/_dashboard.html", takes_context=True)
def deadlines_panel(context) -> dict[str, Any]:
    """The next few running clocks on incidents the viewer may see (overdue ones first)."""
    user = context["request"].user
    return {"clocks": selectors.next_deadlines_for(user=user, limit=DASHBOARD_CLOCKS) if user.is_authenticated else []}
