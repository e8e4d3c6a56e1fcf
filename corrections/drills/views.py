"""Drill pages: /drills/ (reports side by side, their trend, the schedules, start one), a report,
and keeping a report of a drill now (from its incident page)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.access import READ_ROLES, WRITE_ROLES, role_required
from accounts.actor import Actor
from config.api import MAX_ID
from config.errors import DomainError
from corrections.drills import selectors, services
from corrections.drills.forms import DrillForm
from corrections.drills.phases import LABELS, PHASE_KEYS
from corrections.playbooks import selectors as playbook_selectors
from incidents.metrics import svg
from incidents.views import attempt, submit_once

PAGE_SIZE = 20
SHORT = {
    "detect_report": "detect→report",
    "report_request": "report→request",
    "request_approval": "request→approval",
    "approval_enforcement": "approval→enforced",
    "lift": "lift",
}


def _trend(rows: list[selectors.PhaseRow]):
    """Each phase over the reports on this page, oldest first (SVG; the table beside it has the numbers)."""
    ordered = list(reversed(rows))
    if len(ordered) < 2:
        return None
    return svg.line_chart(
        chart_id="drill-trend",
        title="Drill phases over time",
        description="Seconds each phase took in each drill report, oldest first; the table holds the same numbers.",
        labels=[row.report.made_at.strftime("%d %b") for row in ordered],
        series=[
            svg.Series(SHORT[key], f"drill-s{i}", [row.phases[i].get("seconds") for row in ordered])
            for i, key in enumerate(PHASE_KEYS)
        ],
        x_title="Drill report (UTC)",
    )


def _from_playbook(raw: str) -> dict[str, object]:
    """The start form filled in from a playbook's current version (?from_playbook=<id>, from its page)."""
    version = playbook_selectors.current_version_of(int(raw)) if raw.isdigit() and int(raw) <= MAX_ID else None
    if version is None:
        return {}
    return {
        "playbook": version.playbook_id, "title": f"Drill: {version.playbook.title}",
        "category": version.categories[0] if version.categories else "",
        "risk_domain": version.risk_domains[0] if version.risk_domains else "", "severity": version.min_severity,
    }  # fmt: skip


def _compared(request: HttpRequest) -> str:
    """The playbook whose drills are compared (?playbook=<slug>); anything not a slug compares all."""
    slug = request.GET.get("playbook", "")
    return slug if 0 < len(slug) <= 64 and slug.replace("-", "").replace("_", "").isalnum() else ""


def _render_list(request: HttpRequest, form: DrillForm, *, status: int = 200) -> HttpResponse:
    compared = _compared(request)
    reports = selectors.reports_for(user=request.user, playbook=compared)
    page = Paginator(reports, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = selectors.comparison(list(page.object_list), PHASE_KEYS)
    now = timezone.now()
    context = {
        "page": page,
        "rows": rows,
        "phase_labels": [LABELS[key] for key in PHASE_KEYS],
        "trend": _trend(rows),
        "schedules": [(s, s.overdue(now)) for s in selectors.schedule_statuses()],
        "form": form,
        "can_start": request.user.has_role(*services.DRILL_ROLES),
        "playbooks": list(selectors.drilled_playbooks()),
        "compared": compared,
    }
    return render(request, "corrections/drills/drill_list.html", context, status=status)


@role_required(READ_ROLES, write_roles=WRITE_ROLES)
def drill_list(request: HttpRequest) -> HttpResponse:
    """GET: the reports and schedules. POST: start a drill (commanders, leadership, admins)."""
    if request.method != "POST":
        return _render_list(request, DrillForm(initial=_from_playbook(request.GET.get("from_playbook", ""))))
    form = DrillForm(request.POST)
    status = 400
    if form.is_valid():

        def create() -> str | None:
            nonlocal status
            data = dict(form.cleaned_data)
            drill, status = attempt(form, lambda: services.drill_start(actor=Actor.from_request(request), **data))
            if drill is None:
                return None
            messages.success(request, f"Drill {drill.incident.ref} started: nothing will be enforced.")
            return reverse("incident-detail", args=[drill.incident.ref])

        done = submit_once(request, form, create)
        if done is not None:
            return done
    return _render_list(request, form, status=status)


@role_required(READ_ROLES, write_roles=WRITE_ROLES)  # read only: a POST by an auditor is 403, not 404
def drill_report_detail(request: HttpRequest, report_id: int) -> HttpResponse:
    report = selectors.report_get_for(user=request.user, report_id=report_id) if report_id <= MAX_ID else None
    if report is None:
        raise Http404("No such drill report.")
    (row,) = selectors.comparison([report], PHASE_KEYS)
    phases = [(LABELS[key], phase) for key, phase in zip(PHASE_KEYS, row.phases, strict=True)]
    return render(request, "corrections/drills/drill_report.html", {"report": report, "phases": phases})


@role_required(WRITE_ROLES)  # outermost: the role is checked before the method
@require_POST
def drill_report_make(request: HttpRequest, ref: str) -> HttpResponse:
    drill = selectors.drill_for_incident(user=request.user, ref=ref)
    if drill is None:
        raise Http404("No such drill.")
    try:
        report = services.drill_report_make(actor=Actor.from_request(request), drill=drill)
    except DomainError as error:
        if error.code == "not_found":
            raise Http404(error.message) from error
        messages.error(request, error.message)
        return redirect("incident-detail", ref)
    messages.success(request, "Drill report kept.")
    return redirect("drill-report", report.pk)
