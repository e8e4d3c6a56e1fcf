"""The customer notices page of a correction: each notice with its flags and delivery, edited and sent here."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.access import READ_ROLES, WRITE_ROLES, role_required
from accounts.actor import Actor
from config.api import MAX_ID
from corrections import selectors as correction_selectors
from corrections.customers import selectors, services
from corrections.models import Correction, CustomerNotice, NoticeState
from incidents.views import attempt

page_access = role_required(READ_ROLES, write_roles=WRITE_ROLES)


class NoticeForm(forms.Form):
    subject = forms.CharField(label="Subject", max_length=300)
    body = forms.CharField(
        label="What the customer is told", max_length=20000, widget=forms.Textarea(attrs={"rows": 9})
    )

    def __init__(self, *args, notice: CustomerNotice, **kwargs):
        kwargs.setdefault("initial", {"subject": notice.subject, "body": notice.body})
        kwargs.setdefault("prefix", f"notice-{notice.pk}")
        super().__init__(*args, **kwargs)


class SendForm(forms.Form):
    pass


def _correction_or_404(request: HttpRequest, pk: int) -> Correction:
    correction = correction_selectors.correction_get_for(user=request.user, pk=pk) if pk <= MAX_ID else None
    if correction is None:
        raise Http404("No such correction.")
    return correction


def _notice_or_404(request: HttpRequest, notice_id: int) -> CustomerNotice:
    notice = selectors.notice_get_for(user=request.user, pk=notice_id) if notice_id <= MAX_ID else None
    if notice is None:
        raise Http404("No such notice.")
    return notice


def _render(
    request: HttpRequest, correction: Correction, *, failed: int | None = None, form: forms.Form | None = None,
    status: int = 200,
) -> HttpResponse:  # fmt: skip
    may_write = request.user.has_role(*services.EDITOR_ROLES)
    rows = []
    for notice in selectors.notices_of(correction):
        edit = None
        if may_write and notice.state == NoticeState.DRAFT:
            edit = form if failed == notice.pk and isinstance(form, NoticeForm) else NoticeForm(notice=notice)
        rows.append(
            {
                "notice": notice,
                "flags": selectors.notice_flags(notice),
                "delivery": selectors.delivery_of(notice),
                "edit": edit,
                "send": may_write and notice.state == NoticeState.DRAFT,
                "send_errors": form.non_field_errors() if failed == notice.pk and isinstance(form, SendForm) else [],
            }
        )
    context = {"correction": correction, "rows": rows}
    return render(request, "corrections/notices.html", context, status=status)


@page_access
def correction_notices(request: HttpRequest, pk: int) -> HttpResponse:
    return _render(request, _correction_or_404(request, pk))


@page_access
def notice_edit(request: HttpRequest, notice_id: int) -> HttpResponse:
    notice = _notice_or_404(request, notice_id)
    if request.method != "POST":
        return redirect("correction-notices", pk=notice.correction_id)
    form = NoticeForm(request.POST, notice=notice)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        done, status = attempt(form, lambda: services.notice_edit(
            actor=Actor.from_request(request), notice=notice, subject=data["subject"], body=data["body"]))  # fmt: skip
        if done is not None:
            messages.success(request, f"The notice to {notice.organisation.name} is saved (still a draft).")
            return redirect("correction-notices", pk=notice.correction_id)
    return _render(request, notice.correction, failed=notice.pk, form=form, status=status)


@page_access
def notice_send(request: HttpRequest, notice_id: int) -> HttpResponse:
    notice = _notice_or_404(request, notice_id)
    if request.method != "POST":
        return redirect("correction-notices", pk=notice.correction_id)
    form = SendForm(request.POST)
    form.is_valid()
    done, status = attempt(form, lambda: services.notice_send(actor=Actor.from_request(request), notice=notice))
    if done is not None:
        messages.success(request, f"The notice to {notice.organisation.name} is on its way to "
                                  f"{', '.join(done.recipients)}.")  # fmt: skip
        return redirect("correction-notices", pk=notice.correction_id)
    return _render(request, notice.correction, failed=notice.pk, form=form, status=status)
