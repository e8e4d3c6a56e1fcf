"""Health, readiness and Prometheus metrics for the people who run Failsafe (README "Operations").

Off the product's surface: no session, not in the OpenAPI schema, and open only to a bearer token
(FAILSAFE_OPS_TOKEN) or an address allow-list (FAILSAFE_OPS_ALLOW, CIDRs). With neither configured,
a development checkout (DEBUG) answers loopback only and production refuses everyone.

Higher apps add what they know without this module importing them: `register_readiness` for a
readiness check (the outbox and notification backlogs), `register_collector` for a collector whose
gauges are read from the database at scrape time, so every host reports the same numbers.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from accounts.access import ACCESS_ATTR
from accounts.client import client_ip

log = logging.getLogger(__name__)

# Each dependency gets this long to answer, at most (the brief: one second each).
CHECK_TIMEOUT = 1.0
_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")


# --- who may ask -----------------------------------------------------------------------------------


def _networks(entries: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def ops_allowed(request) -> bool:
    """A matching bearer token, or a client address in the allow-list (loopback in DEBUG when neither is set)."""
    token = settings.FAILSAFE_OPS_TOKEN
    allow = settings.FAILSAFE_OPS_ALLOW
    header = request.headers.get("Authorization", "")
    presented = header[len("Bearer ") :].strip() if header.startswith("Bearer ") else ""
    if token and presented and hmac.compare_digest(presented.encode(), token.encode()):
        return True
    networks = _networks(allow) if allow else (_LOOPBACK if settings.DEBUG and not token else ())
    address = client_ip(request)
    if not address or not networks:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in networks)


def ops_only(view):
    """No session, no sign-in: a token or an allowed address (declared for tests/test_access.py)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not ops_allowed(request):
            return JsonResponse({"detail": "Operations endpoints need the ops token or an allowed address."},
                                status=403)  # fmt: skip
        return view(request, *args, **kwargs)

    guarded = login_not_required(never_cache(require_GET(wrapped)))
    setattr(guarded, ACCESS_ATTR, "ops")
    return guarded


# --- readiness -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One readiness check: returns a small JSON-able detail, raises NotReady (or anything) when not ready."""

    name: str
    run: Callable[[], dict]
    needs_database: bool = True  # run in the request's thread, on its connection


class NotReady(Exception):
    pass


_CHECKS: dict[str, Check] = {}


def register_readiness(name: str, run: Callable[[], dict], *, needs_database: bool = True) -> None:
    _CHECKS[name] = Check(name=name, run=run, needs_database=needs_database)


def _database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {}


def _cache() -> dict:
    key, value = f"failsafe:readyz:{os.getpid()}", uuid.uuid4().hex
    cache.set(key, value, timeout=10)
    if cache.get(key) != value:
        raise NotReady("the cache did not keep a value")
    return {"backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]}


def _broker() -> dict:
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT)
        try:
            client.ping()
        finally:
            client.close()
        return {"transport": "redis"}
    if url.startswith("filesystem://"):
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
        if not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
            raise NotReady("the broker's folder is missing or not writable")
        return {"transport": "filesystem"}
    from celery import current_app

    with current_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT)
    return {"transport": url.split("://", 1)[0]}


register_readiness("database", _database)
register_readiness("cache", _cache, needs_database=False)
register_readiness("broker", _broker, needs_database=False)


def _reason(error: BaseException) -> str:
    # The exception's type and text (never a URL: a broker URL may carry a password).
    text = str(error) if isinstance(error, NotReady) else type(error).__name__
    return text[:200]


def readiness() -> tuple[bool, dict[str, dict]]:
    """Every check's result; the ones off the database run in threads, each bounded by CHECK_TIMEOUT."""
    results: dict[str, dict] = {}
    futures = {name: _executor.submit(c.run) for name, c in _CHECKS.items() if not c.needs_database}
    database_ok = True
    for name, check in _CHECKS.items():
        if not check.needs_database:
            continue
        if not database_ok:
            results[name] = {"ok": False, "reason": "database unavailable"}
            continue
        started = time.monotonic()
        try:
            results[name] = {"ok": True, **check.run()}
        except Exception as error:  # noqa: BLE001 - any failure is "not ready", with its reason
            log.warning("readiness check %s failed", name, exc_info=not isinstance(error, NotReady))
            results[name] = {"ok": False, "reason": _reason(error)}
            database_ok = name != "database"
        results[name]["ms"] = round((time.monotonic() - started) * 1000)
    for name, future in futures.items():
        try:
            results[name] = {"ok": True, **future.result(timeout=CHECK_TIMEOUT)}
        except FutureTimeout:
            results[name] = {"ok": False, "reason": f"no answer within {CHECK_TIMEOUT:g} s"}
        except Exception as error:  # noqa: BLE001
            results[name] = {"ok": False, "reason": _reason(error)}
    return all(r["ok"] for r in results.values()), results


def age_check(*, age_seconds: float | None, limit: float, what: str) -> dict:
    """A backlog's oldest entry against its limit (0: reported, never failing)."""
    detail = {"oldest_seconds": None if age_seconds is None else round(age_seconds), "limit_seconds": limit}
    if limit and age_seconds is not None and age_seconds > limit:
        raise NotReady(f"the oldest unsent {what} is {round(age_seconds)} s old (limit {limit:g} s)")
    return detail


@ops_only
def healthz(request):
    """The process is alive and answering; touches nothing else."""
    return JsonResponse({"status": "ok"})


@ops_only
def readyz(request):
    ready, checks = readiness()
    if not ready:
        log.warning("not ready: %s", ", ".join(n for n, r in checks.items() if not r["ok"]))
    return JsonResponse({"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503)


# --- metrics ---------------------------------------------------------------------------------------


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


# In-process metrics. Under gunicorn (PROMETHEUS_MULTIPROC_DIR) prometheus_client writes them to
# per-process files that the scrape sums; otherwise they live in this registry.
_PROCESS_REGISTRY = CollectorRegistry(auto_describe=True)
HTTP_REQUESTS = Counter(
    "failsafe_http_requests", "HTTP requests answered, by URL pattern name (never the raw path), method and status.",
    ["route", "method", "status"], registry=_PROCESS_REGISTRY,
)  # fmt: skip
HTTP_LATENCY = Histogram(
    "failsafe_http_request_duration_seconds", "Time to answer, by URL pattern name.", ["route"],
    buckets=(0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0), registry=_PROCESS_REGISTRY,
)  # fmt: skip

_COLLECTORS: list[Callable[[], list]] = []


def register_collector(collect: Callable[[], list]) -> None:
    """`collect()` returns metric families read at scrape time, with a fixed number of queries."""
    _COLLECTORS.append(collect)


def _ledger_head() -> list:
    from accounts.models import LedgerHead

    seq = LedgerHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    return [GaugeMetricFamily("failsafe_ledger_head_sequence", "Sequence number of the ledger's newest event.", seq)]


register_collector(_ledger_head)


class _Collected:
    def __init__(self, collect: Callable[[], list]):
        self._collect = collect

    def collect(self):
        yield from self._collect()


def scrape() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess():
        MultiProcessCollector(registry)
    else:
        registry.register(_Collected(lambda: list(_PROCESS_REGISTRY.collect())))
    for collect in _COLLECTORS:
        registry.register(_Collected(collect))
    return generate_latest(registry)


@ops_only
def metrics(request):
    return HttpResponse(scrape(), content_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Counts each answer under its URL pattern's name, so no reference or id reaches a label."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = (match.view_name if match is not None else "") or "unmatched"
        HTTP_REQUESTS.labels(route=route, method=_method(request.method), status=str(response.status_code)).inc()
        HTTP_LATENCY.labels(route=route).observe(time.monotonic() - started)
        return response


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def _method(method: str | None) -> str:
    return method if method in _METHODS else "other"  # a client-chosen verb must not grow the label set
