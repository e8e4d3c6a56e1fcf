"""The filters of the correction lists (the approval inbox, an incident's corrections): one
FilterSet used by the inbox page and the API lists alike (issue 9, point 6).

It wraps a selector's queryset, which has already decided what the user may see (and, for the
inbox, which requests could wait for them); it only narrows. Bad values are form errors: 400 with
`errors.<field>` from the API, a message beside the form on the page.
"""

from __future__ import annotations

import django_filters
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field

from config.converters import REF_REGEX
from corrections.catalogue import TYPES
from corrections.models import Correction, State

TIERS = [(tier, f"Tier {tier}") for tier in (1, 2, 3, 4)]


@extend_schema_field({"type": "string", "description": "An incident's ref, e.g. INC-2026-0001."})
class IncidentRefFilter(django_filters.CharFilter):
    """An incident named by its ref; refs are stored upper-case, so any case finds it."""

    def filter(self, qs, value):
        return super().filter(qs, value.upper() if value else value)


class CorrectionFilter(django_filters.FilterSet):
    incident = IncidentRefFilter(
        field_name="incident__ref",
        label="Incident",
        max_length=20,
        validators=[RegexValidator(rf"^{REF_REGEX}\Z", "Not an incident ref (e.g. INC-2026-0001).")],
    )
    type = django_filters.ChoiceFilter(
        choices=[(t.key, t.label) for t in TYPES.values()], label="Type", empty_label="Any type"
    )
    tier = django_filters.ChoiceFilter(choices=TIERS, label="Tier", empty_label="Any tier")
    state = django_filters.ChoiceFilter(choices=State.choices, label="State", empty_label="Any state")

    class Meta:
        model = Correction
        fields: list[str] = []  # every filter is declared above
