"""Server-rendered incident pages.

Each view parses input, calls one selector or one service with the acting user, and renders.
A service's DomainError comes back as a message beside the form, with its 4xx status; a
success redirects (post/redirect/get) with a flash message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.paginator import Paginator
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts import idempotency
from accounts.access import READ_ROLES, WRITE_ROLES, role_required
from accounts.actor import Actor
from config.errors import DomainError
from config.forms import bind_domain_error
from incidents import selectors, services
from incidents.channels import services as channel_services
from incidents.channels import slack
from incidents.filters import IncidentPageFilter, SignalFilter
from incidents.forms import (
    AssignCommanderForm,
    ChecklistTickForm,
    DismissSignalForm,
    EscalateForm,
    IncidentDetailsForm,
    IncidentForm,
    SeverityForm,
    StatusForm,
    TimelineEntryForm,
)
from incidents.models import SEVERITY_DEFINITIONS, Incident, IncidentChatChannel, Severity, Signal, Status
from incidents.pagination import CappedPaginator, count_label

PAGE_SIZE = 25
# Every page: any role may read; auditors (and anyone without a writer role) get 403 on POST.
page_access = role_required(READ_ROLES, write_roles=WRITE_ROLES)


def _incident_or_404(request: HttpRequest, ref: str) -> Incident:
    incident = selectors.incident_get_for(user=request.user, ref=ref)
    if incident is None:  # unknown, or restricted and not granted: the same answer
        raise Http404("No such incident.")
    return incident


def attempt(form: Form, action: Callable[[], Any]) -> tuple[Any, int]:
    """Run one service call; on refusal bind the message to the form. Returns (result, status)."""
    try:
        return action(), 200
    except DomainError as error:
        if error.code == "not_found":
            raise Http404(error.message) from error
        bind_domain_error(form, error)
        return None, error.status


def submit_once(request: HttpRequest, form: Form, create: Callable[[], str | None]) -> HttpResponse | None:
    """Run a create form's `create` once per rendered form (its one-time token); redirect to the result.

    `create` returns the URL of what it made, or None when refused: then nothing is kept, and the
    form (still carrying its token) is shown again to be corrected. A second POST of the same token
    redirects to what the first one made, in the same transaction-safe way as the API's keys.
    """
    token = getattr(form, "submitted_token", "")  # a OneShotForm's; other forms just run
    if not token:
        location = create()
        return redirect(location) if location else None

    def run() -> idempotency.Answer | None:
        location = create()
        return idempotency.Answer(302, "", location) if location else None

    try:
        outcome = idempotency.idempotency_run_once(
            actor=Actor.from_request(request), channel=idempotency.Channel.WEB, key=token,
            fingerprint=idempotency.fingerprint("POST", request.path), run=run, field=NON_FIELD_ERRORS,
        )  # fmt: skip
    except DomainError as error:  # the token came from another form
        bind_domain_error(form, error)
        return None
    if outcome.answer is None:
        return None
    if outcome.replayed:
        messages.info(request, "This form was already submitted: here is what it made.")
    return redirect(outcome.answer.body)


def _severity_definitions() -> list[tuple[str, str, str]]:
    return [(value, label, SEVERITY_DEFINITIONS[value]) for value, label in Severity.choices]


# --- dashboard and list --------------------------------------------------------------------------


@page_access
def dashboard(request: HttpRequest) -> HttpResponse:
    data = selectors.dashboard_for(user=request.user)
    severities = [(value, label, data["by_severity"][value]) for value, label in Severity.choices]
    context = {
        **data,
        "severities": severities,
        "open_total": sum(data["by_severity"].values()),
    }
    return render(request, "incidents/dashboard.html", context)


@page_access
def incident_list(request: HttpRequest) -> HttpResponse:
    filters = IncidentPageFilter(request.GET or None, queryset=selectors.incident_list_for(user=request.user))
    # Bad values: a 400 with the form saying why; the filters that parsed still apply.
    status = 400 if filters.is_bound and not filters.is_valid() else 200
    page = CappedPaginator(filters.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    filtered = filters.is_bound and any(filters.form.cleaned_data.values())
    context = {"form": filters.form, "page": page, "count_label": count_label(page.paginator), "filtered": filtered}
    return render(request, "incidents/incident_list.html", context, status=status)


# --- new incident ----------------------------------------------------------------------------------


@role_required(WRITE_ROLES)  # a blank form is of no use to a role that cannot submit it
def incident_new(request: HttpRequest) -> HttpResponse:
    context = {"severity_definitions": _severity_definitions()}
    if request.method != "POST":
        return render(request, "incidents/incident_new.html", {**context, "form": IncidentForm()})
    form = IncidentForm(request.POST)
    status = 400
    if form.is_valid():

        def create() -> str | None:
            nonlocal status
            incident, status = attempt(
                form, lambda: services.incident_create(actor=Actor.from_request(request), **form.cleaned_data)
            )
            if incident is None:
                return None
            messages.success(request, f"{incident.ref} created.")
            return reverse("incident-detail", args=[incident.ref])

        done = submit_once(request, form, create)
        if done is not None:
            return done
    return render(request, "incidents/incident_new.html", {**context, "form": form}, status=status)


# --- incident detail and its forms ---------------------------------------------------------------


def _render_detail(
    request: HttpRequest, incident: Incident, *, status: int = 200, failed: str = "", form: Form | None = None
) -> HttpResponse:
    """The detail page; `failed` names the form that was refused, rendered bound with its errors."""
    user = request.user
    statuses = services.next_statuses_for(user=user, incident=incident)
    blockers = services.closing_blockers_for(incident=incident, statuses=statuses)
    forms: dict[str, Form | None] = {
        "entry": TimelineEntryForm(),
        "severity": SeverityForm(incident=incident),
        "status": StatusForm(statuses=statuses, exception=_may_except(user, statuses)) if statuses else None,
        "escalate": EscalateForm(incident=incident),
        "assign": AssignCommanderForm(incident=incident) if user.has_role(*services.COMMANDER_ROLES) else None,
        "details": IncidentDetailsForm(incident=incident),
        "chat": Form() if user.has_role(*channel_services.CHAT_OPENER_ROLES) else None,
        "checklist": ChecklistTickForm(),
    }
    if failed:
        forms[failed] = form
    context = {
        "incident": incident,
        "timeline": selectors.timeline_for(incident=incident),
        "checklist": list(selectors.checklist_for(incident=incident)),
        "forms": forms,
        "failed": failed,
        "severity_definitions": _severity_definitions(),
        "closing_blockers": [(Status(s).label.lower(), found) for s, found in blockers],
        "closing_exceptions": list(incident.closing_exceptions.select_related("recorded_by")),
        "chat_channel": IncidentChatChannel.objects.filter(incident=incident).first(),
        # The latest few files (one query); a sixth says there are more on the evidence page.
        "evidence": list(incident.evidence.select_related("uploaded_by").order_by("-uploaded_at", "-id")[:6]),
        "may_add_evidence": selectors.may_add_evidence(user, incident),
        "slack_configured": slack.configured(),
        "milestones": [
            ("Occurred", incident.occurred_at),
            ("Detected", incident.detected_at),
            ("Reported", incident.reported_at),
            ("Acknowledged", incident.acknowledged_at),
            ("Contained", incident.contained_at),
            ("Resolved", incident.resolved_at),
            ("Closed", incident.closed_at),
        ],
    }
    return render(request, "incidents/incident_detail.html", context, status=status)


def _may_except(user, statuses) -> bool:
    """The status form offers an exception to a commander who could close or dismiss the incident next."""
    return user.has_role(*services.COMMANDER_ROLES) and bool({Status.CLOSED, Status.DISMISSED} & set(statuses))


@page_access
def incident_detail(request: HttpRequest, ref: str) -> HttpResponse:
    return _render_detail(request, _incident_or_404(request, ref))


def _incident_action(
    request: HttpRequest,
    ref: str,
    *,
    name: str,
    make_form: Callable[..., Form],
    perform: Callable[[Actor, Incident, Form], str],
) -> HttpResponse:
    """POST one of the detail page's forms: validate, call one service, then redirect or re-render."""
    incident = _incident_or_404(request, ref)
    if request.method != "POST":
        return redirect("incident-detail", ref=incident.ref)
    form = make_form(request.POST, incident)
    status = 400
    if form.is_valid():

        def create() -> str | None:
            nonlocal status
            message, status = attempt(form, lambda: perform(Actor.from_request(request), incident, form))
            if message is None:
                return None
            messages.success(request, message)
            return reverse("incident-detail", args=[incident.ref])

        done = submit_once(request, form, create)  # the note form is one-shot; the others just run
        if done is not None:
            return done
    return _render_detail(request, incident, status=status, failed=name, form=form)


@page_access
def incident_add_entry(request: HttpRequest, ref: str) -> HttpResponse:
    def perform(actor, incident, form):
        data = form.cleaned_data
        entry = services.timeline_entry_add(actor=actor, incident=incident, **data)
        return f"{entry.get_kind_display().capitalize()} added to {incident.ref}."

    return _incident_action(
        request, ref, name="entry", make_form=lambda data, _: TimelineEntryForm(data), perform=perform
    )


@page_access
def incident_change_severity(request: HttpRequest, ref: str) -> HttpResponse:
    def perform(actor, incident, form):
        data = form.cleaned_data
        before = incident.severity
        updated = services.incident_edit(
            actor=actor, incident=incident, changes={"severity": data["severity"]}, reason=data["reason"]
        )
        if updated.severity == before:
            return f"{incident.ref} is already {before}; nothing changed."
        return f"{incident.ref} severity changed from {before} to {updated.severity}."

    return _incident_action(
        request, ref, name="severity", make_form=lambda data, i: SeverityForm(data, incident=i), perform=perform
    )


@page_access
def incident_change_status(request: HttpRequest, ref: str) -> HttpResponse:
    def perform(actor, incident, form):
        data = form.cleaned_data
        before = incident.status
        updated = services.incident_edit(
            actor=actor,
            incident=incident,
            changes={"status": data["status"]},
            reason=data["reason"],
            closing_exception=data.get("closing_exception", ""),
        )
        if before == Status.CLOSED:
            return f"{incident.ref} is reopened: it is {Status(updated.status).label.lower()} again."
        return f"{incident.ref} is now {Status(updated.status).label.lower()}."

    return _incident_action(
        request,
        ref,
        name="status",
        make_form=lambda data, i: _status_form(data, request.user, i),
        perform=perform,
    )


def _status_form(data, user, incident: Incident) -> StatusForm:
    statuses = services.next_statuses_for(user=user, incident=incident)
    return StatusForm(data, statuses=statuses, exception=_may_except(user, statuses))


@page_access
def incident_escalate(request: HttpRequest, ref: str) -> HttpResponse:
    def perform(actor, incident, form):
        data = form.cleaned_data
        updated = services.incident_escalate(
            actor=actor, incident=incident, severity=data["severity"] or None, reason=data["reason"]
        )
        return f"{incident.ref} escalated ({updated.severity}); the next role up has been notified."

    return _incident_action(
        request, ref, name="escalate", make_form=lambda data, i: EscalateForm(data, incident=i), perform=perform
    )


@page_access
def incident_checklist_tick(request: HttpRequest, ref: str, item_id: int) -> HttpResponse:
    def perform(actor, incident, form):
        item = services.checklist_item_tick(actor=actor, incident=incident, item_id=item_id)
        return f"Ticked “{item.text}” ({incident.ref})."

    return _incident_action(
        request, ref, name="checklist", make_form=lambda data, _: ChecklistTickForm(data), perform=perform
    )


@page_access
def incident_edit_details(request: HttpRequest, ref: str) -> HttpResponse:
    def perform(actor, incident, form):
        changes = form.changes()
        services.incident_edit(actor=actor, incident=incident, changes=changes, reason=form.cleaned_data["reason"])
        return f"{incident.ref} details saved." if changes else f"Nothing changed on {incident.ref}."

    return _incident_action(
        request, ref, name="details", make_form=lambda data, i: IncidentDetailsForm(data, incident=i), perform=perform
    )


@page_access
def incident_assign(request: HttpRequest, ref: str) -> HttpResponse:
    def perform(actor, incident, form):
        data = form.cleaned_data
        services.incident_assign(actor=actor, incident=incident, commander=data["commander"])
        return f"{data['commander'].display_name} is now commander of {incident.ref}."

    return _incident_action(
        request, ref, name="assign", make_form=lambda data, i: AssignCommanderForm(data, incident=i), perform=perform
    )


@page_access
def incident_open_chat_channel(request: HttpRequest, ref: str) -> HttpResponse:
    def perform(actor, incident, form):
        chat, created = channel_services.incident_open_chat_channel(actor=actor, incident=incident)
        return f"Slack channel #{chat.name} {'opened' if created else 'was already open'} for {incident.ref}."

    return _incident_action(request, ref, name="chat", make_form=lambda data, _: Form(data), perform=perform)


# --- signals -------------------------------------------------------------------------------------

SIGNAL_STATES = [
    (Signal.State.OPEN, "Open"),
    (Signal.State.PROMOTED, "Promoted"),
    (Signal.State.DISMISSED, "Dismissed"),
]


def _render_signals(
    request: HttpRequest, *, status: int = 200, failed_signal: int | None = None, form: Form | None = None
) -> HttpResponse:
    data = request.GET.copy()
    data.setdefault("state", Signal.State.OPEN)  # the page opens on what waits for triage
    filters = SignalFilter(data, queryset=selectors.signals_for(user=request.user))
    if not filters.is_valid() and status == 200:  # the filters that parsed apply; the page says why not the others
        status = 400
    page = Paginator(filters.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "state": filters.form.cleaned_data.get("state", ""),
        "states": [*SIGNAL_STATES, (SignalFilter.ALL, "All")],
        "filter_form": filters.form,
        "failed_signal": failed_signal,
        "failed_form": form,
    }
    return render(request, "incidents/signal_list.html", context, status=status)


@page_access
def signal_list(request: HttpRequest) -> HttpResponse:
    return _render_signals(request)


def _signal_or_404(request: HttpRequest, pk: int) -> Signal:
    signal = selectors.signals_for(user=request.user).filter(pk=pk).first()
    if signal is None:
        raise Http404("No such signal.")
    return signal


def _back_to_signals(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    url = reverse("signal-list")
    return redirect(f"{url}?state={state}" if state in {*Signal.State.values, "all"} else url)


@page_access
def signal_promote(request: HttpRequest, pk: int) -> HttpResponse:
    signal = _signal_or_404(request, pk)
    if request.method != "POST":
        return _back_to_signals(request)
    form = Form(request.POST)
    form.is_valid()
    incident, status = attempt(form, lambda: services.signal_promote(actor=Actor.from_request(request), signal=signal))
    if incident is None:
        return _render_signals(request, status=status, failed_signal=signal.pk, form=form)
    messages.success(request, f"Signal promoted to {incident.ref}.")
    return redirect("incident-detail", ref=incident.ref)


@page_access
def signal_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    signal = _signal_or_404(request, pk)
    if request.method != "POST":
        return _back_to_signals(request)
    form = DismissSignalForm(request.POST)
    status = 400
    if form.is_valid():
        dismissed, status = attempt(
            form,
            lambda: services.signal_dismiss(actor=Actor.from_request(request), signal=signal, **form.cleaned_data),
        )
        if dismissed is not None:
            messages.success(request, f"Signal “{signal.title}” dismissed.")
            return _back_to_signals(request)
    return _render_signals(request, status=status, failed_signal=signal.pk, form=form)
