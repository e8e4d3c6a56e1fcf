"""The second-factor page: enrol, confirm, replace or remove a TOTP authenticator app.

The QR code is drawn on the server as inline SVG (segno); no script is involved. The page shows
the secret only while a set-up is unconfirmed, and is never cached. Passkeys, listed first, are
added and removed through accounts.views_passkeys (adding one needs static/js/passkey.js).
"""

from __future__ import annotations

from base64 import b32encode
from urllib.parse import quote, urlencode

import segno
from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import passkeys, services
from accounts.access import READ_ROLES, WRITE_ROLES, role_required
from accounts.actor import Actor
from config.errors import DomainError
from config.forms import bind_domain_error

ISSUER = "Failsafe"
# Any role may look; enrolling is a write, and auditors, who approve nothing, write nothing anywhere.
own_account = role_required(READ_ROLES, write_roles=WRITE_ROLES)


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code from your authenticator app",
        max_length=12,
        required=False,  # the service says when a code is needed, and why
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9 ]*", "size": 8}
        ),
    )

    # Set up an app while holding only passkeys: one of them answers first (static/js/passkey.js).
    passkey = forms.CharField(max_length=passkeys.MAX_ANSWER_LENGTH, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, action: str, **kwargs):
        kwargs.setdefault("auto_id", f"{action}-%s")
        super().__init__(*args, **kwargs)

    def field_for_error(self, name: str) -> str:
        return "" if name == "passkey" else name


class PasskeyForm(forms.Form):
    """What a passkey change carries: a proof (an answer from a passkey held, or the app's code)
    and, when adding, the browser's new passkey and a name for it."""

    code = forms.CharField(label="Code from your authenticator app", max_length=12, required=False,
                           widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code",
                                                         "pattern": "[0-9 ]*", "size": 8}))  # fmt: skip
    passkey = forms.CharField(max_length=passkeys.MAX_ANSWER_LENGTH, required=False, widget=forms.HiddenInput)
    name = forms.CharField(
        label="Name it (where it lives)",
        max_length=services.PASSKEY_NAME_MAX_LENGTH,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "e.g. laptop, security key"}),
    )
    answer = forms.CharField(max_length=passkeys.MAX_ANSWER_LENGTH, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, action: str, **kwargs):
        kwargs.setdefault("auto_id", f"{action}-%s")
        super().__init__(*args, **kwargs)

    def field_for_error(self, name: str) -> str:
        return "" if name in ("passkey", "answer") else name


def otpauth_uri(device: TOTPDevice) -> str:
    """What authenticator apps scan: otpauth://totp/Failsafe:<username>?secret=…&issuer=Failsafe."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    label = quote(f"{ISSUER}:{device.user.get_username()}")
    query = urlencode({"secret": secret, "issuer": ISSUER, "algorithm": "SHA1", "digits": device.digits,
                       "period": device.step})  # fmt: skip
    return f"otpauth://totp/{label}?{query}"


def _grouped_secret(device: TOTPDevice) -> str:
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def render_settings(request: HttpRequest, *, status: int = 200, failed: str = "", form: forms.Form | None = None):
    user = request.user
    confirmed = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()
    pending = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    forms_: dict[str, forms.Form | None] = {name: CodeForm(action=name) for name in ("start", "confirm", "remove")}
    forms_["passkey_add"] = PasskeyForm(action="passkey-add")
    # Each passkey with its removal form; the one refused comes back bound, with its panel open.
    held = []
    for passkey in passkeys.passkeys_of(user):
        refused = failed == f"passkey-remove-{passkey.pk}"
        held.append((passkey, form if refused else PasskeyForm(action=f"passkey-remove-{passkey.pk}"), refused))
    if failed and not failed.startswith("passkey-remove-"):
        forms_[failed] = form
    context = {"confirmed": confirmed, "pending": pending, "forms": forms_, "failed": failed, "passkeys": held}
    if pending is not None:
        uri = otpauth_uri(pending)
        svg = segno.make(uri, error="m").svg_inline(
            scale=5, border=4, omitsize=True, title="QR code for your authenticator app"
        )
        context |= {"uri": uri, "qr_svg": mark_safe(svg), "secret": _grouped_secret(pending)}  # noqa: S308 - segno's own SVG
    return render(request, "accounts/otp_settings.html", context, status=status)


@own_account
@never_cache
def otp_settings(request: HttpRequest) -> HttpResponse:
    return render_settings(request)


# What each button does, and what the page says when it worked.
OTP_ACTIONS = {
    "start": (services.otp_device_start,
              "Scan the code with your authenticator app, then enter the code it shows to finish."),
    "confirm": (services.otp_device_confirm,
                "Your authenticator app is set up. Tier 4 approvals will ask for its code."),
    "remove": (services.otp_device_remove, "Authenticator removed."),
}  # fmt: skip


@own_account
@never_cache
def otp_action(request: HttpRequest, action: str) -> HttpResponse:
    if request.method != "POST" or action not in OTP_ACTIONS:
        return redirect("otp-settings")
    service, success = OTP_ACTIONS[action]
    form = CodeForm(request.POST, action=action)
    form.is_valid()
    try:
        proof = {"code": form.cleaned_data.get("code", "")}
        if action == "start":
            proof["passkey"] = form.cleaned_data.get("passkey", "")
        service(actor=Actor.from_request(request), **proof)
    except DomainError as error:
        bind_domain_error(form, error)
        return render_settings(request, status=error.status, failed=action, form=form)
    messages.success(request, success)
    return redirect("otp-settings")
