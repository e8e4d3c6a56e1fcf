"""On-call pages: the rotations with who is on call now, the rotation forms (admins and
leadership), overrides, and a page with its Acknowledge button (a POST: opening it never
acknowledges). A page's incident details show only to people who may see the incident."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from accounts.access import READ_ROLES, WRITE_ROLES, role_required
from accounts.actor import Actor
from config.api import MAX_ID
from config.errors import DomainError
from config.forms import bind_domain_error
from incidents.models import Page, Rotation
from incidents.oncall import selectors, services
from incidents.oncall.forms import AcknowledgeForm, OverrideForm, RotationForm
from incidents.selectors import can_view_incident

page_access = role_required(READ_ROLES, write_roles=WRITE_ROLES)
editor_access = role_required(services.EDITOR_ROLES)


def _try(form: Form, action) -> tuple[Any, int]:
    try:
        return action(), 200
    except DomainError as error:
        if error.code == "not_found":
            raise Http404(error.message) from error
        bind_domain_error(form, error)
        return None, error.status


def _rotation_or_404(pk: int) -> Rotation:
    rotation = selectors.rotation_get(pk) if pk <= MAX_ID else None
    if rotation is None:
        raise Http404("No such rotation.")
    return rotation


@page_access
def rotation_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    context = {
        "rows": selectors.on_call_now(now=now),
        "may_edit": services.may_edit_rotations(request.user),
        "override_form": OverrideForm(),
    }
    return render(request, "incidents/oncall/rotation_list.html", context)


def _rotation_service_args(data: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "time_zone", "handoff", "members", "handoff_weekday", "handoff_time", "start_date", "shifts")
    return {k: data.get(k) for k in keys} | {"shifts": data.get("shifts") or []}


@editor_access
def rotation_new(request: HttpRequest) -> HttpResponse:
    form = RotationForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            rotation, status = _try(
                form,
                lambda: services.rotation_create(
                    actor=Actor.from_request(request), role=data["role"], **_rotation_service_args(data)
                ),
            )
            if rotation is not None:
                messages.success(request, f"Rotation “{rotation.name}” created.")
                return redirect("oncall-list")
    return render(request, "incidents/oncall/rotation_form.html", {"form": form, "rotation": None}, status=status)


@editor_access
def rotation_edit(request: HttpRequest, rotation_id: int) -> HttpResponse:
    rotation = _rotation_or_404(rotation_id)
    if request.method != "POST":
        form = RotationForm(initial=RotationForm.initial_for(rotation), editing=True)
        return render(request, "incidents/oncall/rotation_form.html", {"form": form, "rotation": rotation})
    form = RotationForm(request.POST, editing=True)
    status = 400
    if form.is_valid():
        args = _rotation_service_args(form.cleaned_data)
        saved, status = _try(
            form, lambda: services.rotation_edit(actor=Actor.from_request(request), rotation=rotation, **args)
        )
        if saved is not None:
            messages.success(request, f"Rotation “{saved.name}” saved.")
            return redirect("oncall-list")
    return render(request, "incidents/oncall/rotation_form.html", {"form": form, "rotation": rotation}, status=status)


@editor_access
def override_add(request: HttpRequest, rotation_id: int) -> HttpResponse:
    rotation = _rotation_or_404(rotation_id)
    if request.method != "POST":
        return redirect("oncall-list")
    form = OverrideForm(request.POST, zone_name=rotation.time_zone)
    status = 400
    if form.is_valid():
        made, status = _try(
            form,
            lambda: services.override_add(actor=Actor.from_request(request), rotation=rotation, **form.cleaned_data),
        )
        if made is not None:
            messages.success(request, f"{made.user.username} covers {rotation.name} from the time given.")
            return redirect("oncall-list")
    context = {"rows": selectors.on_call_now(), "may_edit": True, "override_form": form, "failed": rotation.pk}
    return render(request, "incidents/oncall/rotation_list.html", context, status=status)


def _page_or_404(request: HttpRequest, pk: int) -> Page:
    page = selectors.page_for(user=request.user, pk=pk) if pk <= MAX_ID else None
    if page is None:
        raise Http404("No such page.")
    return page


def _render_page(request: HttpRequest, page: Page, form: Form, status: int = 200) -> HttpResponse:
    context = {
        "page": page,
        "form": form,
        "sees_incident": can_view_incident(request.user, page.incident),
        "may_acknowledge": selectors.may_acknowledge(request.user, page),
    }
    return render(request, "incidents/oncall/page_detail.html", context, status=status)


@page_access
def page_detail(request: HttpRequest, page_id: int) -> HttpResponse:
    """Shows the page; never acknowledges it (a link preview or a mail scanner opens links)."""
    return _render_page(request, _page_or_404(request, page_id), AcknowledgeForm())


@page_access
def page_acknowledge(request: HttpRequest, page_id: int) -> HttpResponse:
    page = _page_or_404(request, page_id)
    if request.method != "POST":
        return redirect("page-detail", page_id=page.pk)
    form = AcknowledgeForm(request.POST)
    was_open = page.is_open
    done, status = _try(form, lambda: services.page_acknowledge(actor=Actor.from_request(request), page=page))
    if done is None:
        return _render_page(request, _page_or_404(request, page_id), form, status=status)
    if was_open and done.acknowledged_by_id == request.user.pk:
        messages.success(request, "Acknowledged: the page stops here.")
    else:
        messages.info(request, f"Already acknowledged by {done.acknowledged_by.username}.")
    return redirect(reverse("page-detail", kwargs={"page_id": page.pk}))
