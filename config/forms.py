"""Page-form plumbing shared by every app."""

from __future__ import annotations

from django import forms

from config.errors import DomainError


def bind_domain_error(form: forms.Form, error: DomainError) -> None:
    """Attach a service's refusal to the form: field messages on their fields, the rest on top.

    A form whose fields are named differently from the service's arguments maps them with a
    `field_for_error(name)` method (e.g. the correction form: "params.accounts" → "param_accounts").
    """
    field_for = getattr(form, "field_for_error", lambda name: name)
    field_messages = []
    for key, messages in error.fields.items():
        field = field_for(key)
        for message in messages:
            if field in form.fields:
                form.add_error(field, message)
                field_messages.append(message)
            else:
                form.add_error(None, message)
    if error.message not in field_messages and error.message not in form.non_field_errors():
        form.add_error(None, error.message)
