"""Server-rendered correction pages: request, review and decide, the approval inbox, live progress.

Each view parses input, calls one selector or one service with the acting user, and renders.
A service's DomainError comes back as a message beside the form, with its 4xx status; a success
redirects (post/redirect/get) with a flash message. Which buttons a page shows is only a
courtesy: the services refuse what the person may not do, whatever was posted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import passkeys
from accounts.access import READ_ROLES, WRITE_ROLES, role_required
from accounts.actor import Actor
from accounts.models import User
from accounts.roles import Role
from accounts.views_passkeys import json_refusal
from config.api import MAX_ID
from config.errors import DomainError
from config.forms import bind_domain_error
from corrections import evidence_gate, policy, readiness, selectors, services
from corrections.catalogue import (
    CAPABILITIES,
    SAFEGUARD_SETTINGS,
    SAFEGUARDS,
    TYPES,
    CorrectionType,
    get_type,
    resolve_target,
    validate_params,
)
from corrections.context_processors import inbox_for
from corrections.customers import selectors as customer_selectors
from corrections.filters import CorrectionFilter
from corrections.forms import (
    PARAM_PREFIX,
    ApproveForm,
    ConfirmManualForm,
    CorrectionRequestForm,
    InForceFilterForm,
    LiftApproveForm,
    LiftRejectForm,
    ReadinessFilterForm,
    ReasonForm,
    RejectForm,
    TargetConfirmForm,
    describe_minutes,
    types_by_family,
)
from corrections.in_force import grouped, in_force_for
from corrections.models import Correction, DispatchAttempt, State, needs_ratification
from corrections.policy import PolicySnapshot
from corrections.readiness import automation_for_correction, automation_of
from corrections.targets import rollup
from incidents.drills import reaches_outsiders
from incidents.evidence.selectors import evidence_for
from incidents.models import Incident
from incidents.selectors import deployment_list, incident_get_for
from incidents.views import attempt, submit_once

# Every page: any role may read; auditors (and anyone without a writer role) get 403 on POST.
page_access = role_required(READ_ROLES, write_roles=WRITE_ROLES)

# States in which a correction is on its way somewhere without anyone acting: pages poll these.
MOVING_STATES = frozenset({State.APPROVED, State.QUEUED, State.APPLYING, State.LIFTING, State.EXPIRED})
# Types whose request asks "are you sure?" first: they change the service for everyone.
CONFIRMED_FAMILIES = frozenset({"rollback", "shutdown", "capability restriction"})
# The most recent evidence files offered as the request's snapshot.
EVIDENCE_CHOICES = 200
URGENT_SECONDS = 30 * 60


# --- shared helpers ------------------------------------------------------------------------------


def _incident_or_404(request: HttpRequest, ref: str) -> Incident:
    incident = incident_get_for(user=request.user, ref=ref)
    if incident is None:  # unknown, or restricted and not granted: the same answer
        raise Http404("No such incident.")
    return incident


def _correction_or_404(request: HttpRequest, pk: int) -> Correction:
    correction = selectors.correction_get_for(user=request.user, pk=pk) if pk <= MAX_ID else None
    if correction is None:
        raise Http404("No such correction.")
    return correction


def span(seconds: float) -> str:
    """A duration as a person reads it at a glance: "2 d 4 h", "3 h 5 min", "12 min"."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min" if minutes else "under a minute"


@dataclass(frozen=True)
class Clock:
    """The one deadline that matters for a correction now, and how it reads."""

    label: str
    at: datetime | None = None
    urgent: bool = False
    overdue: bool = False


def clock_for(correction: Correction, status: selectors.SignoffStatus, now: datetime) -> Clock:
    if status.ratification_overdue:
        late = span((now - correction.ratification_due_at).total_seconds())
        return Clock(f"ratification overdue by {late}", correction.ratification_due_at, urgent=True, overdue=True)
    if correction.state == State.PENDING_APPROVAL and status.seconds_left is not None:
        return Clock(
            f"lapses in {span(status.seconds_left)}",
            correction.pending_until,
            urgent=status.seconds_left < URGENT_SECONDS,
        )
    if correction.state == State.APPROVED and status.seconds_left is not None:
        return Clock(
            f"must start within {span(status.seconds_left)}",
            correction.execute_by,
            urgent=status.seconds_left < URGENT_SECONDS,
        )
    if needs_ratification(correction) and correction.ratification_due_at:
        left = (correction.ratification_due_at - now).total_seconds()
        return Clock(f"ratify within {span(left)}", correction.ratification_due_at, urgent=left < URGENT_SECONDS)
    if correction.state == State.ACTIVE:
        if correction.expires_at:
            return Clock(f"expires in {span((correction.expires_at - now).total_seconds())}", correction.expires_at)
        return Clock("in force until lifted" if get_type(correction.type).reversible else "permanent")
    if correction.state in (State.QUEUED, State.APPLYING) and correction.duration_minutes:
        return Clock(f"will expire {describe_minutes(correction.duration_minutes)} after it takes effect")
    if correction.ended_at:
        return Clock("ended", correction.ended_at)
    return Clock("")


@dataclass(frozen=True)
class Row:
    """One correction as the lists show it."""

    correction: Correction
    ctype: CorrectionType
    status: selectors.SignoffStatus
    clock: Clock

    @property
    def moving(self) -> bool:
        return self.correction.state in MOVING_STATES


def rows_for(corrections) -> list[Row]:
    now = timezone.now()
    rows = []
    for correction in corrections:
        status = selectors.signoff_status(correction)
        rows.append(Row(correction, get_type(correction.type), status, clock_for(correction, status, now)))
    return rows


def panel_context(user: User, incident: Incident) -> dict[str, Any]:
    """The incident page's corrections panel (and its live fragment): a fixed number of queries."""
    rows = rows_for(selectors.corrections_for_incident(user=user, incident=incident))
    return {
        "incident": incident,
        "rows": rows,
        "moving": any(row.moving for row in rows),
        "can_request": user.can_write and incident.status not in services.CLOSED_INCIDENT,
    }


def type_choices(user: User) -> list[tuple[str, list[tuple[CorrectionType, bool]]]]:
    """The catalogue by family, each type with whether this person's role may request it (one query)."""
    tiers = {p.tier for p in selectors.current_policies() if user.roles & set(p.requester_roles)}
    return [(family, [(t, t.tier in tiers) for t in types]) for family, types in types_by_family()]


# --- requesting a correction ---------------------------------------------------------------------


def _consequence(ctype: CorrectionType, target: str, params: dict) -> str:
    """What the person is about to do to everyone, in one sentence."""
    if ctype.key == "rollback_model":
        return f"This will route everyone using {target} to {params.get('version')} until it is lifted."
    if ctype.key == "disable_capability":
        capability = CAPABILITIES.get(params.get("capability"), params.get("capability"))
        return f"This will turn off {capability} on {target} for everyone until it is lifted."
    if ctype.key == "tighten_safeguard":
        safeguard = SAFEGUARDS.get(params.get("safeguard"), params.get("safeguard"))
        setting = SAFEGUARD_SETTINGS.get(params.get("setting"), params.get("setting"))
        return f"This will set the {safeguard} on {target} to “{setting}” for everyone until it is lifted."
    if ctype.key == "pause_deployment":
        return f"This will pause {target} for everyone: every request to it will fail until it is lifted."
    if ctype.key == "withdraw_model":
        return f"This will take every deployment of {target} offline for everyone until it is lifted."
    if ctype.key == "destroy_weights":
        return (
            f"This records the decision to destroy the weights of {target}. It cannot be undone. Nothing runs "
            "automatically: once approved, someone carries it out and confirms it here by hand."
        )
    return f"This will apply “{ctype.label}” to {target}."


def _cannot_automate(ctype: CorrectionType, target) -> list:
    """The deployments this request would reach that cannot be automated, said before anyone approves."""
    deployments = services.deployments_reached(model_id=target.model.pk, deployment=target.deployment)
    return [a for a in automation_of(deployments, ctype) if not a.automatable]


def _render_request(request, incident, ctype, form, *, status: int = 200) -> HttpResponse:
    # Which deployments cannot be automated, before the person picks one (and before anyone approves).
    unreachable = [a for a in automation_of(list(deployment_list()), ctype) if not a.automatable]
    context = {
        "incident": incident, "ctype": ctype, "form": form, "param_prefix": PARAM_PREFIX,
        "cannot_automate": unreachable,
    }  # fmt: skip
    return render(request, "corrections/correction_new.html", context, status=status)


def _render_choose(request, incident, *, error: str = "", status: int = 200) -> HttpResponse:
    context = {"incident": incident, "families": type_choices(request.user), "error": error}
    return render(request, "corrections/correction_choose.html", context, status=status)


PREFILLED = ("deployment", "duration_minutes", "rationale")


def _prefilled(request: HttpRequest, form: CorrectionRequestForm) -> dict[str, Any]:
    """Initial values from the query string (a playbook's "Request" link): shown, never submitted
    for the person — they still read, may change, and send the form, and the sign-off applies."""
    values: dict[str, Any] = {}
    for name, field in form.fields.items():
        if name not in PREFILLED and not name.startswith(PARAM_PREFIX):
            continue
        given = request.GET.getlist(name)
        if given:
            values[name] = given if getattr(field.widget, "allow_multiple_selected", False) else given[0][:20000]
    return values


@role_required(WRITE_ROLES)  # a blank form is of no use to a role that cannot submit it
def correction_new(request: HttpRequest, ref: str) -> HttpResponse:
    """Two steps without a script: choose the type (?type=…), then fill in that type's fields."""
    incident = _incident_or_404(request, ref)
    key = request.POST.get("type") or request.GET.get("type", "")
    ctype = TYPES.get(key)
    if ctype is None:
        error = f"Unknown correction type {key!r}: choose one below." if key else ""
        return _render_choose(request, incident, error=error, status=400 if key else 200)
    hours = services.break_glass_hours_for(user=request.user, ctype=ctype, incident=incident)
    needed = evidence_gate.needs_evidence(ctype, incident)
    form_kwargs = {
        "ctype": ctype,
        "deployments": deployment_list(),
        "may_break_glass": hours is not None,
        "ratification_hours": hours or 24,
        "evidence_needed": needed,
        "evidence": list(evidence_for(incident=incident)[:EVIDENCE_CHOICES]) if needed else [],
    }
    if request.method != "POST":
        first = incident.deployments.all()[:1]
        initial = {"deployment": first[0].slug if first else "", "duration_minutes": ctype.default_duration_minutes}
        if ctype.target_kind == "model" and first:
            initial[PARAM_PREFIX + "model"] = first[0].model.name
        form = CorrectionRequestForm(initial=initial, **form_kwargs)
        form.initial.update(_prefilled(request, form))
        return _render_request(request, incident, ctype, form)

    form = CorrectionRequestForm(request.POST, **form_kwargs)
    if not form.is_valid():
        return _render_request(request, incident, ctype, form, status=400)
    if "edit" in request.POST:  # back from the confirmation step
        return _render_request(request, incident, ctype, form)
    kwargs = form.service_kwargs()
    if request.POST.get("confirmed") != "yes" and (
        ctype.family in CONFIRMED_FAMILIES or _proposed_notices(incident, ctype, kwargs, flagged_only=True)
    ):
        return _confirm_request(request, incident, ctype, form, kwargs)
    status = 400

    def create() -> str | None:
        nonlocal status
        correction, status = attempt(
            form, lambda: services.correction_request(actor=Actor.from_request(request), incident=incident, **kwargs)
        )
        if correction is None:
            return None
        if correction.state == State.PENDING_APPROVAL:
            messages.success(request, f"Correction #{correction.pk} requested; it now needs sign-off.")
        elif correction.break_glass:
            messages.warning(
                request, f"Correction #{correction.pk}: glass broken. It runs now; leadership has been paged."
            )
        else:
            messages.success(request, f"Correction #{correction.pk} is pre-authorised and is being applied now.")
        return reverse("correction-detail", args=[correction.pk])

    # One-shot: a double click or a resubmitted page redirects to the correction the first POST made.
    done = submit_once(request, form, create)
    return done if done is not None else _render_request(request, incident, ctype, form, status=status)


def _proposed_notices(
    incident: Incident, ctype: CorrectionType, kwargs: dict[str, Any], *, flagged_only: bool = False
) -> list:
    """The customer notices this request would draft, with their flags (none for a drill, nor when invalid:
    the service says what is wrong)."""
    if not reaches_outsiders(incident):
        return []
    try:
        target = resolve_target(ctype, deployment=kwargs["deployment"], params=kwargs["params"])
        params = validate_params(ctype, kwargs["params"], target)
    except DomainError:
        return []
    rows = customer_selectors.proposed_notices(
        type=ctype.key, deployment=target.deployment, model=target.model, params=params
    )
    return [row for row in rows if row.flags] if flagged_only else rows


def _notice_context(rows: list[tuple[str, list]], *, link: str = "") -> dict[str, Any]:
    """What templates/corrections/_notice_flags.html reads."""
    return {
        "notices": [{"name": name, "flags": flags} for name, flags in rows],
        "flagged": any(flags for _, flags in rows),
        "link": link if rows else "",
    }


def _confirm_request(request, incident, ctype, form, kwargs) -> HttpResponse:
    """The "are you sure?" step: checks the parameters first, so nobody confirms something invalid."""
    try:
        target = resolve_target(ctype, deployment=kwargs["deployment"], params=kwargs["params"])
        params = validate_params(ctype, kwargs["params"], target)
        evidence_gate.evidence_check(
            ctype=ctype, incident=incident, evidence_id=kwargs.get("evidence_id"),
            override=kwargs.get("evidence_override", ""),
        )  # fmt: skip
    except DomainError as error:
        bind_domain_error(form, error)
        return _render_request(request, incident, ctype, form, status=error.status)
    rule = services.current_policy(ctype.tier_of(params))
    needed = policy.evaluate(rule.requirements, []).describe_missing()
    skip = {"csrfmiddlewaretoken", "confirmed", "edit", "notice_explanation"}
    hidden = [(name, value) for name, values in request.POST.lists() if name not in skip for value in values]
    context = {
        "incident": incident,
        "ctype": ctype,
        "target": target.name,
        "consequence": _consequence(ctype, target.name, params),
        "params": [(p.label, params.get(p.name)) for p in ctype.params if p.name in params],
        "duration": describe_minutes(kwargs["duration_minutes"] or ctype.default_duration_minutes),
        "break_glass": kwargs["break_glass"],
        "needed": needed,
        "cannot_automate": _cannot_automate(ctype, target),
        "hidden": hidden,
        "tier": rule.tier,
        **_notice_context([(row.customer.name, row.flags) for row in _proposed_notices(incident, ctype, kwargs)]),
        "explanation": form["notice_explanation"],
    }
    return render(request, "corrections/correction_confirm.html", context)


# --- the correction page -------------------------------------------------------------------------


def _available_forms(user: User, correction: Correction) -> dict[str, Form | None]:
    """The forms this person could use now; the service still decides when they post."""
    names = ("approve", "reject", "cancel", "lift", "retry", "confirm", "confirm_target", "approve_lift", "reject_lift")
    forms: dict[str, Form | None] = dict.fromkeys(names)
    actions = services.correction_actions_for(user=user, correction=correction)
    snapshot = correction.policy_at_request
    if "approve" in actions:
        forms["approve"] = ApproveForm(
            target_name=correction.target_name,
            typed=snapshot.requires_typed_confirmation,
            second_factor=snapshot.requires_second_factor,
        )
    if "reject" in actions:
        forms["reject"] = RejectForm()
    if "cancel" in actions:
        forms["cancel"] = ReasonForm(action="cancel", help_text="Why it is no longer wanted.")
    if "lift" in actions:
        forms["lift"] = ReasonForm(action="lift", help_text="Why access can be restored.")
    if "retry" in actions:
        forms["retry"] = ReasonForm(action="retry", help_text="What was fixed before trying again.")
    if "confirm" in actions:
        forms["confirm"] = ConfirmManualForm(target_name=correction.target_name)
    if "approve_lift" in actions:
        forms["approve_lift"] = LiftApproveForm()
    if "reject_lift" in actions:
        forms["reject_lift"] = LiftRejectForm()
    if "confirm_target" in actions:
        forms["confirm_target"] = TargetConfirmForm()
    return forms


def _policy_facts(snapshot: PolicySnapshot) -> list[tuple[str, str]]:
    roles = ", ".join(r.replace("_", " ") for r in snapshot.requester_roles) or "nobody"
    needs = policy.evaluate(snapshot.requirements, []).describe_missing().replace("_", " ")
    break_glass = ", ".join(r.replace("_", " ") for r in snapshot.break_glass_roles) or "nobody"
    if snapshot.sev1_commander_may_break_glass:
        break_glass += "; the commander of a SEV1"
    return [
        ("Policy", f"tier {snapshot.tier}, version {snapshot.version}"),
        ("Who may request", roles),
        ("Sign-off needed", "none (pre-authorised)" if needs == "nothing" else needs),
        ("Time to live", describe_minutes(snapshot.pending_ttl_minutes)),
        ("Execution window", describe_minutes(snapshot.execution_window_minutes)),
        ("Second factor", "required" if snapshot.requires_second_factor else "not required"),
        ("Typed confirmation", "required" if snapshot.requires_typed_confirmation else "not required"),
        ("May break glass", break_glass),
        ("Ratify break glass within", describe_minutes(snapshot.ratification_hours * 60)),
    ]


def _attempts(correction: Correction) -> list[DispatchAttempt]:
    return list(correction.attempts.select_related("deployment").order_by("started_at", "id"))


def _progress_context(correction: Correction, *, shown_state: str) -> dict[str, Any]:
    status = selectors.signoff_status(correction)
    now = timezone.now()
    moving = correction.state in MOVING_STATES
    return {
        "correction": correction,
        "status": status,
        "clock": clock_for(correction, status, now),
        "attempts": _attempts(correction),
        "moving": moving,
        "retry": selectors.dispatch_retry_status(correction, now) if moving else None,
        "dispatchable": get_type(correction.type).dispatchable,
        "shown_state": shown_state,
        "state_changed": shown_state != correction.state,
        "targets": list(correction.targets.all()),
        "progress": rollup(t.state for t in correction.targets.all()).label(),
    }


def _authored_by(user: User, correction: Correction) -> str:
    """ "requested" or "edited" if this person shaped what will run (so may not sign it off), else ""."""
    if user.pk == correction.requested_by_id:
        return "requested"
    return "edited" if any(e.editor_id == user.pk for e in correction.editors.all()) else ""


def _render_detail(
    request: HttpRequest, correction: Correction, *, status: int = 200, failed: str = "", form: Form | None = None
) -> HttpResponse:
    """The correction page; `failed` names the form that was refused, rendered bound with its errors."""
    ctype = get_type(correction.type)
    forms = _available_forms(request.user, correction)
    if failed:
        forms[failed] = form
    params = [(p.label, correction.params.get(p.name)) for p in ctype.params if p.name in correction.params]
    context = {
        **_progress_context(correction, shown_state=correction.state),
        "ctype": ctype,
        "params": params,
        "forms": forms,
        "has_actions": any(forms.values()),
        "own_pending": _authored_by(request.user, correction)
        if correction.state == State.PENDING_APPROVAL or needs_ratification(correction)
        else "",
        "failed": failed,
        # Passkeys first where the approver has one; the app's code stays as the fallback.
        "passkey_offered": forms["approve"] is not None
        and "passkey" in forms["approve"].fields
        and passkeys.has_passkey(request.user),
        "pending_lift": selectors.pending_lift_of(correction),
        # An active correction's likely next step is lifting it: its panel starts open.
        "lift_first": correction.state == State.ACTIVE,
        "policy_facts": _policy_facts(correction.policy_at_request),
        "cannot_automate": [a for a in automation_for_correction(correction) if not a.automatable],
        "duration": describe_minutes(correction.duration_minutes) if correction.duration_minutes else "",
        **_notice_context(
            [
                (n.organisation.name, customer_selectors.notice_flags(n))
                for n in customer_selectors.notices_of(correction)
            ],
            link=reverse("correction-notices", args=[correction.pk]),
        ),
    }
    return render(request, "corrections/correction_detail.html", context, status=status)


@page_access
def correction_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_detail(request, _correction_or_404(request, pk))


@page_access
@never_cache
def correction_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The live part of the correction page, polled by static/js/progress.js."""
    correction = _correction_or_404(request, pk)
    shown = request.GET.get("shown", correction.state)
    return render(request, "corrections/_progress.html", _progress_context(correction, shown_state=shown))


@page_access
@never_cache
def incident_corrections_status(request: HttpRequest, ref: str) -> HttpResponse:
    """The live list of the incident page's corrections panel."""
    incident = _incident_or_404(request, ref)
    return render(request, "corrections/_panel_list.html", panel_context(request.user, incident))


def _correction_action(
    request: HttpRequest,
    pk: int,
    *,
    name: str,
    make_form: Callable[[Any, Correction], Form],
    perform: Callable[[Actor, Correction, Form], str],
    confirm: Callable[[Correction, Form], HttpResponse | None] | None = None,
) -> HttpResponse:
    """POST one of the correction page's forms: validate, call one service, then redirect or re-render."""
    correction = _correction_or_404(request, pk)
    if request.method != "POST":
        return redirect("correction-detail", pk=correction.pk)
    form = make_form(request.POST, correction)
    status = 400
    if form.is_valid():
        if confirm is not None and request.POST.get("confirmed") != "yes":
            return confirm(correction, form)
        message, status = attempt(form, lambda: perform(Actor.from_request(request), correction, form))
        if message is not None:
            messages.success(request, message)
            return redirect("correction-detail", pk=correction.pk)
    return _render_detail(request, correction, status=status, failed=name, form=form)


def _approve_form(data, correction: Correction) -> ApproveForm:
    snapshot = correction.policy_at_request
    return ApproveForm(
        data,
        target_name=correction.target_name,
        typed=snapshot.requires_typed_confirmation,
        second_factor=snapshot.requires_second_factor,
    )


@page_access
def correction_approve(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(actor, correction, form):
        data = form.cleaned_data
        ratifying = needs_ratification(correction)
        updated = services.correction_approve(
            actor=actor,
            correction=correction,
            content_hash=data["content_hash"],
            comment=data.get("comment", ""),
            otp=data.get("otp", ""),
            passkey=data.get("passkey", ""),
            confirm_target=data.get("confirm_target", ""),
            notice_explanation=data.get("notice_explanation", ""),
        )
        if ratifying:
            done = updated.ratified_at is not None
            return f"Correction #{updated.pk}: " + ("break glass ratified." if done else "your ratification counts.")
        if updated.state == State.APPROVED:
            return f"Correction #{updated.pk} is approved" + (
                " and is being applied." if get_type(updated.type).dispatchable else "; confirm here once carried out."
            )
        return f"Your approval of #{updated.pk} counts; it still needs more sign-off."

    return _correction_action(request, pk, name="approve", make_form=_approve_form, perform=perform)


@page_access
@never_cache
def correction_passkey_challenge(request: HttpRequest, pk: int) -> HttpResponse:
    """POST: options for the approver's browser to sign with a passkey, bound to this correction
    as it stands (static/js/passkey.js puts the answer in the approve form)."""
    correction = _correction_or_404(request, pk)
    if request.method != "POST":
        return JsonResponse({"detail": "Use POST.", "code": "method_not_allowed"}, status=405)
    try:
        options = services.correction_passkey_challenge(actor=Actor.from_request(request), correction=correction)
    except DomainError as error:
        return json_refusal(error)
    return JsonResponse(options)


@page_access
def correction_reject(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(actor, correction, form):
        updated = services.correction_reject(actor=actor, correction=correction, comment=form.cleaned_data["comment"])
        if updated.state == State.LAPSED:
            return f"Correction #{updated.pk} had already lapsed; nothing to reject."
        return f"Correction #{updated.pk} rejected."

    return _correction_action(request, pk, name="reject", make_form=lambda data, _: RejectForm(data), perform=perform)


@page_access
def correction_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(actor, correction, form):
        services.correction_cancel(actor=actor, correction=correction, reason=form.cleaned_data["reason"])
        return f"Correction #{correction.pk} cancelled."

    return _correction_action(
        request, pk, name="cancel", make_form=lambda data, _: ReasonForm(data, action="cancel"), perform=perform
    )


@page_access
def correction_lift(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(actor, correction, form):
        updated = services.correction_lift(actor=actor, correction=correction, reason=form.cleaned_data["reason"])
        if updated.state == State.ACTIVE:
            return f"Lift of correction #{correction.pk} requested: it needs one leadership approval first."
        return f"Lifting correction #{correction.pk}: access is being restored."

    def confirm(correction, form):
        context = {
            "correction": correction,
            "ctype": get_type(correction.type),
            "reason": form.cleaned_data["reason"],
        }
        return render(request, "corrections/correction_lift_confirm.html", context)

    return _correction_action(
        request,
        pk,
        name="lift",
        make_form=lambda data, _: ReasonForm(data, action="lift"),
        perform=perform,
        confirm=confirm,
    )


@page_access
def correction_retry(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(actor, correction, form):
        updated = services.correction_retry(actor=actor, correction=correction, reason=form.cleaned_data["reason"])
        return f"Correction #{updated.pk} sent back to the worker ({updated.get_state_display().lower()})."

    return _correction_action(
        request, pk, name="retry", make_form=lambda data, _: ReasonForm(data, action="retry"), perform=perform
    )


@page_access
def correction_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(actor, correction, form):
        data = form.cleaned_data
        services.correction_confirm_manual(
            actor=actor, correction=correction, confirm_target=data["confirm_target"], note=data["note"]
        )
        return f"Recorded: correction #{correction.pk} was carried out."

    return _correction_action(
        request,
        pk,
        name="confirm",
        make_form=lambda data, c: ConfirmManualForm(data, target_name=c.target_name),
        perform=perform,
    )


@page_access
def correction_lift_approve(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(actor, correction, form):
        data = form.cleaned_data
        services.correction_lift_approve(
            actor=actor, correction=correction, content_hash=data["content_hash"], comment=data.get("comment", "")
        )
        return f"Lift of correction #{correction.pk} approved: access is being restored."

    return _correction_action(
        request, pk, name="approve_lift", make_form=lambda data, _: LiftApproveForm(data), perform=perform
    )


@page_access
def correction_lift_reject(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(actor, correction, form):
        services.correction_lift_reject(actor=actor, correction=correction, comment=form.cleaned_data["comment"])
        return f"Lift of correction #{correction.pk} refused: it stays in force."

    return _correction_action(
        request, pk, name="reject_lift", make_form=lambda data, _: LiftRejectForm(data), perform=perform
    )


@page_access
def correction_target_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(actor, correction, form):
        data = form.cleaned_data
        target = services.correction_target_confirm(
            actor=actor, correction=correction, deployment=data["deployment"],
            confirm_target=data["confirm_target"], note=data["note"],
        )  # fmt: skip
        return f"Recorded: the manual step on {target.deployment.slug} was carried out."

    return _correction_action(
        request,
        pk,
        name="confirm_target",
        make_form=lambda data, _: TargetConfirmForm(data),
        perform=perform,
    )


# --- what is in force ----------------------------------------------------------------------------


@page_access
def in_force(request: HttpRequest) -> HttpResponse:
    """Every correction in force (or on its way, or failed) per model and deployment (DESIGN §8a)."""
    form = InForceFilterForm(request.GET)
    if not form.is_valid():
        context = {"groups": [], "form": form, "total": 0}
        return render(request, "corrections/in_force.html", context, status=400)
    model, deployment = form.cleaned_data["model"], form.cleaned_data["deployment"]
    entries = in_force_for(user=request.user, model=model or None, deployment=deployment or None)
    context = {"groups": grouped(entries), "form": form, "total": len(entries), "filtered": bool(model or deployment)}
    return render(request, "corrections/in_force.html", context)


# --- readiness -----------------------------------------------------------------------------------

READINESS_PAGE_SIZE = 25


@page_access
def readiness_matrix(request: HttpRequest) -> HttpResponse:
    """Every deployment × correction type: automatable, manual or missing, and each actuator's health."""
    form = ReadinessFilterForm(request.GET)
    if not form.is_valid():
        context = {"rows": [], "form": form, "types": list(TYPES.values()), "page": None}
        return render(request, "corrections/readiness.html", context, status=400)
    model, deployment = form.cleaned_data["model"], form.cleaned_data["deployment"]
    queryset = readiness.matrix_queryset(model=model or None, deployment=deployment or None)
    page = Paginator(queryset, READINESS_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "rows": readiness.rows_of(page.object_list), "page": page, "form": form, "types": list(TYPES.values()),
        "filtered": bool(model or deployment), "interval": readiness.interval(), "stale_after": readiness.stale_after(),
    }  # fmt: skip
    return render(request, "corrections/readiness.html", context)


# --- the approval inbox --------------------------------------------------------------------------


def _urgency(row: Row) -> tuple:
    """Overdue ratifications first, then the nearest deadline."""
    at = row.clock.at or datetime.max.replace(tzinfo=UTC)
    return (not row.clock.overdue, at, row.correction.pk)


@page_access
def approval_inbox(request: HttpRequest) -> HttpResponse:
    user = request.user
    inbox = inbox_for(request)
    filters = CorrectionFilter(request.GET or None, queryset=selectors.inbox_candidates_for(user=user))
    # Bad values: a 400 with the form saying why; the filters that parsed still apply.
    status = 400 if filters.is_bound and not filters.is_valid() else 200
    filtered = filters.is_bound and any(filters.form.cleaned_data.values())
    # Unfiltered, the page shows the inbox the header counts (computed once per request).
    rows = sorted(rows_for(inbox.matching(filters.qs) if filtered else inbox.items), key=_urgency)
    needs_device = (
        user.has_role(Role.LEADERSHIP)
        and not TOTPDevice.objects.filter(user=user, confirmed=True).exists()
        and not passkeys.has_passkey(user)
    )
    context = {"rows": rows, "needs_device": needs_device, "form": filters.form, "filtered": filtered}
    return render(request, "corrections/approval_inbox.html", context, status=status)
