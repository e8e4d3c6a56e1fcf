"""Walking the URL configuration, for tests that must cover every route, including future ones."""

from __future__ import annotations

import re

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
    """The route with its parameters filled in from `values` ({"<ref:ref>": "INC-…", ...})."""
    for placeholder, value in values.items():
        route = route.replace(placeholder, value)
    assert "<" not in route, f"no test value for a parameter in {route}"
    return "/" + route


# What an attacker puts where a reference or an id goes, exactly as it travels in the URL: a NUL
# byte (PostgreSQL refuses it in a string literal), an overlong value, bytes that are not UTF-8,
# path traversal, plain and percent-encoded, and a digit int() refuses ("²").
HOSTILE_VALUES = ["%00", "INC-1%00", "x" * 10_000, "9" * 10_000, "%ff%fe", "../", "..%2f", "..%2F..%2Fetc", "%C2%B2"]
# Converters whose pattern keeps hostile text out of a view: `ref` and `regime` (config.converters), `int`.
STRICT_CONVERTERS = {"ref", "regime", "int"}
# Every query parameter a page or endpoint reads (and a few it might one day).
QUERY_NAMES = [
    "q", "page", "state", "type", "shown", "run", "next", "before", "after", "since", "until", "incident",
    "actor", "verb", "object_type", "object_id", "severity", "status", "category", "deployment", "cursor",
]  # fmt: skip

_PLACEHOLDER = re.compile(r"<[^>]+>")


def converters_of(route: str) -> list[str]:
    """The converter of each parameter: "incidents/<ref:ref>/" → ["ref"] (none named means str)."""
    return [p[1:-1].split(":")[0] if ":" in p else "str" for p in _PLACEHOLDER.findall(route)]


def hostile_urls(route: str, values: dict[str, str]):
    """The route with one parameter at a time replaced by each hostile value, the others valid."""
    for placeholder in _PLACEHOLDER.findall(route):
        for hostile in HOSTILE_VALUES:
            yield concrete(route.replace(placeholder, hostile), values)


def hostile_queries():
    """Each hostile value in every query parameter at once, then a NUL in each parameter alone
    (a form refusing one field must not hide another that goes to the database unchecked)."""
    for hostile in HOSTILE_VALUES:
        yield "?" + "&".join(f"{name}={hostile}" for name in QUERY_NAMES)
    for name in QUERY_NAMES:
        yield f"?{name}=%00"
