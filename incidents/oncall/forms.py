"""Rotation and override forms. Members are usernames in turn order; custom shifts are one a line,
`username, start, end`, in the rotation's time zone. The services decide the rest."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from django import forms

from accounts.models import User
from incidents.models import Rotation
from incidents.oncall import schedule
from incidents.oncall.services import PAGED_ROLES, ShiftPlan

WEEKDAY_CHOICES = [("", "—")] + [(str(k), day) for k, day in enumerate(schedule.WEEKDAYS)]
TIME_FORMATS = ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]


def users_named(names: list[str]) -> list[User]:
    """Users by username, in the order given; a ValidationError names the unknown ones."""
    found = {u.username: u for u in User.objects.filter(username__in=names).prefetch_related("groups")}
    unknown = [n for n in names if n not in found]
    if unknown:
        raise forms.ValidationError(f"No such user: {', '.join(unknown)}.")
    return [found[n] for n in names]


def _local(text: str, zone_name: str, line: int | None = None) -> datetime:
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=schedule.zone(zone_name)).astimezone(UTC)
        except ValueError:
            continue
    where = f"Line {line}: " if line else ""
    raise forms.ValidationError(f"{where}{text.strip()!r} is not a time like 2026-03-02 09:00.")


def parse_shifts(text: str, zone_name: str) -> list[ShiftPlan]:
    rows = [(k, line) for k, line in enumerate(text.splitlines(), start=1) if line.strip()]
    parsed = []
    for k, line in rows:
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3:
            raise forms.ValidationError(f"Line {k}: write `username, start, end`.")
        parsed.append((parts[0], _local(parts[1], zone_name, k), _local(parts[2], zone_name, k)))
    people = {u.username: u for u in users_named(sorted({name for name, _, _ in parsed}))}
    return [ShiftPlan(people[name], start, end) for name, start, end in parsed]


class RotationForm(forms.Form):
    role = forms.ChoiceField(choices=[(r.value, r.value.replace("_", " ")) for r in PAGED_ROLES])
    name = forms.CharField(max_length=100)
    time_zone = forms.CharField(max_length=64, initial="UTC", help_text="e.g. Europe/London, America/New_York, UTC")
    handoff = forms.ChoiceField(choices=Rotation.Handoff.choices)
    members = forms.CharField(
        max_length=2000, help_text="Usernames in turn order, separated by commas or spaces; all hold the role."
    )
    handoff_weekday = forms.TypedChoiceField(
        choices=WEEKDAY_CHOICES, coerce=int, empty_value=None, required=False, label="Handoff day (weekly)"
    )
    handoff_time = forms.TimeField(required=False, label="Handoff time (weekly)", help_text="e.g. 09:00")
    start_date = forms.DateField(
        required=False, label="First week starts (weekly)", help_text="A handoff day, e.g. 2026-03-02"
    )
    shifts = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        max_length=20000,
        required=False,
        label="Shifts (custom)",
        help_text="One a line: username, start, end (e.g. leader1, 2026-03-02 09:00, 2026-03-05 09:00).",
    )

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["role"]

    def clean_members(self) -> list[User]:
        return users_named([n for n in re.split(r"[\s,]+", self.cleaned_data["members"]) if n])

    def clean(self):
        data = super().clean()
        zone_name = data.get("time_zone") or "UTC"
        if schedule.is_zone(zone_name) and data.get("shifts") is not None:
            try:
                data["shifts"] = parse_shifts(data["shifts"], zone_name)
            except forms.ValidationError as error:
                self.add_error("shifts", error)
        else:
            data["shifts"] = []
        return data

    @classmethod
    def initial_for(cls, rotation: Rotation) -> dict:
        zone = schedule.zone(rotation.time_zone)
        return {
            "name": rotation.name,
            "time_zone": rotation.time_zone,
            "handoff": rotation.handoff,
            "members": " ".join(m.user.username for m in rotation.members.all()),
            "handoff_weekday": "" if rotation.handoff_weekday is None else str(rotation.handoff_weekday),
            "handoff_time": rotation.handoff_time,
            "start_date": rotation.start_date,
            "shifts": "\n".join(
                f"{s.user.username}, {s.starts_at.astimezone(zone):%Y-%m-%d %H:%M}, "
                f"{s.ends_at.astimezone(zone):%Y-%m-%d %H:%M}"
                for s in rotation.shifts.all()
            ),
        }


class OverrideForm(forms.Form):
    user = forms.CharField(max_length=150, label="Who covers", help_text="A username holding the rotation's role")
    starts_at = forms.CharField(max_length=20, label="From", help_text="In the rotation's time zone: 2026-03-02 09:00")
    ends_at = forms.CharField(max_length=20, label="Until")
    reason = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, zone_name: str = "UTC", **kwargs):
        super().__init__(*args, **kwargs)
        self.zone_name = zone_name

    def clean_user(self) -> User:
        return users_named([self.cleaned_data["user"].strip()])[0]

    def clean_starts_at(self) -> datetime:
        return _local(self.cleaned_data["starts_at"], self.zone_name)

    def clean_ends_at(self) -> datetime:
        return _local(self.cleaned_data["ends_at"], self.zone_name)


class AcknowledgeForm(forms.Form):
    """Nothing to fill in: the button, with its CSRF token."""
