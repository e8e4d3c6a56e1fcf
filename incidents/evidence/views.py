"""Evidence pages: an incident's files (list and upload) and each file's download.

A download is always an attachment with the type its content earned, `nosniff`, and a sandboxing
CSP, whatever the file holds; an incident the user may not see is a 404 (unknown and hidden alike).
"""

from __future__ import annotations

import base64
import logging

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from accounts.access import READ_ROLES, WRITE_ROLES, role_required
from accounts.actor import Actor
from incidents import selectors as incident_selectors
from incidents.evidence import selectors, services, sniff
from incidents.evidence.forms import EvidenceUploadForm
from incidents.models import Evidence, Incident
from incidents.pagination import CappedPaginator
from incidents.views import attempt, submit_once

logger = logging.getLogger(__name__)
PAGE_SIZE = 25
page_access = role_required(READ_ROLES, write_roles=WRITE_ROLES)


def _incident_or_404(request: HttpRequest, ref: str) -> Incident:
    incident = incident_selectors.incident_get_for(user=request.user, ref=ref)
    if incident is None:
        raise Http404("No such incident.")
    return incident


def _render(request: HttpRequest, incident: Incident, form: EvidenceUploadForm | None, *, status: int = 200):
    page = CappedPaginator(selectors.evidence_for(incident=incident), PAGE_SIZE).get_page(request.GET.get("page"))
    may_add = selectors.may_add_evidence(request.user, incident)
    context = {
        "incident": incident,
        "page": page,
        "form": (form or EvidenceUploadForm()) if may_add else None,
        "max_size": services.describe_bytes(services.max_bytes()),
    }
    return render(request, "incidents/evidence/evidence_list.html", context, status=status)


@page_access
def evidence_list(request: HttpRequest, ref: str) -> HttpResponse:
    incident = _incident_or_404(request, ref)
    if request.method != "POST":
        return _render(request, incident, None)
    form = EvidenceUploadForm(request.POST, request.FILES)
    status = 400
    if form.is_valid():

        def create() -> str | None:
            nonlocal status
            evidence, status = attempt(
                form,
                lambda: services.evidence_add(
                    actor=Actor.from_request(request), incident=incident, upload=form.cleaned_data["file"],
                    description=form.cleaned_data["description"],
                ),
            )  # fmt: skip
            if evidence is None:
                return None
            messages.success(request, f"“{evidence.name}” added; its SHA-256 is {evidence.sha256}.")
            return reverse("evidence-list", args=[incident.ref])

        done = submit_once(request, form, create)
        if done is not None:
            return done
    return _render(request, incident, form, status=status)


def repr_digest(sha256_hex: str) -> str:
    """The RFC 9530 Repr-Digest header for a SHA-256 given in hex (the ledger's form)."""
    return f"sha-256=:{base64.b64encode(bytes.fromhex(sha256_hex)).decode()}:"


def download_response(evidence: Evidence) -> FileResponse:
    """The file as an attachment: its content's type, never sniffed, never run by the browser."""
    kind = sniff.KINDS[evidence.kind]
    try:
        stored = services.evidence_open(evidence)
    except FileNotFoundError:
        logger.error("Evidence %s (%s) is missing from the evidence storage", evidence.pk, evidence.storage_name)
        raise Http404("This file is missing from the evidence storage; tell an administrator.") from None
    response = FileResponse(
        stored,
        as_attachment=True,
        filename=sniff.download_name(evidence.name, kind),
        content_type=kind.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, no-store"
    response["Repr-Digest"] = repr_digest(evidence.sha256)
    return response


@page_access  # auditors are refused any other method (403); writers get 405 from require_safe
@require_safe
def evidence_download(request: HttpRequest, ref: str, evidence_id: int) -> HttpResponse:
    evidence = selectors.evidence_get_for(user=request.user, ref=ref, pk=evidence_id)
    if evidence is None:
        raise Http404("No such evidence.")
    return download_response(evidence)
