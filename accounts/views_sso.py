"""Single sign-on pages: the start (a redirect to the provider) and the callback (accounts.sso).

Both are public (nobody is signed in yet) and answer 404 while single sign-on is not configured.
A refusal (no role, an unlinked account with the same name, a stale or tampered answer) is a page
saying what happened and whom to ask, with a 4xx status; never a 500, never an empty session.
"""

from __future__ import annotations

import logging
import re

from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.generic import View
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts import sso
from accounts.access import public

logger = logging.getLogger(__name__)
_ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")


def refusal_page(request, refusal: sso.SsoRefused) -> HttpResponse:
    context = {"refusal": refusal, "provider_name": sso.provider_name(), "contact": sso.contact()}
    return render(request, "accounts/sso_refused.html", context, status=refusal.status)


def _stale() -> sso.SsoRefused:
    return sso.SsoRefused(
        "stale",
        "This sign-in answer does not belong to a sign-in started in this browser, or it was used already. "
        "Start again from the sign-in page.",
        400,
    )


class SsoStartView(OIDCAuthenticationRequestView):
    get_settings = staticmethod(sso.setting)

    def __init__(self, **kwargs):
        # Django's View only: the endpoint is read per request (it may come from discovery), not here.
        View.__init__(self, **kwargs)

    def get(self, request):
        if not sso.enabled():
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = sso.setting("OIDC_OP_AUTHORIZATION_ENDPOINT")
            self.OIDC_RP_CLIENT_ID = sso.setting("OIDC_RP_CLIENT_ID")
        except sso.ProviderUnavailable as error:
            logger.warning("single sign-on: %s", error)
            unreachable = f"{sso.provider_name()} cannot be reached just now. Try again in a minute."
            return refusal_page(request, sso.SsoRefused("provider_error", unreachable, 502))
        return super().get(request)


class SsoCallbackView(OIDCAuthenticationCallbackView):
    get_settings = staticmethod(sso.setting)

    def get(self, request):
        if not sso.enabled():
            raise Http404("Single sign-on is not configured.")
        error = request.GET.get("error", "")
        if error:
            code = error if _ERROR_CODE.match(error) else "error"
            refusal = sso.SsoRefused(
                "provider_error", f"{sso.provider_name()} did not sign you in ({code}). Start again.", 400
            )
            if request.GET.get("state") not in request.session.get("oidc_states", {}):
                # Not an answer to a sign-in started here: show the page, but sign nobody out
                # (mozilla-django-oidc would, so a link from anywhere could end a session).
                return refusal_page(request, refusal)
            request.sso_refusal = refusal
        try:
            return super().get(request)
        except SuspiciousOperation as suspicious:
            # mozilla-django-oidc's state check: unknown, tampered with, or already used.
            logger.warning("single sign-on callback refused: %s", suspicious)
            return refusal_page(request, _stale())

    def login_failure(self):
        return refusal_page(self.request, getattr(self.request, "sso_refusal", None) or _stale())


start = public(SsoStartView.as_view())
callback = public(SsoCallbackView.as_view())
