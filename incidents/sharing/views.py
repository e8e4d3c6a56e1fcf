"""Sharing pages: an incident's shares (and the form to make one), and each share's two downloads."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from accounts.access import READ_ROLES, WRITE_ROLES, role_required
from accounts.actor import Actor
from incidents import drills
from incidents import selectors as incident_selectors
from incidents.evidence.views import repr_digest
from incidents.models import Incident, Share
from incidents.pagination import CappedPaginator
from incidents.sharing import selectors, services
from incidents.sharing.forms import ShareForm
from incidents.views import attempt, submit_once

PAGE_SIZE = 25
page_access = role_required(READ_ROLES, write_roles=WRITE_ROLES)


def _incident_or_404(request: HttpRequest, ref: str) -> Incident:
    incident = incident_selectors.incident_get_for(user=request.user, ref=ref)
    if incident is None:
        raise Http404("No such incident.")
    return incident


def _render(request: HttpRequest, incident: Incident, form: ShareForm | None, *, status: int = 200):
    page = CappedPaginator(selectors.shares_for(incident=incident), PAGE_SIZE).get_page(request.GET.get("page"))
    can_share = selectors.may_share(request.user) and drills.reaches_outsiders(incident)
    context = {
        "incident": incident,
        "page": page,
        "form": (form or ShareForm()) if can_share else None,
        "may_share_role": selectors.may_share(request.user),
    }
    return render(request, "incidents/sharing/share_list.html", context, status=status)


@page_access
def share_list(request: HttpRequest, ref: str) -> HttpResponse:
    incident = _incident_or_404(request, ref)
    if request.method != "POST":
        return _render(request, incident, None)
    form = ShareForm(request.POST)
    status = 400
    if form.is_valid():

        def create() -> str | None:
            nonlocal status
            share, status = attempt(
                form,
                lambda: services.sharing_create(
                    actor=Actor.from_request(request), incident=incident, **form.service_kwargs()
                ),
            )
            if share is None:
                return None
            messages.success(
                request, f"Shared with {share.recipient.name} at TLP:{share.tlp}. Download the package and send it."
            )
            return reverse("share-list", args=[incident.ref])

        done = submit_once(request, form, create)
        if done is not None:
            return done
    return _render(request, incident, form, status=status)


def package_response(share: Share, *, stix: bool) -> HttpResponse:
    text = share.stix if stix else share.package
    suffix = "stix.json" if stix else "json"
    response = HttpResponse(text.encode(), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{share.incident.ref}-share-{share.pk}.{suffix}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Repr-Digest"] = repr_digest(share.stix_sha256 if stix else share.package_sha256)
    return response


def _share_or_404(request: HttpRequest, ref: str, share_id: int) -> Share:
    share = selectors.share_get_for(user=request.user, ref=ref, pk=share_id)
    if share is None:
        raise Http404("No such share.")
    return share


@page_access  # downloads only: auditors get 403 for other methods, writers 405
@require_safe
def share_package(request: HttpRequest, ref: str, share_id: int) -> HttpResponse:
    return package_response(_share_or_404(request, ref, share_id), stix=False)


@page_access
@require_safe
def share_stix(request: HttpRequest, ref: str, share_id: int) -> HttpResponse:
    return package_response(_share_or_404(request, ref, share_id), stix=True)
