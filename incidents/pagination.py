"""Pagination that stays cheap at a million rows: counts stop at a cap.

An exact COUNT(*) over a large visible set reads every row; beyond COUNT_CAP nobody needs the
exact figure ("10,000+" says enough), so the count query stops there. Pages past the cap still
work: whether there is a next page is learnt by reading one row more than the page shows.
"""

from __future__ import annotations

from functools import cached_property

from django.core.paginator import EmptyPage, Page, Paginator
from rest_framework.response import Response

from config.api import PageNumberPagination

COUNT_CAP = 10_000


class CappedPage(Page):
    """A page of a capped count: `has_next` comes from the extra row read, not from the count."""

    def __init__(self, object_list, number, paginator, *, more: bool):
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self) -> bool:
        return self.more


class CappedPaginator(Paginator):
    """Paginates a queryset, counting at most `cap` rows."""

    def __init__(self, object_list, per_page, cap: int | None = None, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.cap = COUNT_CAP if cap is None else cap

    @cached_property
    def _counted(self) -> int:
        # Order and annotations (a search rank) cost nothing in a count but would be computed.
        return self.object_list.order_by().values("pk")[: self.cap + 1].count()

    @cached_property
    def capped(self) -> bool:
        """True when there are more than `cap` rows: `count` is then a lower bound."""
        return self._counted > self.cap

    @cached_property
    def count(self) -> int:
        return min(self._counted, self.cap)

    @cached_property
    def num_pages(self) -> int:
        """Pages within the counted rows (a lower bound when capped)."""
        return super().num_pages

    def validate_number(self, number) -> int:
        if not self.capped:
            return super().validate_number(number)
        number = super().validate_number(1) if number in (None, "") else number
        try:
            number = int(number)
        except (TypeError, ValueError):
            return super().validate_number(number)  # raises PageNotAnInteger
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        return number

    def page(self, number) -> Page:
        number = self.validate_number(number)
        if not self.capped:
            return super().page(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if not rows and number > 1:
            raise EmptyPage(self.error_messages["no_results"])
        return CappedPage(rows[: self.per_page], number, self, more=len(rows) > self.per_page)

    def get_page(self, number) -> Page:
        try:
            return super().get_page(number)
        except EmptyPage:  # past the end of a capped list: the first page, not a guess at the last
            return self.page(1)


def count_label(paginator: Paginator) -> str:
    """'1234' or, past the cap, '10,000+'."""
    return f"{paginator.count:,}+" if getattr(paginator, "capped", False) else str(paginator.count)


class CappedPageNumberPagination(PageNumberPagination):
    """DRF page-number pagination over a capped count. `count` is exact up to COUNT_CAP; beyond,
    it is COUNT_CAP and `count_capped` is true. `next` is right either way."""

    django_paginator_class = CappedPaginator

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.page.paginator.count,
                "count_capped": self.page.paginator.capped,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        schema = super().get_paginated_response_schema(schema)
        schema["properties"]["count"]["description"] = f"Exact up to {COUNT_CAP:,}; beyond, {COUNT_CAP:,}."
        schema["properties"]["count_capped"] = {
            "type": "boolean",
            "description": f"True when there are more than {COUNT_CAP:,} results (count is then a lower bound).",
        }
        schema["required"] = [*schema.get("required", []), "count_capped"]
        return schema
