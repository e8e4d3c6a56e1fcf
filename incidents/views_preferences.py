"""The notification preferences page (/accounts/notifications/): which events reach you where, and
your quiet hours. The rules live in incidents.preferences; this page parses the form and shows the
service's field messages beside their fields."""

from __future__ import annotations

from zoneinfo import available_timezones

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from accounts.access import READ_ROLES, WRITE_ROLES, role_required
from accounts.actor import Actor
from config.errors import DomainError
from config.forms import bind_domain_error
from incidents import preferences
from incidents.models import Event
from incidents.models.notifications import URGENT_EVENTS


def _zones() -> list[tuple[str, str]]:
    return [(zone, zone) for zone in sorted(available_timezones())]


class PreferencesForm(forms.Form):
    email_events = forms.MultipleChoiceField(
        label="By email", choices=Event.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    slack_events = forms.MultipleChoiceField(
        label="On Slack (a direct message)", choices=Event.choices, required=False,
        widget=forms.CheckboxSelectMultiple,
    )  # fmt: skip
    slack_member_id = forms.CharField(
        label="Your Slack member id", required=False, max_length=32,
        help_text="Slack: your profile → ⋮ → Copy member ID (e.g. U024BE7LH).",
    )  # fmt: skip
    quiet_start = forms.CharField(
        label="Quiet hours from", required=False, widget=forms.TimeInput(attrs={"type": "time"}),
        help_text="Non-urgent messages wait until the quiet hours end. Pages, SEV1 and break glass never wait.",
    )  # fmt: skip
    quiet_end = forms.CharField(
        label="Quiet hours until", required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    time_zone = forms.ChoiceField(label="Your time zone", choices=_zones)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = _zones()

    def clean_time_zone(self):  # an unknown zone gets the service's message, not the form's
        return self.data.get("time_zone", "")

    def full_clean(self):
        super().full_clean()
        self._errors.pop("time_zone", None)


def _initial(prefs: preferences.Preferences) -> dict:
    data = prefs.as_data()
    data["quiet_start"] = data["quiet_start"] or ""
    data["quiet_end"] = data["quiet_end"] or ""
    return data


@role_required(READ_ROLES, write_roles=WRITE_ROLES)  # auditors, who write nothing anywhere, read theirs
@never_cache
def notification_preferences(request: HttpRequest) -> HttpResponse:
    current = preferences.preferences_of(request.user)
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if not form.is_valid():  # a choice the page never offered
            return _render(request, form, current, status=400)
        data = dict(form.cleaned_data)
        data["quiet_start"] = data["quiet_start"].strip() or None
        data["quiet_end"] = data["quiet_end"].strip() or None
        try:
            preferences.preferences_update(actor=Actor.from_request(request), user=request.user, data=data)
        except DomainError as error:
            bind_domain_error(form, error)
            return _render(request, form, current, status=error.status)
        messages.success(request, "Your notification preferences are saved.")
        return redirect("notification-preferences")
    return _render(request, PreferencesForm(initial=_initial(current)), current)


def _render(request: HttpRequest, form: PreferencesForm, current: preferences.Preferences, *, status: int = 200):
    urgent = [Event(e).label for e in Event.values if e in URGENT_EVENTS]
    context = {"form": form, "saved": current.saved, "urgent": urgent}
    return render(request, "incidents/notification_preferences.html", context, status=status)
