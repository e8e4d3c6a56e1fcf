"""The API's base views and schema class: every POST of a view deriving from ApiView or ApiListView
honours an Idempotency-Key header (accounts.idempotency), and the schema documents it. They live
in accounts because a key belongs to a user; the rest of the plumbing is config.api."""

from __future__ import annotations

import functools
import hashlib
import json

from django.http import HttpResponse
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.generics import GenericAPIView
from rest_framework.views import APIView

from accounts import idempotency
from accounts.actor import Actor
from config.strict import BoundedJSONParser, ErrorSerializer


def actor_of(request) -> Actor:
    return Actor.from_request(request, source="api")


# --- Idempotency-Key: a repeated POST runs once (accounts.idempotency) ----------------------------

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENCY_DESCRIPTION = (
    "Optional, 1–255 printable ASCII characters, chosen by the client (e.g. a UUID) and scoped to your "
    "user. Repeating a request with the same key and the same method, path and body within 24 hours "
    "runs it once: the repeat gets the first answer again (status and body, 4xx included; a 5xx is not "
    f"kept) with the header `{REPLAYED_HEADER}: true`. A repeat sent while the first is still running "
    "waits for it and gets its answer. The same key with a different request is refused with 422."
)


def _file_print(upload) -> dict[str, object]:
    """An uploaded file as the fingerprint sees it: its name, size and SHA-256 (then rewound)."""
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return {"name": upload.name, "size": upload.size, "sha256": digest.hexdigest()}


def _printable(data):
    """A form or multipart body (a QueryDict, files included) as JSON-ready lists; JSON as it is."""
    if not hasattr(data, "lists"):
        return data
    return {key: [_file_print(v) if hasattr(v, "chunks") else v for v in values] for key, values in data.lists()}


def _request_fingerprint(request) -> str:
    """Method, path and body; the body as canonical JSON, so spacing and key order do not matter."""
    body = json.dumps(_printable(request.data), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return idempotency.fingerprint(request.method, request.get_full_path(), body)


def _run_once(post):
    """Wrap a view's post(): with an Idempotency-Key header it runs through idempotency_run_once."""

    @functools.wraps(post)  # keeps @extend_schema's annotation
    def post_once(self, request, *args, **kwargs):
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None or getattr(request, "_idempotency_claimed", False):  # no key, or a super().post()
            return post(self, request, *args, **kwargs)
        key = idempotency.validate_key(key, field=IDEMPOTENCY_HEADER)
        print_ = _request_fingerprint(request)  # parses the body first: bad JSON is a 400 that claims nothing
        request._idempotency_claimed = True
        first = None

        def run() -> idempotency.Answer | None:
            nonlocal first
            try:
                response = post(self, request, *args, **kwargs)
            except Exception as exc:
                response = self.handle_exception(exc)  # 4xx as a response; anything else raises and rolls back
            first = self.finalize_response(request, response, *args, **kwargs)
            first.render()
            if first.status_code >= 500:
                return None
            return idempotency.Answer(first.status_code, first.get("Content-Type", ""), first.content.decode())

        outcome = idempotency.idempotency_run_once(
            actor=actor_of(request), channel=idempotency.Channel.API, key=key, fingerprint=print_, run=run,
            field=IDEMPOTENCY_HEADER,
        )  # fmt: skip
        if not outcome.replayed:
            return first
        answer = outcome.answer
        replay = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type or None)
        replay[REPLAYED_HEADER] = "true"
        return replay

    post_once.runs_once = True
    return post_once


class IdempotentPost:
    """Every POST of a subclass honours an Idempotency-Key header (tests/test_idempotency_routes.py
    walks the URL conf to check each POST route does). A view may set `idempotent = False` only for
    a reason the test names."""

    idempotent = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        post = vars(cls).get("post")
        if post is not None and cls.idempotent and not getattr(post, "runs_once", False):
            cls.post = _run_once(post)


class ApiView(IdempotentPost, APIView):
    parser_classes = [BoundedJSONParser]


class ApiListView(IdempotentPost, GenericAPIView):
    parser_classes = [BoundedJSONParser]


class FailsafeAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus the Idempotency-Key header with its 400 and 422 on every idempotent
    POST, and the 400 of a page or cursor that does not exist on every paginated list."""

    def _runs_once(self) -> bool:
        post = getattr(self.view, "post", None)
        return self.method == "POST" and getattr(post, "runs_once", False)

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self._runs_once():
            header = OpenApiParameter(
                IDEMPOTENCY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, description=IDEMPOTENCY_DESCRIPTION
            )
            parameters = [*parameters, header]
        return parameters

    def _paginated(self) -> bool:
        return self.method == "GET" and self._is_list_view() and self._get_paginator() is not None

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        # @extend_schema(responses=...) replaces get_response_serializers, so these are added here.
        answers = []
        if self._runs_once():
            answers += [
                ("400", f"Invalid input; `errors` names each field (or the {IDEMPOTENCY_HEADER} header)."),
                ("422", f"The {IDEMPOTENCY_HEADER} was already used for a different request."),
            ]
        if self._paginated():
            answers.append(("400", "Invalid query; `errors` names each parameter (a page past the last included)."))
        error = self.resolve_serializer(ErrorSerializer, "response") if answers else None
        for code, description in answers:
            operation["responses"].setdefault(
                code, {"description": description, "content": {"application/json": {"schema": error.ref}}}
            )
        return operation
