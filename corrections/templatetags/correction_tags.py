"""Presentation helpers for correction pages: state and tier badges, the incident page's panel."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils.html import format_html

from corrections import readiness
from corrections.catalogue import TYPES
from corrections.forms import describe_minutes
from corrections.models import DrillReport, State

register = template.Library()

# In words a responder uses; the state's own name is kept in the class for styling.
STATE_LABELS = {
    State.PENDING_APPROVAL: "pending approval",
    State.ACTIVE: "active",
    State.PARTLY_ACTIVE: "partly in force",
}
MOVING = {State.APPROVED, State.QUEUED, State.APPLYING, State.LIFTING, State.EXPIRED}
TIER_TITLES = {
    1: "Tier 1: pre-authorised",
    2: "Tier 2: one commander or leadership approval",
    3: "Tier 3: one leadership and one commander approval",
    4: "Tier 4: two leadership approvals, second factor, typed confirmation",
}


@register.simple_tag
def correction_state_badge(state: str, dry_run: bool = False) -> str:
    """The state in words; a drill's correction in force says "(dry run)": recorded at the edge, not enforced."""
    label = STATE_LABELS.get(state, str(state).replace("_", " "))
    moving = " cstate-moving" if state in MOVING else ""
    if dry_run and state in (State.ACTIVE, State.PARTLY_ACTIVE):
        return format_html(
            '<span class="badge cstate cstate-{} dry-run" data-state="{}" data-dry-run="true" '
            'title="A drill: the actuator recorded it and enforces nothing">{} (dry run)</span>',
            state,
            state,
            label,
        )
    return format_html('<span class="badge cstate cstate-{}{}" data-state="{}">{}</span>', state, moving, state, label)


@register.simple_tag
def tier_badge(tier: int) -> str:
    return format_html(
        '<span class="badge tier tier-{}" title="{}">tier {}</span>', tier, TIER_TITLES.get(tier, ""), tier
    )


@register.simple_tag
def type_tier_badge(ctype) -> str:
    """A catalogue type's tier; a type whose tier depends on its parameters shows the range."""
    if ctype.tier_for is None:
        return tier_badge(ctype.tier)
    return format_html(
        '<span class="badge tier tier-{}" title="The tier depends on the parameters">tier {}–{}</span>',
        ctype.tier, ctype.tier, ctype.tier + 1,
    )  # fmt: skip


@register.filter
def param_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "—" if value in (None, "") else str(value)


@register.inclusion_tag("corrections/_panel.html", takes_context=True)
def corrections_panel(context, incident) -> dict[str, Any]:
    """The incident page's corrections: a list that updates itself, and the way to request one."""
    from corrections.views import panel_context, type_choices  # views import services: load them lazily

    request = context["request"]
    panel = panel_context(request.user, incident)
    families = type_choices(request.user) if panel["can_request"] else []
    return {"request": request, "families": families, **panel}


@register.inclusion_tag("corrections/drills/_drill_panel.html", takes_context=True)
def drill_panel(context, incident) -> dict[str, Any]:
    """A drill incident's banner: its schedule, its kept reports, and keeping one now."""
    request = context["request"]
    drill = getattr(incident, "drill", None)
    reports = list(DrillReport.objects.filter(drill=drill).order_by("-made_at")[:10]) if drill else []
    return {"drill": drill, "reports": reports, "can_report": request.user.can_write}


@register.filter
def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


@register.filter
def type_label(key: str) -> str:
    ctype = TYPES.get(key)
    return ctype.label if ctype else key


@register.filter
def minutes_label(minutes: int | None) -> str:
    return describe_minutes(minutes)


_IN_FORCE_ATTR = "_failsafe_in_force_by_deployment"


def _in_force_counts(request) -> dict[str, int]:
    """Once per request, one query, however many deployments the page shows."""
    from corrections.in_force import in_force_by_deployment

    counts = getattr(request, _IN_FORCE_ATTR, None)
    if counts is None:
        counts = in_force_by_deployment()
        setattr(request, _IN_FORCE_ATTR, counts)
    return counts


@register.simple_tag(takes_context=True)
def in_force_badge(context, slug: str) -> str:
    """Beside a deployment's name: how many corrections are in force on it, linking to what they are.

    Counts only: safe for anyone, whatever the incidents behind them (DESIGN §7)."""
    request = context.get("request")
    if request is None or not getattr(request.user, "is_authenticated", False):
        return ""
    count = _in_force_counts(request).get(slug, 0)
    if not count:
        return ""
    url = reverse("in-force") + "?" + urlencode({"deployment": slug})
    return format_html(
        '<a class="badge in-force-badge" href="{}" title="Corrections in force on {}">{} in force</a>',
        url, slug, count,
    )  # fmt: skip


@register.inclusion_tag("corrections/_in_force_panel.html", takes_context=True)
def in_force_panel(context) -> dict[str, Any]:
    """The dashboard's panel: how many corrections are in force, and in what state."""
    from corrections.in_force import dashboard_counts

    return {"request": context["request"], "counts": dashboard_counts()}


@register.inclusion_tag("corrections/_readiness_warning.html")
def readiness_warning() -> dict[str, Any]:
    """The dashboard's warning when any deployment's actuator is failing, stale or unchecked (one query)."""
    return {"troubles": readiness.troubles()}


@register.filter
def count_of(counts: dict[str, int], key: str) -> int:
    return counts.get(key, 0)


@register.inclusion_tag("corrections/_playbook_panel.html", takes_context=True)
def playbook_panel(context, incident) -> dict[str, Any]:
    """The incident page's playbook: which version matched, its escalation criteria, and its
    recommended corrections, each one click from the request form filled in (sign-off as usual)."""
    from corrections.playbooks.selectors import playbook_for, recommendations_for
    from corrections.services import CLOSED_INCIDENT

    request = context["request"]
    version = playbook_for(incident)
    return {
        "request": request,
        "incident": incident,
        "version": version,
        "recommendations": recommendations_for(incident, version),
        "can_request": request.user.can_write and incident.status not in CLOSED_INCIDENT,
    }
