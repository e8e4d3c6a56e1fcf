"""The filters of the incident and signal lists: one FilterSet per list, used by its page and its
API list alike (issue 9, point 6).

A FilterSet only parses and narrows: it wraps the selector's queryset, which has already decided
what the user may see, and its search calls the selector's search (full-text on PostgreSQL, the
list's index order kept). Bad values are form errors: the API answers them as 400 with
`errors.<field>` (DjangoFilterBackend), the pages show them beside the form with a 400.
"""

from __future__ import annotations

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field

from incidents import selectors
from incidents.models import OPEN_STATUSES, Category, Incident, Severity, Signal, Status

SEARCH_MAX = 200
ONLY_DRILLS, HIDE_DRILLS = "only", "hide"


@extend_schema_field({"type": "string", "maxLength": SEARCH_MAX, "description": "Text in title or summary, or a ref."})
class SearchFilter(django_filters.CharFilter):
    """Full-text search; described in the API schema only (the page's search box speaks for itself)."""


@extend_schema_field({"type": "string", "description": "Deployment slug, e.g. atlas-api."})
class DeploymentFilter(django_filters.ModelChoiceFilter):
    """A deployment named by its slug (the schema says string, not the related model's id)."""


def _deployments(request=None):
    return selectors.deployment_list()


class FilterForm(forms.Form):
    """Every list's filter form: fields in the order the page shows them, whatever class declared them."""

    field_order = ["q", "severity", "status", "category", "deployment", "drills", "state"]


class IncidentFilter(django_filters.FilterSet):
    """The incident list's filters, over `selectors.incident_list_for` (visibility and order)."""

    q = SearchFilter(method="search", max_length=SEARCH_MAX, label="Search")
    severity = django_filters.ChoiceFilter(choices=Severity.choices, empty_label="Any severity")
    status = django_filters.ChoiceFilter(choices=Status.choices, empty_label="Any status")
    category = django_filters.ChoiceFilter(choices=Category.choices, empty_label="Any category")
    deployment = DeploymentFilter(
        field_name="deployments",
        label="Deployment",
        queryset=_deployments,
        to_field_name="slug",
        empty_label="Any deployment",
        error_messages={"invalid_choice": "Unknown deployment."},
    )
    drills = django_filters.ChoiceFilter(
        choices=[(ONLY_DRILLS, "Drills only"), (HIDE_DRILLS, "Hide drills")],
        empty_label="Drills and real incidents",
        label="Drills",
        method="by_drill",
        help_text="`only`: drills only; `hide`: real incidents only; empty: both.",
    )

    class Meta:
        model = Incident
        fields: list[str] = []  # every filter is declared above
        form = FilterForm

    def search(self, queryset, name: str, value: str):
        return selectors.incident_search(queryset, text=value)

    def by_drill(self, queryset, name: str, value: str):
        return queryset.filter(is_drill=value == ONLY_DRILLS)


class IncidentPageFilter(IncidentFilter):
    """The page's filters: its status menu also offers "open" (any open status). The API keeps the
    statuses it has always documented, where `status=open` is refused."""

    OPEN = "open"

    status = django_filters.ChoiceFilter(
        choices=[(OPEN, "Open (any open status)"), *Status.choices], empty_label="Any status", method="by_status"
    )

    def by_status(self, queryset, name: str, value: str):
        if value == self.OPEN:
            return queryset.filter(status__in=OPEN_STATUSES)
        return queryset.filter(status=value)


class SignalFilter(django_filters.FilterSet):
    """The signal list's filters, over `selectors.signals_for`. `state=all` (or none) is every state."""

    ALL = "all"

    state = django_filters.ChoiceFilter(
        choices=[*Signal.State.choices, (ALL, "All")],
        empty_label="Any state",
        method="by_state",
        help_text="Open, promoted or dismissed; empty or `all` for every state.",
    )

    class Meta:
        model = Signal
        fields: list[str] = []
        form = FilterForm

    def by_state(self, queryset, name: str, value: str):
        return queryset if value == self.ALL else queryset.filter(state=value)
