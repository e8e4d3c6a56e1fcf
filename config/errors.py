"""The one domain error type. Services raise it; interfaces turn it into 4xx or a form message."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal a person can act on.

    code: "invalid" (400), "forbidden" (403), "not_found" (404) or "conflict" (409).
    fields: optional {field name: [messages]} for field-level detail.
    """

    STATUS = {"invalid": 400, "forbidden": 403, "not_found": 404, "conflict": 409}

    def __init__(self, message: str, *, code: str = "invalid", fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        if code not in self.STATUS:
            raise ValueError(f"unknown DomainError code {code!r}")
        self.message = message
        self.code = code
        self.fields = fields or {}

    @property
    def status(self) -> int:
        return self.STATUS[self.code]

    @classmethod
    def invalid_field(cls, field: str, message: str) -> DomainError:
        return cls(message, code="invalid", fields={field: [message]})
