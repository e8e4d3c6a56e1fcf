"""Structured logs (structlog over the standard library): JSON lines in production, readable lines
in a development checkout (FAILSAFE_LOG_JSON). Every record, ours or a library's, carries what is
bound for the request or task that wrote it:

    request_id   the id accounts.middleware.RequestIdMiddleware set (X-Request-ID, the ledger's request_id)
    user_id      the signed-in person or token owner, once known
    incident     the reference of the incident a view deals with (its `ref` URL parameter)
    task_id      the Celery task a worker runs, with task_name

Secrets never reach a line: values under secret-looking keys are replaced by "[redacted]", and the
request line carries the path without its query string and no headers.
"""

from __future__ import annotations

import re
import time
from typing import Any

import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, merge_contextvars

request_log = structlog.get_logger("failsafe.request")

# Key names whose values are never logged, wherever they appear in an event.
_SECRET_KEY = re.compile(
    r"pass(word|phrase)?|secret|token|authori[sz]ation|cookie|sessionid|api[_-]?key|signature|csrf"
    r"|^(otp|totp|code|otp_code|verification_code)$",
    re.IGNORECASE,
)
REDACTED = "[redacted]"


def redact(_logger, _method, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in list(event.items()):
        if key in ("event", "request_id", "task_id", "task_name", "logger", "level", "timestamp"):
            continue
        if key == "request" and not isinstance(value, str):
            # Django's own records carry the request, whose repr shows the query string.
            event[key] = f"{getattr(value, 'method', '')} {getattr(value, 'path', '')}"
        elif _SECRET_KEY.search(key):
            event[key] = REDACTED
        elif isinstance(value, dict):
            event[key] = {k: REDACTED if _SECRET_KEY.search(str(k)) else v for k, v in value.items()}
    return event


SHARED_PROCESSORS: list = [
    merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.stdlib.ExtraAdder(),
    redact,
]


def formatter(*, json: bool) -> structlog.stdlib.ProcessorFormatter:
    """The LOGGING formatter factory ("()": "accounts.logs.formatter"): every standard-library record
    through structlog's processors, rendered as one JSON object per line or as a readable line."""
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    return structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
        foreign_pre_chain=SHARED_PROCESSORS,
    )


def configure() -> None:
    structlog.configure(
        processors=[*SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


class RequestLogMiddleware:
    """Binds the request's id, user and incident for every line it causes; one line per answer.

    Sits below RequestIdMiddleware (reuses its id) and AuthenticationMiddleware. The user is bound
    again after the view, since an API token is only known once DRF has authenticated it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        clear_contextvars()
        bind_contextvars(request_id=getattr(request, "request_id", ""))
        self._bind_user(request)
        started = time.monotonic()
        try:
            response = self.get_response(request)
        finally:
            self._bind_user(request)
        match = getattr(request, "resolver_match", None)
        request_log.info(
            "request",
            method=request.method,
            path=request.path,  # never the query string
            route=(match.view_name if match is not None else "") or "unmatched",
            status=response.status_code,
            ms=round((time.monotonic() - started) * 1000),
        )
        clear_contextvars()
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        ref = view_kwargs.get("ref")
        if isinstance(ref, str):
            bind_contextvars(incident=ref)

    @staticmethod
    def _bind_user(request) -> None:
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            bind_contextvars(user_id=user.pk, user=user.get_username())


def bind_task(task_id: str | None = None, task=None, **_kwargs) -> None:
    """celery.signals.task_prerun: the task's id on every line the worker writes while running it."""
    clear_contextvars()
    bind_contextvars(task_id=task_id, task_name=getattr(task, "name", ""))


def unbind_task(**_kwargs) -> None:
    clear_contextvars()


def connect_celery() -> None:
    from celery.signals import task_postrun, task_prerun

    task_prerun.connect(bind_task, weak=False)
    task_postrun.connect(unbind_task, weak=False)
