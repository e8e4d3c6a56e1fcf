"""Review pages: the review with its versions and follow-ups, the draft editor, the decisions
(approve, publish, amend), the follow-up forms, and the two exports (Markdown, printable page).

Each view parses input, calls one selector or one service with the acting user, and renders; a
refusal comes back beside the form with its 4xx status, a success redirects to the review.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts.access import READ_ROLES, WRITE_ROLES, role_required
from accounts.actor import Actor
from incidents import selectors as incident_selectors
from incidents.models import Incident
from incidents.models.reviews import Review, ReviewVersion
from incidents.reviews import policy, selectors, services
from incidents.reviews.export import latest_version, markdown_response
from incidents.reviews.forms import (
    FollowUpEditForm,
    FollowUpForm,
    ReviewAmendForm,
    ReviewApproveForm,
    ReviewDraftForm,
    ReviewPublishForm,
)
from incidents.views import attempt, submit_once

# Any role may read (auditors included); only writer roles may POST, and the services decide more.
page_access = role_required(READ_ROLES, write_roles=WRITE_ROLES)


def _incident_or_404(request: HttpRequest, ref: str) -> Incident:
    incident = incident_selectors.incident_get_for(user=request.user, ref=ref)
    if incident is None:  # unknown, or restricted and not granted: the same answer
        raise Http404("No such incident.")
    return incident


def _review_or_404(incident: Incident) -> Review:
    review = selectors.review_for(incident=incident)
    if review is None:
        raise Http404("This incident has no review yet.")
    review.incident = incident
    return review


def _pick_version(request: HttpRequest, versions: list[ReviewVersion], *, editing: bool = False) -> ReviewVersion:
    """?version=N, else the latest: the draft for those who may edit it, the latest published for
    everyone else (a reader sees the draft only when nothing is published yet)."""
    wanted = request.GET.get("version", "")
    if wanted:
        chosen = next((v for v in versions if str(v.number) == wanted), None)
        if chosen is None:
            raise Http404("No such version.")
        return chosen
    published = [v for v in versions if v.is_published]
    return published[-1] if published and not editing else versions[-1]


def _render(
    request: HttpRequest, incident: Incident, *, status: int = 200, failed: str = "", form: Form | None = None,
    failed_action: int | None = None,
) -> HttpResponse:  # fmt: skip
    user = request.user
    review = selectors.review_for(incident=incident)
    can_draft = services.may_draft(user, incident)
    context: dict[str, Any] = {
        "incident": incident, "review": review, "failed": failed, "can_draft": can_draft,
        "reviewable": incident.status in services.REVIEWABLE, "form": form,
        "needs_approval": policy.needs_approval(incident.severity),
    }  # fmt: skip
    if review is not None:
        review.incident = incident
        versions = list(review.versions.all())
        version = _pick_version(request, versions, editing=can_draft)
        previous = next((v for v in reversed(versions) if v.number < version.number), None)
        draft = versions[-1] if not versions[-1].is_published else None
        owners = selectors.owner_candidates(incident=incident) if user.can_write else None
        actions = list(review.follow_ups.all())
        facts = services.version_facts(incident, draft) if draft is not None else None
        forms: dict[str, Form | None] = {
            "approve": ReviewApproveForm(initial={"content_hash": draft.content_hash}) if draft else None,
            "publish": ReviewPublishForm(initial={"content_hash": draft.content_hash}) if draft else None,
            "amend": ReviewAmendForm(),
            "follow_up": FollowUpForm(owners=owners) if owners is not None else None,
        }
        if failed:
            forms[failed] = form
        context |= {
            "versions": versions,
            "version": version,
            "previous": previous,
            "diff": selectors.version_diff(previous, version),
            "draft": draft,
            "live_approvals": [a for a in draft.approvals.all() if a.voided_at is None] if draft else [],
            "may_publish": facts is not None and policy.may_publish(facts, user.pk, user.roles),
            "may_approve": facts is not None and policy.approval_refusal(facts, user.pk, user.roles) is None,
            "forms": forms,
            "follow_ups": [
                (a, selectors.is_overdue(a), _edit_form(a, owners, failed_action, form, user, can_draft))
                for a in actions
            ],
        }
    return render(request, "incidents/reviews/review_detail.html", context, status=status)


def _edit_form(action, owners, failed_action, form, user, can_draft):
    if not user.can_write or not (can_draft or action.owner_id == user.pk):
        return None
    if failed_action == action.pk:
        return form
    return FollowUpEditForm(owners=owners, action=action)


@page_access
def review_detail(request: HttpRequest, ref: str) -> HttpResponse:
    return _render(request, _incident_or_404(request, ref))


def _review_action(
    request: HttpRequest, ref: str, *, name: str, make_form: Callable[[Any], Form],
    perform: Callable[[Actor, Incident, Form], str], one_shot: bool = False,
) -> HttpResponse:  # fmt: skip
    """POST one of the review page's forms: validate, call one service, redirect or re-render."""
    incident = _incident_or_404(request, ref)
    if request.method != "POST":
        return redirect("review-detail", ref=incident.ref)
    form = make_form(request.POST)
    status = 400
    if form.is_valid():

        def run() -> str | None:
            nonlocal status
            message, status = attempt(form, lambda: perform(Actor.from_request(request), incident, form))
            if message is None:
                return None
            messages.success(request, message)
            return reverse("review-detail", args=[incident.ref])

        done = submit_once(request, form, run) if one_shot else (redirect(url) if (url := run()) else None)
        if done is not None:
            return done
    return _render(request, incident, status=status, failed=name, form=form)


@page_access
def review_start(request: HttpRequest, ref: str) -> HttpResponse:
    def perform(actor, incident, form):
        services.review_start(actor=actor, incident=incident)
        return f"Review of {incident.ref} started: version 1 is a draft."

    return _review_action(request, ref, name="start", make_form=lambda data: Form(data), perform=perform)


@page_access
def review_approve(request: HttpRequest, ref: str) -> HttpResponse:
    def perform(actor, incident, form):
        services.review_approve(actor=actor, incident=incident, **form.cleaned_data)
        return "Approved: the commander may now publish this version."

    return _review_action(request, ref, name="approve", make_form=ReviewApproveForm, perform=perform)


@page_access
def review_publish(request: HttpRequest, ref: str) -> HttpResponse:
    def perform(actor, incident, form):
        version = services.review_publish(actor=actor, incident=incident, **form.cleaned_data)
        return f"Version {version.number} published. It no longer changes; amend it to correct it."

    return _review_action(request, ref, name="publish", make_form=ReviewPublishForm, perform=perform)


@page_access
def review_amend(request: HttpRequest, ref: str) -> HttpResponse:
    def perform(actor, incident, form):
        version = services.review_amend(actor=actor, incident=incident, **form.cleaned_data)
        return f"Version {version.number} started as a draft copied from version {version.number - 1}."

    return _review_action(request, ref, name="amend", make_form=ReviewAmendForm, perform=perform)


@page_access
def follow_up_add(request: HttpRequest, ref: str) -> HttpResponse:
    incident = _incident_or_404(request, ref)

    def perform(actor, incident, form):
        action = services.follow_up_add(actor=actor, incident=incident, **form.cleaned_data)
        return f"Follow-up added for {action.owner.display_name}."

    return _review_action(
        request, ref, name="follow_up", one_shot=True, perform=perform,
        make_form=lambda data: FollowUpForm(data, owners=selectors.owner_candidates(incident=incident)),
    )  # fmt: skip


@page_access
def follow_up_edit(request: HttpRequest, ref: str, pk: int) -> HttpResponse:
    incident = _incident_or_404(request, ref)
    action = selectors.follow_ups_for(user=request.user).filter(review__incident=incident, pk=pk).first()
    if action is None:
        raise Http404("No such follow-up action.")
    if request.method != "POST":
        return redirect("review-detail", ref=incident.ref)
    form = FollowUpEditForm(request.POST, owners=selectors.owner_candidates(incident=incident), action=action)
    status = 400
    if form.is_valid():
        changes = form.changes()
        done, status = attempt(
            form, lambda: services.follow_up_update(actor=Actor.from_request(request), action=action, changes=changes)
        )
        if done is not None:
            messages.success(request, f"“{done.title}” saved." if changes else "Nothing changed.")
            return redirect(reverse("review-detail", args=[incident.ref]) + "#follow-ups")
    return _render(request, incident, status=status, failed="", form=form, failed_action=action.pk)


@page_access
def review_edit(request: HttpRequest, ref: str) -> HttpResponse:
    incident = _incident_or_404(request, ref)
    if not services.may_draft(request.user, incident):
        raise PermissionDenied("Only the incident's participants, commanders and leadership write its review.")
    review = _review_or_404(incident)
    versions = list(review.versions.all())
    draft = versions[-1]
    if draft.is_published:
        messages.info(request, f"Version {draft.number} is published and never changes: amend it to correct it.")
        return redirect("review-detail", ref=incident.ref)
    choices = selectors.excerpt_choices(incident=incident)
    if request.method != "POST":
        form = ReviewDraftForm(version=draft, choices=choices)
        return render(request, "incidents/reviews/review_edit.html", {"incident": incident, "form": form,
                                                                       "draft": draft})  # fmt: skip
    form = ReviewDraftForm(request.POST, version=draft, choices=choices)
    status = 400
    if form.is_valid():
        data = dict(form.cleaned_data)
        seen = data.pop("content_hash")
        picks = data.pop("timeline_excerpt")
        saved, status = attempt(
            form,
            lambda: services.review_save_draft(
                actor=Actor.from_request(request), incident=incident, sections=data, timeline_excerpt=picks,
                content_hash_seen=seen,
            ),
        )  # fmt: skip
        if saved is not None:
            messages.success(request, f"Draft of version {saved.number} saved.")
            return redirect("review-detail", ref=incident.ref)
    context = {"incident": incident, "form": form, "draft": draft}
    return render(request, "incidents/reviews/review_edit.html", context, status=status)


def _export_version(request: HttpRequest, ref: str) -> tuple[Review, ReviewVersion]:
    review = _review_or_404(_incident_or_404(request, ref))
    versions = list(review.versions.all())
    version = _pick_version(request, versions) if request.GET.get("version") else latest_version(review)
    return review, version


@page_access
def review_markdown(request: HttpRequest, ref: str) -> HttpResponse:
    return markdown_response(*_export_version(request, ref))


@page_access
def review_print(request: HttpRequest, ref: str) -> HttpResponse:
    review, version = _export_version(request, ref)
    approvals = [a for a in version.approvals.all() if a.voided_at is None and a.content_hash == version.content_hash]
    context = {
        "incident": review.incident, "review": review, "version": version, "approvals": approvals,
        "follow_ups": [(a, selectors.is_overdue(a)) for a in review.follow_ups.all()],
    }  # fmt: skip
    return render(request, "incidents/reviews/review_print.html", context)
