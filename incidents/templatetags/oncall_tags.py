"""The dashboard's "On call now" panel: one line per rotation (a fixed number of queries)."""

from django import template

from incidents.oncall.selectors import on_call_now

register = template.Library()


@register.inclusion_tag("incidents/oncall/_panel.html")
def on_call_panel():
    return {"on_call_rows": on_call_now()}
