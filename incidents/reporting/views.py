"""Reportability pages: an incident's assessments and clocks (with the assessment forms for
commanders and leadership), and /deadlines/ across every incident the viewer may see."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from accounts.access import READ_ROLES, WRITE_ROLES, role_required
from accounts.actor import Actor
from incidents.models import Incident
from incidents.models.reporting import Regime, RuleVersion
from incidents.pagination import CappedPaginator, count_label
from incidents.reporting import selectors, services
from incidents.reporting.forms import AssessmentForm, DeadlineFilterForm
from incidents.views import _incident_or_404, attempt, submit_once

page_access = role_required(READ_ROLES, write_roles=WRITE_ROLES)
PAGE_SIZE = 25


def _zone() -> str:
    return timezone.get_current_timezone_name()


def _milestones() -> dict[str, str]:
    """Each regime's newest rule's start milestone: what its form asks for."""
    newest: dict[str, str] = {}
    for regime, starts_from in RuleVersion.objects.order_by("regime", "effective_from").values_list(
        "regime", "starts_from"
    ):
        newest[regime] = starts_from
    return newest


def _render(request: HttpRequest, incident: Incident, *, status: int = 200, failed: AssessmentForm | None = None):
    user = request.user
    statuses = selectors.reportability_of(incident=incident)
    may_assess = services.may_assess(user)
    milestones = _milestones()
    rows = []
    for regime_status in statuses:
        current = regime_status.current
        running = [c for c in regime_status.clocks if c.state == "running"]
        waiting = (
            services.plan_for(current).waiting if current and current.decision == "applies" and not running else ""
        )
        form = None
        if may_assess and regime_status.regime in milestones:
            form = failed if failed is not None and failed.regime == regime_status.regime else AssessmentForm(
                regime=regime_status.regime, milestone=milestones[regime_status.regime], current=current, zone=_zone()
            )  # fmt: skip
        rows.append({"status": regime_status, "waiting": waiting, "form": form})
    context = {"incident": incident, "rows": rows, "may_assess": may_assess, "zone": _zone(),
               "failed": failed.regime if failed is not None else ""}  # fmt: skip
    return render(request, "incidents/reporting/reportability.html", context, status=status)


@page_access
def reportability_detail(request: HttpRequest, ref: str) -> HttpResponse:
    return _render(request, _incident_or_404(request, ref))


@page_access
def reportability_assess(request: HttpRequest, ref: str) -> HttpResponse:
    """POST one regime's assessment form; the regime is a field of the POST (each form names its own)."""
    incident = _incident_or_404(request, ref)
    regime = request.POST.get("regime", "")
    if request.method != "POST" or regime not in Regime.values:
        return redirect("reportability", ref=incident.ref)
    milestones = _milestones()
    if regime not in milestones:
        return redirect("reportability", ref=incident.ref)
    current = selectors.reportability_of(incident=incident)
    latest = next(s.current for s in current if s.regime == regime)
    form = AssessmentForm(request.POST, regime=regime, milestone=milestones[regime], current=latest, zone=_zone())
    status = 400
    if form.is_valid():

        def create() -> str | None:
            nonlocal status
            data = form.cleaned_data
            assessment, status = attempt(
                form,
                lambda: services.assessment_record(
                    actor=Actor.from_request(request), incident=incident, regime=regime, decision=data["decision"],
                    reason=data["reason"], facts=form.facts(), milestones=form.milestones(),
                ),
            )  # fmt: skip
            if assessment is None:
                return None
            messages.success(request, f"{Regime(regime).label}: assessment {assessment.number} recorded.")
            return reverse("reportability", args=[incident.ref]) + f"#regime-{regime}"

        done = submit_once(request, form, create)
        if done is not None:
            return done
    return _render(request, incident, status=status, failed=form)


@page_access
def deadlines(request: HttpRequest) -> HttpResponse:
    form = DeadlineFilterForm(request.GET or None)
    valid = form.is_valid() if form.is_bound else True
    data = form.cleaned_data if form.is_bound and valid else {}
    clocks = selectors.deadlines_for(user=request.user, state=data.get("state", ""), regime=data.get("regime", ""))
    page = CappedPaginator(clocks, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "count_label": count_label(page.paginator), "zone": _zone(),
               "filtered": bool(data and any(data.values()))}  # fmt: skip
    return render(request, "incidents/reporting/deadlines.html", context, status=200 if valid else 400)
