"""The review's panel on the incident page and the overdue follow-ups on the dashboard."""

from __future__ import annotations

from typing import Any

from django import template

from incidents.reviews import selectors, services

register = template.Library()


@register.inclusion_tag("incidents/reviews/_panel.html", takes_context=True)
def review_panel(context, incident) -> dict[str, Any]:
    """At most one query: the review's versions (the incident was already checked visible)."""
    user = context["request"].user
    # A review starts only from resolved, which stamps resolved_at: without it there is none to read.
    versions = list(selectors.versions_of(incident=incident)) if incident.resolved_at else []
    published = [v for v in versions if v.is_published]
    return {
        "incident": incident,
        "versions": versions,
        "latest_published": published[-1] if published else None,
        "draft": versions[-1] if versions and not versions[-1].is_published else None,
        "can_start": not versions and incident.status in services.REVIEWABLE and services.may_draft(user, incident),
    }


@register.inclusion_tag("incidents/reviews/_overdue_follow_ups.html", takes_context=True)
def overdue_follow_ups(context) -> dict[str, Any]:
    """The signed-in person's own overdue follow-ups, on incidents they may see."""
    user = context["request"].user
    return {"overdue": list(selectors.overdue_follow_ups_for(user=user)[:20]) if user.is_authenticated else []}
