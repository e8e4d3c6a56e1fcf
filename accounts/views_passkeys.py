"""Passkeys on the second-factor page: add one, remove one, and the challenges the browser signs.

The ceremonies need navigator.credentials, so static/js/passkey.js posts these forms and reads
JSON back (options to hand to the browser, or a refusal with field messages). Removing a passkey
is a plain form post, answered by the page itself.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache

from accounts import passkeys, services, views_otp
from accounts.actor import Actor
from config.errors import DomainError
from config.forms import bind_domain_error

own_account = views_otp.own_account
PasskeyForm = views_otp.PasskeyForm
PURPOSES = frozenset({"add", "remove"})


def json_refusal(error: DomainError) -> JsonResponse:
    """A service's refusal for static/js/passkey.js: the message and its field messages."""
    return JsonResponse({"detail": error.message, "code": error.code, "fields": error.fields}, status=error.status)


def _invalid(form: forms.Form) -> JsonResponse:
    fields = {name: [str(m) for m in errors] for name, errors in form.errors.items()}
    return JsonResponse({"detail": "Check the form.", "code": "invalid", "fields": fields}, status=400)


def _only_post(request: HttpRequest) -> JsonResponse | None:
    if request.method != "POST":
        return JsonResponse({"detail": "Use POST.", "code": "method_not_allowed"}, status=405)
    return None


@own_account
@never_cache
def passkey_challenge(request: HttpRequest, purpose: str) -> HttpResponse:
    """POST: options for navigator.credentials.get(), to prove a passkey before adding or removing one."""
    refused = _only_post(request)
    if refused is not None or purpose not in PURPOSES:
        return refused or JsonResponse({"detail": "No such purpose.", "code": "not_found"}, status=404)
    try:
        return JsonResponse(passkeys.passkey_challenge_issue(actor=Actor.from_request(request), purpose=purpose))
    except DomainError as error:
        return json_refusal(error)


@own_account
@never_cache
def passkey_add_begin(request: HttpRequest) -> HttpResponse:
    """POST (code or passkey): options for navigator.credentials.create()."""
    refused = _only_post(request)
    if refused is not None:
        return refused
    form = PasskeyForm(request.POST, action="passkey-add")
    if not form.is_valid():
        return _invalid(form)
    data = form.cleaned_data
    try:
        options = services.passkey_registration_begin(
            actor=Actor.from_request(request), code=data["code"], passkey=data["passkey"]
        )
    except DomainError as error:
        return json_refusal(error)
    return JsonResponse(options)


@own_account
@never_cache
def passkey_add_complete(request: HttpRequest) -> HttpResponse:
    """POST (answer, name): keep the passkey the browser created; answers where to go next."""
    refused = _only_post(request)
    if refused is not None:
        return refused
    form = PasskeyForm(request.POST, action="passkey-add")
    if not form.is_valid():
        return _invalid(form)
    try:
        device = services.passkey_registration_complete(
            actor=Actor.from_request(request), answer=form.cleaned_data["answer"], name=form.cleaned_data["name"]
        )
    except DomainError as error:
        return json_refusal(error)
    messages.success(request, f"Passkey “{device.name}” added. Tier 4 approvals will offer it first.")
    return JsonResponse({"id": device.pk, "redirect": reverse("otp-settings")})


@own_account
@never_cache
def passkey_remove(request: HttpRequest, pk: int) -> HttpResponse:
    if request.method != "POST":
        return redirect("otp-settings")
    form = PasskeyForm(request.POST, action=f"passkey-remove-{pk}")
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.passkey_remove(actor=Actor.from_request(request), passkey_id=pk, code=data["code"],
                                    passkey=data["passkey"])  # fmt: skip
        except DomainError as error:
            bind_domain_error(form, error)
            return views_otp.render_settings(request, status=error.status, failed=f"passkey-remove-{pk}", form=form)
        messages.success(request, "Passkey removed.")
        return redirect("otp-settings")
    return views_otp.render_settings(request, status=400, failed=f"passkey-remove-{pk}", form=form)
