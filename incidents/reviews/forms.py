"""Page forms for reviews. They parse and type-check input only; every rule lives in
incidents.reviews.services, whose refusals come back beside the field (bind_domain_error)."""

from __future__ import annotations

from django import forms

from accounts.models import User
from config.forms import OneShotForm
from incidents.models.reviews import SECTION_MAX, SECTIONS, FollowUpStatus, ReviewVersion
from incidents.reviews.selectors import ExcerptChoice

HASH_WIDGET = forms.HiddenInput
STALE_MESSAGE = "This page is out of date: reload it and read the review again."


class _HashForm(forms.Form):
    """Carries the content hash of the version the person read, as the service requires."""

    content_hash = forms.RegexField(r"^[0-9a-f]{64}$", widget=HASH_WIDGET)

    def clean(self):
        data = super().clean()
        if "content_hash" in self.errors:  # a hidden field's error would not be seen: say it on top
            self.add_error(None, STALE_MESSAGE)
        return data

    def field_for_error(self, name: str) -> str:
        """A stale hash is said on top of the form (bind_domain_error): the field is hidden."""
        return "" if name == "content_hash" else name


class ReviewDraftForm(_HashForm):
    summary = forms.CharField(required=False, max_length=SECTION_MAX, widget=forms.Textarea(attrs={"rows": 4}))
    impact = forms.CharField(
        required=False, max_length=SECTION_MAX, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Who and what was affected, for how long.",
    )  # fmt: skip
    root_cause = forms.CharField(required=False, max_length=SECTION_MAX, widget=forms.Textarea(attrs={"rows": 3}))
    contributing_causes = forms.CharField(
        required=False, max_length=SECTION_MAX, widget=forms.Textarea(attrs={"rows": 3})
    )
    went_well = forms.CharField(required=False, max_length=SECTION_MAX, widget=forms.Textarea(attrs={"rows": 3}))
    went_badly = forms.CharField(required=False, max_length=SECTION_MAX, widget=forms.Textarea(attrs={"rows": 3}))
    lessons = forms.CharField(required=False, max_length=SECTION_MAX, widget=forms.Textarea(attrs={"rows": 3}))
    timeline_excerpt = forms.MultipleChoiceField(
        required=False,
        label="Timeline excerpt",
        help_text="Pick the events, notes and decisions the review quotes; their words are kept as they are now.",
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, version: ReviewVersion, choices: list[ExcerptChoice], **kwargs):
        picked = [f"{item['kind']}:{item['id']}" for item in version.timeline_excerpt or []]
        initial = {name: getattr(version, name) for name, _ in SECTIONS}
        initial |= {"content_hash": version.content_hash, "timeline_excerpt": picked}
        super().__init__(*args, initial=initial, **kwargs)
        for name, label in SECTIONS:
            self.fields[name].label = label
        labels = {c.key: f"{c.at:%d %b %H:%M} · {c.actor}: {c.text[:160]}" for c in choices}
        # Items already quoted stay pickable even if they are no longer offered.
        for item in version.timeline_excerpt or []:
            labels.setdefault(f"{item['kind']}:{item['id']}", f"{item['actor']}: {item['text'][:160]}")
        self.fields["timeline_excerpt"].choices = list(labels.items())


class ReviewApproveForm(_HashForm):
    comment = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class ReviewPublishForm(_HashForm):
    pass


class ReviewAmendForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What the amendment corrects; it starts a new draft copied from the published version.",
        error_messages={"required": "Say why the review is amended."},
    )


class _OwnerField(forms.TypedChoiceField):
    """A choice among people read once per page (a queryset would be read again by every row's form)."""

    def __init__(self, **kwargs):
        super().__init__(coerce=int, empty_value=None, **kwargs)


def _owner_choices(owners: list[User], *, blank: bool) -> list[tuple[object, str]]:
    return [*([("", "—")] if blank else []), *((user.pk, user.display_name) for user in owners)]


class _OwnerMixin:
    def clean_owner(self) -> User | None:
        pk = self.cleaned_data.get("owner")
        return self.owners_by_pk.get(pk) if pk is not None else None


class FollowUpForm(_OwnerMixin, OneShotForm):
    title = forms.CharField(max_length=200)
    owner = _OwnerField()
    due_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, owners: list[User], **kwargs):
        super().__init__(*args, **kwargs)
        self.owners_by_pk = {user.pk: user for user in owners}
        self.fields["owner"].choices = _owner_choices(owners, blank=True)


class FollowUpEditForm(_OwnerMixin, forms.Form):
    """One action's row: its owner closes it; the review's writers change anything."""

    status = forms.ChoiceField(choices=FollowUpStatus.choices)
    owner = _OwnerField(required=False)
    due_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, owners: list[User], action, **kwargs):
        initial = {"status": action.status, "owner": action.owner_id, "due_date": action.due_date}
        super().__init__(*args, initial=initial, prefix=f"fu{action.pk}", **kwargs)
        # The current owner stays a choice even if they could no longer be picked anew.
        self.owners_by_pk = {user.pk: user for user in owners} | {action.owner_id: action.owner}
        self.fields["owner"].choices = _owner_choices(list(self.owners_by_pk.values()), blank=False)

    def changes(self) -> dict:
        """Only what differs from the action now, so an owner's status change asks for nothing else."""
        data = self.cleaned_data
        return {name: data[name] for name in self.changed_data if data.get(name) not in (None, "")}
