"""Playbook pages: the list, one playbook with every version and what each changed, a new playbook or
a new version (admins and incident commanders), and leadership's approval of a version's
pre-authorisation (not its author; a confirmation step). Everyone with a role reads."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_safe

from accounts.access import READ_ROLES, WRITE_ROLES, role_required
from accounts.actor import Actor
from accounts.roles import Role
from config.api import MAX_ID
from config.errors import DomainError
from corrections.catalogue import TYPES
from corrections.models import Playbook, PlaybookVersion
from corrections.playbooks import selectors, services
from corrections.playbooks.forms import PlaybookForm, PreauthApproveForm, bind_playbook_error
from incidents.views import submit_once

PAGE_SIZE = 20
EDITORS = services.EDITOR_ROLES
APPROVERS = (Role.LEADERSHIP,)


def _playbook_or_404(playbook_id: int) -> Playbook:
    playbook = selectors.playbook_get(playbook_id) if playbook_id <= MAX_ID else None
    if playbook is None:
        raise Http404("No such playbook.")
    return playbook


def _version_or_404(playbook: Playbook, number: int) -> PlaybookVersion:
    version = next((v for v in playbook.all_versions if v.number == number), None)
    if version is None:
        raise Http404("No such version of this playbook.")
    return version


def may_approve(user, version: PlaybookVersion) -> bool:
    """Offer the approval only where the service would take it (it checks again)."""
    return (
        user.has_role(*APPROVERS)
        and version.is_current
        and bool(version.preauthorised_type)
        and version.preauth_approved_at is None
        and version.created_by_id != user.pk
    )


@role_required(READ_ROLES, write_roles=WRITE_ROLES)  # outermost: an auditor's POST is 403, then 405 for all
@require_safe
def playbook_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.playbook_list(), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(p, (getattr(p, "current", None) or [None])[0]) for p in page.object_list]
    context = {"page": page, "rows": rows, "can_edit": request.user.has_role(*EDITORS)}
    return render(request, "corrections/playbooks/playbook_list.html", context)


@role_required(READ_ROLES, write_roles=WRITE_ROLES)
@require_safe
def playbook_detail(request: HttpRequest, playbook_id: int) -> HttpResponse:
    playbook = _playbook_or_404(playbook_id)
    rows = selectors.version_rows(playbook)
    current = next((row.version for row in rows if row.version.is_current), None)
    context = {
        "playbook": playbook,
        "rows": rows,
        "current_version": current,
        "can_edit": request.user.has_role(*EDITORS),
        "can_approve": current is not None and may_approve(request.user, current),
        "can_drill": request.user.has_role(Role.INCIDENT_COMMANDER, Role.LEADERSHIP, Role.ADMIN),
        "types": TYPES,
    }
    return render(request, "corrections/playbooks/playbook_detail.html", context)


def _save(request: HttpRequest, form: PlaybookForm, write) -> tuple[HttpResponse | None, int]:
    """Run the service once (the form's one-time token); refusals go next to the fields."""
    status = 400

    def create() -> str | None:
        nonlocal status
        try:
            version = write(form)
        except DomainError as error:
            if error.code == "not_found":
                raise Http404(error.message) from error
            bind_playbook_error(form, error)
            status = error.status
            return None
        messages.success(request, f"Saved {version.label}.")
        return reverse("playbook-detail", args=[version.playbook_id])

    return submit_once(request, form, create), status


@role_required(EDITORS)
def playbook_new(request: HttpRequest) -> HttpResponse:
    """A new playbook: its version 1."""
    form = PlaybookForm(request.POST or None, with_slug=True)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            actor = Actor.from_request(request)
            done, status = _save(
                request, form,
                lambda f: services.playbook_create(actor=actor, slug=f.cleaned_data["slug"], data=f.content()),
            )  # fmt: skip
            if done is not None:
                return done
    context = {"form": form, "playbook": None, "current_version": None}
    return render(request, "corrections/playbooks/playbook_form.html", context, status=status)


@role_required(EDITORS)
def playbook_version_new(request: HttpRequest, playbook_id: int) -> HttpResponse:
    """Save an edit as a new current version, starting from what the current one says."""
    playbook = _playbook_or_404(playbook_id)
    current = next((v for v in playbook.all_versions if v.is_current), None)
    initial = PlaybookForm.initial_from(current) if current is not None else {"title": playbook.title}
    form = PlaybookForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            actor = Actor.from_request(request)
            done, status = _save(
                request, form,
                lambda f: services.playbook_version_create(actor=actor, playbook=playbook, data=f.content()),
            )  # fmt: skip
            if done is not None:
                return done
    context = {"form": form, "playbook": playbook, "current_version": current}
    return render(request, "corrections/playbooks/playbook_form.html", context, status=status)


@role_required(APPROVERS)
def playbook_preauth_approve(request: HttpRequest, playbook_id: int, number: int) -> HttpResponse:
    """GET: what approving would pre-authorise, and a confirmation. POST: approve (not the author)."""
    playbook = _playbook_or_404(playbook_id)
    version = _version_or_404(playbook, number)
    form = PreauthApproveForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.playbook_preauth_approve(
                    actor=Actor.from_request(request), version=version, comment=form.cleaned_data["comment"]
                )
            except DomainError as error:
                bind_playbook_error(form, error)
                status = error.status
            else:
                messages.success(request, f"Pre-authorisation of {version.label} approved.")
                return redirect("playbook-detail", playbook.pk)
    named = next((r for r in version.recommendations if r.get("type") == version.preauthorised_type), None)
    context = {
        "playbook": playbook,
        "version": version,
        "named": named,
        "form": form,
        "refusal": None if may_approve(request.user, version) else _why_not(request.user, version),
    }
    return render(request, "corrections/playbooks/playbook_approve.html", context, status=status)


def _why_not(user, version: PlaybookVersion) -> str:
    if not version.is_current:
        return "Only the current version can be approved."
    if not version.preauthorised_type:
        return "This version pre-authorises nothing."
    if version.preauth_approved_at is not None:
        return "This version's pre-authorisation is already approved."
    if version.created_by_id == user.pk:
        return "You wrote this version: someone else in leadership approves it."
    return "Only leadership approves a pre-authorisation."
