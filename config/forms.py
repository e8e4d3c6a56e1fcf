"""Page-form plumbing shared by every app."""

from __future__ import annotations

import secrets

from django import forms
from django.core.exceptions import ValidationError

from config.errors import DomainError
from config.times import NOT_STORABLE, in_utc


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


class UTCDateTimeField(forms.DateTimeField):
    """A date and time, with or without a UTC offset (without: UTC), handed on in UTC (config.times); one
    that falls outside years 1–9999 in UTC is a field error, not a server error."""

    default_error_messages = {"out_of_range": NOT_STORABLE}

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return in_utc(moment)
        except ValueError:
            raise ValidationError(self.error_messages["out_of_range"], code="out_of_range") from None


SUBMIT_TOKEN = "submit_token"


def new_submit_token() -> str:
    return secrets.token_urlsafe(24)


class OneShotForm(forms.Form):
    """A create form that runs once per rendering: it carries a one-time token in a hidden field.

    The view passes `submitted_token` to incidents.views.submit_once; a second POST with the same
    token (a double click, the back button) redirects to what the first one made. A POST without a
    token (not from our pages) runs as before.
    """

    submit_token = forms.RegexField(
        r"^[A-Za-z0-9_-]{16,64}$", required=False, initial=new_submit_token, widget=forms.HiddenInput
    )

    def clean(self):
        data = super().clean()
        if SUBMIT_TOKEN in self.errors:  # hidden, so say it where the person will see it
            self.add_error(None, "This form is out of date: reload the page and fill it in again.")
        # Not a field of the thing being made: views pass cleaned_data on to services as it is.
        self.submitted_token = data.pop(SUBMIT_TOKEN, "") or ""
        return data
