"""Walking the URL configuration, for tests that must cover every route, including future ones."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, get_resolver


def routes(patterns=None, prefix: str = ""):
    """(route, view) for every URL pattern outside the Django admin (staff-only by its own rules)."""
    for p in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(p, URLResolver):
            if p.namespace != "admin":
                yield from routes(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p.callback


def concrete(route: str, values: dict[str, str]) -> str:
    """The route with its parameters filled in from `values` ({"<str:ref>": "INC-…", ...})."""
    for placeholder, value in values.items():
        route = route.replace(placeholder, value)
    assert "<" not in route, f"no test value for a parameter in {route}"
    return "/" + route
