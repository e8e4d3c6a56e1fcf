"""Presentation helpers for the pages: badges, role names, readable ledger events, moments in time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django import template
from django.template.defaultfilters import date as date_filter
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.timezone import localtime, template_localtime

from incidents import audit
from incidents.models import Severity, Status

register = template.Library()

# Events whose before/after reads well as field changes; others (e.g. corrections) are told by
# their sentence alone, and shown in full on their own page.
_CHANGE_ROWS_FOR = ("incident.",)
# Keys of an event's `after` that are bookkeeping, not a change to show.
_HIDDEN_KEYS = {"paged", "ref"}
_FIELD_LABELS = {"risk_domain": "risk domain", "called_in": "called in", "participants_added": "participants added"}


@register.simple_tag
def severity_badge(value: str) -> str:
    if value not in Severity.values:
        return format_html('<span class="badge">{}</span>', value or "—")
    number = value[-1]
    return format_html('<span class="badge sev sev-{}" title="{}">{}</span>', number, Severity(value).label, value)


@register.simple_tag
def status_badge(value: str) -> str:
    label = Status(value).label if value in Status.values else value
    return format_html('<span class="badge status status-{}">{}</span>', value, label)


@register.filter
def role_label(role: str) -> str:
    return str(role).replace("_", " ")


@register.filter
def role_list(roles) -> str:
    return ", ".join(role_label(r) for r in sorted(roles))


@register.filter
def event_sentence(event) -> str:
    """What the event was, in the words the audit narrative uses (other apps register theirs)."""
    return audit.describe(event)


def _show(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, str) and value in Status.values:
        return Status(value).label.lower()
    return str(value)


@register.filter
def event_changes(event) -> list[tuple[str, str | None, str]]:
    """(field, before or None, after) for the fields an event changed; empty for creations."""
    if (
        event.verb.endswith(".created")
        or not event.verb.startswith(_CHANGE_ROWS_FOR)
        or not isinstance(event.after, dict)
    ):
        return []
    before = event.before if isinstance(event.before, dict) else {}
    rows = []
    for key, value in event.after.items():
        old = _show(before[key]) if key in before else None
        new = _show(value)
        if key in _HIDDEN_KEYS or old == new or (old is None and new == "—"):
            continue
        rows.append((_FIELD_LABELS.get(key, key.replace("_", " ")), old, new))
    return rows


@register.filter
def event_excerpt(event) -> str:
    """The words of a note or decision event, for feeds that show events only."""
    after = event.after if isinstance(event.after, dict) else {}
    return after.get("body", "") if event.verb.startswith("timeline.") else ""


@register.filter
def is_backdated(entry) -> bool:
    """A timeline entry recorded more than a minute after the moment it describes."""
    return entry.created_at - entry.occurred_at > timedelta(minutes=1)


@register.simple_tag(takes_context=True)
def nav_current(context) -> str:
    """Which main-nav entry the current page belongs to."""
    match = getattr(context.get("request"), "resolver_match", None)
    name = match.url_name if match else ""
    if name == "dashboard":
        return "dashboard"
    if name == "incident-new":
        return "new"
    if name and name.startswith("incident"):
        return "incidents"
    if name and name.startswith("signal"):
        return "signals"
    if name and name.startswith("audit"):
        return "audit"
    if name and name.startswith("metrics"):
        return "metrics"
    if name == "readiness":
        return "readiness"
    if name == "in-force":
        return "in-force"
    if name and (name.startswith("oncall") or name.startswith("page-")):
        return "oncall"
    if name and name.startswith("drill"):
        return "drills"
    if name == "deadlines":
        return "deadlines"
    if name and name.startswith("playbook"):
        return "playbooks"
    return ""


# Every moment a page shows: machine-readable, and the full time (to the second) on hover.
FULL_TIME = "j M Y, H:i:s"


@register.simple_tag
def when(value: datetime | None, fmt: str = "j M Y, H:i", *, utc: bool = False, css: str = "") -> str:
    """`<time>` for a moment: `fmt` is a date format, or "ago" for "5 minutes ago"; `utc` adds " UTC".
    A day (a `date`) reads as one; ISO text (e.g. from a stored snapshot) is read as the moment it names."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if not value:
        return ""
    if not isinstance(value, datetime):  # a day: no time of day to show or convert
        day_fmt = "j M Y" if fmt == "j M Y, H:i" else fmt
        return format_html('<time{} datetime="{}" title="{}">{}</time>', format_html(' class="{}"', css) if css else "",
                           value.isoformat(), date_filter(value, "j M Y"), date_filter(value, day_fmt))  # fmt: skip
    # " UTC" means it: the moment converted to UTC, whatever zone the viewer's pages use.
    local = localtime(value, UTC) if utc else template_localtime(value)
    text = f"{timesince(value)} ago" if fmt == "ago" else date_filter(local, fmt)
    return format_html(
        '<time{} datetime="{}" title="{} UTC">{}{}</time>',
        format_html(' class="{}"', css) if css else "",
        date_filter(local, "c"),
        date_filter(localtime(value, UTC), FULL_TIME),
        text,
        " UTC" if utc else "",
    )
