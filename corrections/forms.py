"""Correction page forms. They parse and type-check input only; every rule lives in corrections.services.

The request form is built from the catalogue: one form field per ParamField of the chosen type,
named `param_<name>`, so a service error about `params.<name>` lands next to that field.
"""

from __future__ import annotations

from typing import Any

from django import forms

from config.forms import OneShotForm
from corrections.catalogue import TYPES, CorrectionType, ParamField
from corrections.services import MAX_DURATION_MINUTES

TEXT_MAX = 20000
PARAM_PREFIX = "param_"
# What the service calls a field -> what the request form calls it (params.* are mapped by prefix).


def types_by_family() -> list[tuple[str, list[CorrectionType]]]:
    """The catalogue grouped by family, in catalogue order (narrowest to most drastic)."""
    groups: dict[str, list[CorrectionType]] = {}
    for ctype in TYPES.values():
        groups.setdefault(ctype.family, []).append(ctype)
    return list(groups.items())


def field_for_error(key: str) -> str:
    """A service's `params.x` is the form's `param_x`."""
    return PARAM_PREFIX + key.split(".", 1)[1] if key.startswith("params.") else key


class _PrefixedForm(forms.Form):
    """Several forms share the correction page: element ids carry the form's name so they stay unique."""

    id_prefix = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"{self.id_prefix}-%s")
        super().__init__(*args, **kwargs)


def _text(label: str, *, required: bool = True, rows: int = 3, help_text: str = "", error: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=TEXT_MAX,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": rows}),
        error_messages={"required": error} if error else None,
    )


def _param_field(param: ParamField) -> forms.Field:
    common = {"label": param.label, "required": param.required, "help_text": param.help}
    if param.kind == "int":
        return forms.IntegerField(min_value=1, **common)
    if param.kind == "choice":
        return forms.ChoiceField(choices=[("", "Choose…"), *param.choices.items()], **common)
    if param.kind == "multichoice":
        return forms.MultipleChoiceField(
            choices=list(param.choices.items()), widget=forms.CheckboxSelectMultiple, **common
        )
    if param.kind == "list":
        return forms.CharField(max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 2}), **common)
    return forms.CharField(max_length=200, **common)


def describe_minutes(minutes: int | None) -> str:
    """A number of minutes as a person says it: "7 days", "24 hours", "1 hour 30 minutes"."""
    if not minutes:
        return "none"
    days, rest = divmod(int(minutes), 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (mins, "minute")]
    return " ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n)


def _duration_help(ctype: CorrectionType) -> str:
    if ctype.default_duration_minutes:
        default = describe_minutes(ctype.default_duration_minutes)
        return f"Lifted automatically after this long. Leave blank for the default ({default})."
    return "Lifted automatically after this long. Leave blank for no expiry: it stays until someone lifts it."


class CorrectionRequestForm(OneShotForm):
    field_for_error = staticmethod(field_for_error)
    """Step two of requesting a correction: the chosen type's target, parameters and reasons."""

    deployment = forms.ChoiceField(label="Deployment", choices=())
    duration_minutes = forms.IntegerField(
        label="Duration in minutes", required=False, min_value=1, max_value=MAX_DURATION_MINUTES
    )
    rationale = _text("Rationale", help_text="Why this correction, why now.", error="Say why this is needed.")
    break_glass = forms.BooleanField(
        label="Break glass: apply at once, before anyone approves",
        required=False,
        help_text="Runs immediately and pages every member of leadership. The normal policy must ratify "
        "it within {hours} hours, or it is flagged overdue on every dashboard.",
    )
    justification = _text(
        "Break-glass justification",
        required=False,
        help_text="Why this cannot wait for the normal sign-off. Kept in the record.",
    )

    notice_explanation = _text(
        "Why the customers' notice could not be given",
        required=False,
        help_text="A customer's notice is flagged (late, no contact, or a type they never accepted). Say why "
        "this correction cannot wait: it is kept in the record.",
    )
    evidence_id = forms.TypedChoiceField(
        label="Evidence snapshot",
        required=False,
        coerce=int,
        empty_value=None,
        help_text="A file attached to the incident that records the state before this correction.",
    )
    evidence_override = _text(
        "Or: why go ahead without one",
        required=False,
        rows=2,
        help_text="At least 20 characters. Kept with the request and in the ledger.",
    )

    def __init__(
        self, *args, ctype: CorrectionType, deployments, may_break_glass: bool, ratification_hours: int = 24,
        evidence=None, evidence_needed: bool = False, **kwargs,
    ):  # fmt: skip
        super().__init__(*args, **kwargs)
        self.ctype = ctype
        self.evidence_needed = evidence_needed
        if evidence_needed:
            self.fields["evidence_id"].choices = [
                ("", "Choose…"),
                *((e.pk, f"{e.name} (SHA-256 {e.sha256[:12]}…)") for e in evidence or ()),
            ]
        else:
            del self.fields["evidence_id"], self.fields["evidence_override"]
        if ctype.target_kind == "deployment":
            self.fields["deployment"].choices = [
                ("", "Choose…"),
                *((d.slug, f"{d.slug} — {d.name}") for d in deployments),
            ]
        else:
            del self.fields["deployment"]
        for param in ctype.params:
            self.fields[PARAM_PREFIX + param.name] = _param_field(param)
        if ctype.reversible:
            self.fields["duration_minutes"].help_text = _duration_help(ctype)
        else:
            del self.fields["duration_minutes"]
        if may_break_glass:
            field = self.fields["break_glass"]
            field.help_text = field.help_text.format(hours=ratification_hours)
        else:
            del self.fields["break_glass"], self.fields["justification"]
        # Order: target, parameters, duration, rationale, break glass.
        order = ["deployment", *(PARAM_PREFIX + p.name for p in ctype.params), "duration_minutes", "rationale"]
        self.order_fields(
            [*order, "evidence_id", "evidence_override", "break_glass", "justification", "notice_explanation"]
        )

    @property
    def param_fields(self) -> list[forms.BoundField]:
        return [self[PARAM_PREFIX + p.name] for p in self.ctype.params]

    def clean(self):
        data = super().clean()
        if data.get("break_glass") and not (data.get("justification") or "").strip():
            self.add_error("justification", "Breaking glass needs a written justification.")
        return data

    def params(self) -> dict[str, Any]:
        """The parameters as the service takes them; optional ones left blank are left out."""
        params: dict[str, Any] = {}
        for param in self.ctype.params:
            value = self.cleaned_data.get(PARAM_PREFIX + param.name)
            if value in (None, "", []):
                continue
            if param.kind == "list":
                value = [item.strip() for item in value.replace("\n", ",").split(",") if item.strip()]
            params[param.name] = value
        return params

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "type": self.ctype.key,
            "deployment": data.get("deployment") or None,
            "params": self.params(),
            "rationale": data["rationale"],
            "duration_minutes": data.get("duration_minutes"),
            "break_glass": bool(data.get("break_glass")),
            "justification": data.get("justification", ""),
            "notice_explanation": data.get("notice_explanation", ""),
        } | ({"evidence_id": data.get("evidence_id"), "evidence_override": data.get("evidence_override", "")}
             if self.evidence_needed else {})  # fmt: skip


class _ReviewedForm(_PrefixedForm):
    """A decision bound to what its person reviewed: the page puts that content's hash in `content_hash`."""

    content_hash = forms.CharField(max_length=64, required=False, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        if not data.get("content_hash"):  # a hidden field's own error would not be shown: say it on top
            self.add_error(None, "This form does not say what you reviewed: reload the page and review it again.")
        return data

    def field_for_error(self, name: str) -> str:
        """A stale hash is a message for the whole form, not for its hidden field."""
        return "" if name == "content_hash" else name


class ApproveForm(_ReviewedForm):
    """Approve or ratify. Tier 4 adds a fresh second factor and the target's name typed out."""

    id_prefix = "approve"

    comment = _text("Comment", required=False, rows=2)
    notice_explanation = _text(
        "Why the customers' notice could not be given",
        required=False,
        rows=2,
        help_text="This correction breaks a customer's agreement (see Customer notices): say why it cannot wait.",
    )
    confirm_target = forms.CharField(label="Type the target's name to confirm", max_length=64, required=False)
    otp = forms.CharField(
        label="Code from your authenticator app",
        max_length=12,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9]*"}),
    )

    # A passkey's answer, put here by static/js/passkey.js; without it (no passkey, no script) the code is asked.
    passkey = forms.CharField(max_length=16_000, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, target_name: str, typed: bool, second_factor: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if typed:
            self.fields["confirm_target"].required = True
            self.fields["confirm_target"].help_text = f"Type {target_name} exactly."
            self.fields["confirm_target"].widget.attrs.update({"autocomplete": "off", "spellcheck": "false"})
        else:
            del self.fields["confirm_target"]
        if second_factor:
            self.fields["otp"].required = not (self.is_bound and self.data.get("passkey"))
        else:
            del self.fields["otp"]
            del self.fields["passkey"]

    def clean(self):
        data = super().clean()
        if "passkey" in self.errors:  # hidden, so say it where the person will see it
            self.add_error(None, "Your passkey's answer could not be read. Confirm with your passkey again.")
        return data

    def field_for_error(self, name: str) -> str:
        """A refused passkey answer is said on top: its field is hidden."""
        return "" if name == "passkey" else super().field_for_error(name)


class LiftApproveForm(_ReviewedForm):
    """Approve an early lift: bound to the hash of the lift the page showed."""

    id_prefix = "approve-lift"

    comment = _text("Comment", required=False, rows=2)


class LiftRejectForm(_PrefixedForm):
    id_prefix = "reject-lift"

    comment = _text("Why it must stay in force", rows=2, error="Say why it must stay in force.")


class RejectForm(_PrefixedForm):
    id_prefix = "reject"

    comment = _text("Why you reject it", rows=2, error="Say why you reject it.")


class ReasonForm(_PrefixedForm):
    """Cancel, lift and retry each take a reason for the record."""

    reason = _text("Reason", rows=2, error="A reason is required.")

    def __init__(self, *args, action: str, help_text: str = "", **kwargs):
        self.id_prefix = action
        super().__init__(*args, **kwargs)
        self.fields["reason"].help_text = help_text


class ConfirmManualForm(_PrefixedForm):
    """destroy_weights: someone confirms by hand that it was carried out."""

    id_prefix = "confirm"

    confirm_target = forms.CharField(label="Type the target's name to confirm", max_length=64)
    note = _text("Who carried it out, and how it was verified", rows=3, error="Say who carried it out and how.")

    def __init__(self, *args, target_name: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["confirm_target"].help_text = f"Type {target_name} exactly."
        self.fields["confirm_target"].widget.attrs.update({"autocomplete": "off", "spellcheck": "false"})


class TargetConfirmForm(_PrefixedForm):
    """A target with no actuator: the commander confirms its manual step was carried out."""

    id_prefix = "confirm-target"

    deployment = forms.CharField(widget=forms.HiddenInput, max_length=64)
    confirm_target = forms.CharField(label="Type the deployment's name to confirm", max_length=64)
    note = _text("Who carried it out, and how it was verified", rows=3, error="Say who carried it out and how.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["confirm_target"].widget.attrs.update({"autocomplete": "off", "spellcheck": "false"})


class InForceFilterForm(forms.Form):
    model = forms.CharField(required=False, max_length=200)
    deployment = forms.CharField(required=False, max_length=64)


class ReadinessFilterForm(InForceFilterForm):
    """The readiness page's filter: by model name or deployment slug, like what is in force."""
