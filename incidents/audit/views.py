"""Auditor pages: the whole history, an incident's history as a narrative, verification,
exports, and granting access to a restricted incident.

Reading is for the audit roles (incidents.audit.AUDIT_ROLES); every read-only page refuses
POST with 403 for everyone. Only the grant page writes, and only for commanders and leadership.
"""

from __future__ import annotations

import time

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from accounts import ledger
from accounts.access import role_required
from accounts.actor import Actor
from accounts.roles import Role
from config.errors import DomainError
from config.forms import bind_domain_error
from incidents import audit, services
from incidents.audit.filters import AuditEventFilter
from incidents.audit.forms import GrantAccessForm, IncidentSearchForm, RevokeAccessForm
from incidents.models import Incident
from incidents.selectors import incident_get_for

PAGE_SIZE = 50
# Read-only pages: any audit role may GET; any other method is refused (403) for everyone.
audit_page = role_required(audit.AUDIT_ROLES, write_roles=())
# Granting access to a restricted incident is the commander's or leadership's call (as in services).
GRANT_ROLES = frozenset({Role.INCIDENT_COMMANDER, Role.LEADERSHIP, Role.ADMIN})
grant_page = role_required(GRANT_ROLES, write_roles=GRANT_ROLES)


def _filters(request: HttpRequest) -> AuditEventFilter:
    return AuditEventFilter(request.GET)


def _seq_param(request: HttpRequest, name: str) -> int | None:
    value = request.GET.get(name, "")
    # isascii: str.isdigit() also accepts digits int() refuses, such as "²".
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None


@audit_page
def event_list(request: HttpRequest) -> HttpResponse:
    """The whole history, newest first, a keyset page at a time (no COUNT, no OFFSET)."""
    filters = _filters(request)
    events = audit.events_for(user=request.user, filters=filters)
    before, after = _seq_param(request, "before"), _seq_param(request, "after")
    if after is not None:
        page = list(events.filter(seq__gt=after).order_by("seq")[: PAGE_SIZE + 1])
        has_newer, has_older = len(page) > PAGE_SIZE, True
        page = list(reversed(page[:PAGE_SIZE]))
    else:
        if before is not None:
            events = events.filter(seq__lt=before)
        page = list(events.order_by("-seq")[: PAGE_SIZE + 1])
        has_older, has_newer = len(page) > PAGE_SIZE, before is not None
        page = page[:PAGE_SIZE]
    query = request.GET.copy()
    for name in ("before", "after"):
        query.pop(name, None)
    context = {
        "form": filters.form,
        "filtered": filters.filtering,
        "items": [audit.narrate(event) for event in page],
        "newest_seq": page[0].seq if page else None,
        "oldest_seq": page[-1].seq if page else None,
        "older": page[-1].seq if has_older and page else None,
        "newer": page[0].seq if has_newer and page else None,
        "filter_query": query.urlencode(),
        "known_verbs": sorted(audit.registered_verbs()),
    }
    return render(request, "audit/event_list.html", context, status=400 if filters.errors else 200)


@audit_page
def incident_list(request: HttpRequest) -> HttpResponse:
    incidents = audit.audited_incidents_for(user=request.user)
    form = IncidentSearchForm(request.GET or None)
    query = form.query()
    if query:
        incidents = incidents.filter(Q(ref__icontains=query) | Q(title__icontains=query))
    page = Paginator(incidents, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "q": query, "form": form}
    return render(request, "audit/incident_list.html", context, status=400 if form.errors else 200)


@audit_page
def incident_history(request: HttpRequest, ref: str) -> HttpResponse:
    history = audit.incident_history_for(user=request.user, ref=ref)
    if history is None:  # unknown, or restricted and not granted: the same answer
        raise Http404("No such incident.")
    context = {
        "history": history,
        "incident": history.incident,
        "can_grant": bool(request.user.roles & GRANT_ROLES) and history.incident.restricted,
    }
    return render(request, "audit/incident_history.html", context)


@audit_page
def verify(request: HttpRequest) -> HttpResponse:
    """Shows the stored head; with ?run=1 walks the whole chain now and shows the result."""
    context = {"head": ledger.read_head(), "result": None, "checked_at": None}
    if request.GET.get("run"):
        started = time.perf_counter()
        context["result"] = ledger.verify()
        context["seconds"] = time.perf_counter() - started
        context["checked_at"] = timezone.now()
    return render(request, "audit/verify.html", context)


def _export(request: HttpRequest, kind: str) -> HttpResponse:
    filters = _filters(request)
    if filters.errors:
        return redirect(f"{reverse('audit-events')}?{request.GET.urlencode()}")  # shows what was not understood
    generate = audit.export_jsonl if kind == "jsonl" else audit.export_csv
    content_type = "application/x-ndjson; charset=utf-8" if kind == "jsonl" else "text/csv; charset=utf-8"
    response = StreamingHttpResponse(generate(user=request.user, filters=filters), content_type=content_type)
    stamp = ledger.format_time(timezone.now()).replace(":", "")[:15]
    response["Content-Disposition"] = f'attachment; filename="failsafe-ledger-{stamp}.{kind}"'
    response["Cache-Control"] = "no-store"
    return response


@audit_page
def export_jsonl(request: HttpRequest) -> HttpResponse:
    return _export(request, "jsonl")


@audit_page
def export_csv(request: HttpRequest) -> HttpResponse:
    return _export(request, "csv")


@grant_page
def incident_access(request: HttpRequest, ref: str) -> HttpResponse:
    """Who may see a restricted incident; grant or revoke one person's access (each a ledger event)."""
    incident = incident_get_for(user=request.user, ref=ref)
    if incident is None:
        raise Http404("No such incident.")
    grant_form = GrantAccessForm(candidates=audit.grant_candidates_for(incident))
    status = 200
    if request.method == "POST":
        revoking = request.POST.get("action") == "revoke"
        form = (
            RevokeAccessForm(request.POST, granted=audit.access_grants_for(incident))
            if revoking
            else GrantAccessForm(request.POST, candidates=audit.grant_candidates_for(incident))
        )
        if form.is_valid():
            done = _change_access(request, form, incident, revoke=revoking)
            if done:
                return redirect("audit-incident-access", ref=incident.ref)
        status = 400
        if not revoking:
            grant_form = form
        else:
            refusal = [*form.non_field_errors(), *form.errors.get("reason", [])]
            messages.error(request, " ".join(refusal) or "Give a reason to revoke access.")
    context = {
        "incident": incident,
        "granted": audit.access_grants_for(incident),
        "grant_form": grant_form,
    }
    return render(request, "audit/incident_access.html", context, status=status)


def _change_access(request: HttpRequest, form, incident: Incident, *, revoke: bool) -> bool:
    person = form.cleaned_data["user"]
    try:
        services.incident_grant_access(
            actor=Actor.from_request(request), incident=incident, user=person,
            reason=form.cleaned_data["reason"], revoke=revoke,
        )  # fmt: skip
    except DomainError as error:
        if error.code == "not_found":
            raise Http404(error.message) from error
        bind_domain_error(form, error)
        return False
    verb = "revoked" if revoke else "granted"
    messages.success(request, f"Access {verb} for {person.username} on {incident.ref}; recorded in the ledger.")
    return True
