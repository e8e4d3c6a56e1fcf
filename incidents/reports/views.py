"""Regulator report pages: an incident's reports (and starting one), a report with its versions
and what each changed, the draft editor, submitting, and the exports of each version (a printable
page, the same page as a PDF file rendered by WeasyPrint, and JSON).

Each view parses input, calls one selector or one service with the acting user, and renders; a
refusal comes back beside the form with its 4xx status, a success redirects.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.access import READ_ROLES, WRITE_ROLES, role_required
from accounts.actor import Actor
from config.errors import DomainError
from incidents import drills
from incidents import selectors as incident_selectors
from incidents.models import Incident
from incidents.models.reports import Regime, Report, ReportVersion
from incidents.reports import pdf, records, selectors, services
from incidents.reports.forms import ReportDraftForm, ReportStartForm, ReportSubmitForm
from incidents.reports.regimes import template_for
from incidents.views import attempt, submit_once

# Any role may read (auditors download every version); only writer roles may POST, the services decide more.
page_access = role_required(READ_ROLES, write_roles=WRITE_ROLES)


def _incident_or_404(request: HttpRequest, ref: str) -> Incident:
    incident = incident_selectors.incident_get_for(user=request.user, ref=ref)
    if incident is None:  # unknown, or restricted and not granted: the same answer
        raise Http404("No such incident.")
    return incident


def _report_or_404(request: HttpRequest, ref: str, regime: str) -> Report:
    incident = _incident_or_404(request, ref)
    report = selectors.report_for(user=request.user, incident=incident, regime=regime)
    if report is None or regime not in Regime.values:
        raise Http404("This incident has no such report.")
    return report


def _version_or_404(report: Report, number: int | None) -> ReportVersion:
    version = selectors.pick_version(report, number) if number is None or number <= 10**6 else None
    if version is None:
        raise Http404("No such version.")
    return version


def _wanted(request: HttpRequest) -> int | None:
    wanted = request.GET.get("version", "")
    return int(wanted) if wanted.isdigit() and len(wanted) < 7 else None


# --- an incident's reports ----------------------------------------------------------------------


def _render_list(request: HttpRequest, incident: Incident, *, form: ReportStartForm | None = None, status: int = 200):
    context = {
        "incident": incident,
        "reports": list(selectors.reports_of(user=request.user, incident=incident)),
        "is_drill": not drills.reaches_outsiders(incident),
        "can_write": services.may_write(request.user, incident),
        "form": form or ReportStartForm(),
    }
    return render(request, "incidents/reports/report_list.html", context, status=status)


@page_access
def report_list(request: HttpRequest, ref: str) -> HttpResponse:
    incident = _incident_or_404(request, ref)
    if request.method != "POST":
        return _render_list(request, incident)
    form = ReportStartForm(request.POST)
    status = 400
    if form.is_valid():

        def run() -> str | None:
            nonlocal status
            data = form.cleaned_data
            version, status = attempt(
                form,
                lambda: services.report_start(
                    actor=Actor.from_request(request), incident=incident, regime=data["regime"], kind=data["kind"],
                    reason=data["reason"],
                ),
            )  # fmt: skip
            if version is None:
                return None
            messages.success(request, f"Version {version.number} ({version.kind}) started as a draft.")
            return reverse("report-edit", args=[incident.ref, data["regime"]])

        done = submit_once(request, form, run)
        if done is not None:
            return done
    return _render_list(request, incident, form=form, status=status)


# --- one report ----------------------------------------------------------------------------------


def _render_report(
    request: HttpRequest, report: Report, *, submit_form: ReportSubmitForm | None = None, status: int = 200
) -> HttpResponse:
    incident = report.incident
    versions = list(report.versions.all())
    version = _version_or_404(report, _wanted(request))
    previous = selectors.previous_of(report, version)
    draft = versions[-1] if versions and not versions[-1].is_submitted else None
    can_write = services.may_write(request.user, incident) and drills.reaches_outsiders(incident)
    missing = []
    submit_form = submit_form or (ReportSubmitForm(initial={"content_hash": draft.content_hash}) if draft else None)
    if draft is not None:
        template = template_for(report.regime)
        errors = services.field_errors(report.regime, draft.fields, kind=draft.kind)
        missing = [
            (template.field(name).label if template.field(name) else name, msgs) for name, msgs in errors.items()
        ]
    context: dict[str, Any] = {
        "incident": incident, "report": report, "template": template_for(report.regime), "versions": versions,
        "version": version, "previous": previous, "draft": draft, "can_write": can_write,
        "fields": selectors.shown_fields(report, version),
        "diff": selectors.version_diff(report, previous, version), "missing": missing,
        "submit_form": submit_form,
        "start_form": ReportStartForm(initial={"regime": report.regime, "kind": "amended"}),
    }  # fmt: skip
    return render(request, "incidents/reports/report_detail.html", context, status=status)


@page_access
def report_detail(request: HttpRequest, ref: str, regime: str) -> HttpResponse:
    return _render_report(request, _report_or_404(request, ref, regime))


@page_access
def report_edit(request: HttpRequest, ref: str, regime: str) -> HttpResponse:
    report = _report_or_404(request, ref, regime)
    incident = report.incident
    if not services.may_write(request.user, incident):
        raise PermissionDenied("Only the incident's commander, commanders and leadership write its reports.")
    draft = _version_or_404(report, None)
    if draft.is_submitted:
        messages.info(request, f"Version {draft.number} was submitted and never changes: start a new version.")
        return redirect("report-detail", ref=incident.ref, regime=regime)
    template = template_for(regime)
    context: dict[str, Any] = {"incident": incident, "report": report, "draft": draft, "template": template,
                               "records_field": template.field("corrections")}  # fmt: skip
    if request.method != "POST":
        context["form"] = ReportDraftForm(regime=regime, version=draft)
        return render(request, "incidents/reports/report_edit.html", context)
    form = ReportDraftForm(request.POST, regime=regime, version=draft)
    status = 400
    if form.is_valid():
        saved, status = attempt(
            form,
            lambda: services.report_save_draft(
                actor=Actor.from_request(request), incident=incident, regime=regime, fields=form.report_fields(),
                kind=form.cleaned_data["kind"], content_hash_seen=form.cleaned_data["content_hash"],
                refresh_facts=form.cleaned_data["refresh_facts"],
            ),
        )  # fmt: skip
        if saved is not None:
            messages.success(request, f"Draft of version {saved.number} saved.")
            return redirect("report-detail", ref=incident.ref, regime=regime)
    context["form"] = form
    return render(request, "incidents/reports/report_edit.html", context, status=status)


@page_access
def report_submit(request: HttpRequest, ref: str, regime: str) -> HttpResponse:
    report = _report_or_404(request, ref, regime)
    incident = report.incident
    if request.method != "POST":
        return redirect("report-detail", ref=incident.ref, regime=regime)
    form = ReportSubmitForm(request.POST)
    status = 400
    if form.is_valid():

        def run() -> str | None:
            nonlocal status
            data = form.cleaned_data
            try:
                version = services.report_submit(
                    actor=Actor.from_request(request), incident=incident, regime=regime,
                    content_hash=data["content_hash"], channel=data["channel"],
                    channel_reference=data["channel_reference"],
                )  # fmt: skip
            except DomainError as error:
                if error.code == "not_found":
                    raise Http404(error.message) from error
                status = error.status
                template = template_for(regime)
                for name, msgs in error.fields.items():
                    target = name if name in form.fields and name != "content_hash" else None
                    label = template.field(name).label if template.field(name) else ""
                    for message in msgs:
                        form.add_error(target, f"{label}: {message}" if target is None and label else message)
                if not error.fields:
                    form.add_error(None, error.message)
                return None
            messages.success(
                request, f"Version {version.number} submitted and frozen (SHA-256 {version.sha256[:12]}…)."
            )
            return reverse("report-detail", args=[incident.ref, regime]) + f"?version={version.number}"

        done = submit_once(request, form, run)
        if done is not None:
            return done
    return _render_report(request, report, submit_form=form, status=status)


# --- exports ---------------------------------------------------------------------------------------


def _print_context(request: HttpRequest, ref: str, regime: str, number: int) -> dict[str, Any]:
    report = _report_or_404(request, ref, regime)
    version = _version_or_404(report, number)
    return {
        "incident": report.incident, "report": report, "version": version, "template": template_for(regime),
        "fields": selectors.shown_fields(report, version), "document": records.version_document(report, version),
        "previous": selectors.previous_of(report, version),
        "diff": selectors.version_diff(report, selectors.previous_of(report, version), version),
    }  # fmt: skip


@page_access
def report_print(request: HttpRequest, ref: str, regime: str, number: int) -> HttpResponse:
    return render(request, "incidents/reports/report_print.html", _print_context(request, ref, regime, number))


@page_access
def report_pdf(request: HttpRequest, ref: str, regime: str, number: int) -> HttpResponse:
    """The printable page as a PDF file (WeasyPrint); where it cannot run, the printable page says how."""
    context = _print_context(request, ref, regime, number) | {"pdf": True}
    html = render_to_string("incidents/reports/report_print.html", context, request=request)
    try:
        body = pdf.html_to_pdf(html)
    except pdf.PdfUnavailable:
        messages.info(request, "PDF export is not available on this server: print this page or save it as PDF.")
        return redirect("report-print", ref=ref, regime=regime, number=number)
    response = HttpResponse(body, content_type="application/pdf")
    name = f"{context['incident'].ref}-{regime}-v{number}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@page_access
def report_json(request: HttpRequest, ref: str, regime: str, number: int) -> HttpResponse:
    report = _report_or_404(request, ref, regime)
    version = _version_or_404(report, number)
    body = json.dumps(records.version_document(report, version), indent=2, ensure_ascii=False, sort_keys=True)
    response = HttpResponse(body + "\n", content_type="application/json; charset=utf-8")
    name = f"{report.incident.ref}-{regime}-v{version.number}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
