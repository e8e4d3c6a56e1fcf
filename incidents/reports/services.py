"""Everything that writes regulator reports.

Each function runs in one transaction: it locks the incident first (the order every incidents
service uses), then the report and its draft (incidents.locks), checks the rule, writes the change
and its ledger event (incidents.reports.events) together. A drill has no reports
(incidents.drills.reaches_outsiders); a restricted incident's reports are only for those who may
see it (a refusal reads as "no such incident").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from accounts import ledger
from accounts.actor import Actor
from accounts.models import User
from accounts.roles import Role
from config.errors import DomainError
from config.times import in_utc
from incidents import drills, locks
from incidents.models import Incident
from incidents.models.reports import Regime, Report, ReportChannel, ReportKind, ReportVersion
from incidents.reports import hooks, records
from incidents.reports.events import ReportEvent
from incidents.reports.prefill import MILESTONES, REFRESHED, facts_of, prefill
from incidents.reports.regimes import SCHEMA_VERSION, Field, json_schema, template_for
from incidents.selectors import can_view_incident

WRITING_ROLES = (Role.INCIDENT_COMMANDER, Role.LEADERSHIP)
REASON_MAX = 2000
REFERENCE_MAX = 500
STALE_CONTENT = "The report changed since you opened it — read it again."
CHECK_FIELDS = "Nothing was submitted: check the fields marked."
# A first version is the initial report; later ones follow it.
LATER_KINDS = (ReportKind.INTERMEDIATE, ReportKind.AMENDED, ReportKind.FINAL)


# --- guards --------------------------------------------------------------------------------------


def _user(actor: Actor) -> User:
    if actor.user is None:
        raise DomainError("This action needs a person.", code="forbidden")
    return actor.user


def may_write(user: User, incident: Incident) -> bool:
    """The incident's commander, commanders and leadership write reports; auditors read them."""
    if not user.is_authenticated or not user.can_write:
        return False
    return user.has_role(*WRITING_ROLES) or incident.commander_id == user.pk


def refuse_drill(incident: Incident) -> None:
    if not drills.reaches_outsiders(incident):
        raise DomainError(
            f"{incident.ref} is a drill: drills get no regulator reports (nothing about a drill goes to regulators).",
            code="conflict",
        )


def _lock_incident(actor: Actor, incident: Incident) -> Incident:
    user = _user(actor)
    locked = locks.lock_incident(incident.pk)
    if not can_view_incident(user, locked):
        raise DomainError("No such incident.", code="not_found")
    refuse_drill(locked)
    if not may_write(user, locked):
        raise DomainError("Only the incident's commander, commanders and leadership write its reports.",
                          code="forbidden")  # fmt: skip
    return locked


def _regime(regime: str) -> str:
    if regime not in Regime.values:
        raise DomainError.invalid_field("regime", f"Choose one of: {', '.join(Regime.values)}.")
    return regime


def _report_of(incident: Incident, regime: str) -> Report:
    report = locks.lock_report(incident, _regime(regime))
    if report is None:
        raise DomainError(f"{incident.ref} has no {regime} report yet: start one first.", code="not_found")
    return report


def _draft_of(report: Report) -> ReportVersion:
    draft = locks.lock_report_draft(report)
    if draft is None:
        latest = report.versions.order_by("-number").values_list("number", flat=True).first()
        raise DomainError(
            f"Version {latest} was submitted and never changes: start version {(latest or 0) + 1} to follow it.",
            code="conflict",
        )
    return draft


# --- the fields, checked -------------------------------------------------------------------------


def _parse_time(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError("Give a date and time, e.g. 2026-11-30T09:00:00Z.") from None
    else:
        raise ValueError("Give a date and time as text, e.g. 2026-11-30T09:00:00Z.")
    if parsed.tzinfo is None:
        raise ValueError("Give the time zone too, e.g. 2026-11-30T09:00:00Z.")
    return ledger.format_time(in_utc(parsed))


def _normalise(f: Field, value: Any) -> Any:
    """Times in the ledger's canonical form (so the bundle never rewrites them and hashes hold);
    lines stripped of empty ones. Anything else is left for the schema to judge."""
    if f.type == "datetime":
        return _parse_time(value)
    if f.type == "list" and isinstance(value, list):
        return [v.strip() for v in value if isinstance(v, str) and v.strip()] + [
            v for v in value if not isinstance(v, str)
        ]
    if f.type == "records" and isinstance(value, list):
        rows = []
        for row in value:
            if isinstance(row, dict):
                row = {k: (_parse_time(v) if (k == "at" or k.endswith("_at")) and v else v) for k, v in row.items()}
            rows.append(row)
        return rows
    if f.type == "choice" and value is None:
        return ""
    return value


def _message(error: ValidationError, f: Field | None, kind: str | None) -> str:
    what = {"minLength": 1, "pattern": 1, "minItems": 1, "required": 1}
    if error.validator in what:
        return f"Fill this in: the {kind} report needs it." if kind else "Fill this in."
    if error.validator == "maxLength":
        return f"At most {error.validator_value} characters."
    if error.validator == "maxItems":
        return f"At most {error.validator_value} items."
    if error.validator == "enum" and f is not None:
        return f"Choose one of: {', '.join(value for value, _ in f.choices)}."
    if error.validator == "additionalProperties":
        return "This is not a field of this report."
    if error.validator == "type":
        expected = {"string": "text", "boolean": "true or false", "array": "a list", "object": "an object",
                    "integer": "a whole number", "null": "nothing"}  # fmt: skip
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return "Give " + " or ".join(expected.get(w, w) for w in wanted) + "."
    return error.message[:300]


def field_errors(regime: str, fields: dict[str, Any], *, kind: str | None = None) -> dict[str, list[str]]:
    """{field: [messages]} of what the regime's schema refuses; with `kind`, also what a
    submission of that kind must fill in. Empty when all is well."""
    template = template_for(regime)
    validator = Draft202012Validator(json_schema(regime, kind=kind))
    errors: dict[str, list[str]] = {}
    for error in validator.iter_errors(fields):
        if error.validator == "required":
            names = [n for n in error.validator_value if n not in fields]
        elif error.validator == "additionalProperties":
            names = sorted(set(fields) - set(template.names))
        else:
            names = [str(error.absolute_path[0])] if error.absolute_path else ["fields"]
        for name in names:
            message = _message(error, template.field(name), kind)
            if message not in errors.setdefault(name, []):
                errors[name].append(message)
    return errors


def clean_fields(regime: str, changes: dict[str, Any]) -> dict[str, Any]:
    """The changes normalised and checked against the regime's shapes (DomainError with each field's message)."""
    template = template_for(regime)
    if not isinstance(changes, dict):
        raise DomainError.invalid_field("fields", "Give the fields as an object.")
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in changes.items():
        f = template.field(name)
        if f is None:
            errors[str(name)[:100]] = ["This is not a field of this report."]
            continue
        try:
            cleaned[name] = _normalise(f, value)
        except ValueError as error:
            errors[name] = [str(error)]
    for name, messages in field_errors(regime, cleaned).items():
        errors.setdefault(name, []).extend(messages)
    if errors:
        raise DomainError("Nothing was saved: check the fields marked.", fields=errors)
    return cleaned


def _check_text(name: str, value: Any, limit: int) -> str:
    value = value.strip() if isinstance(value, str) else ""
    if len(value) > limit:
        raise DomainError.invalid_field(name, f"At most {limit} characters.")
    return value


def _record(actor: Actor, event: ReportEvent, version: ReportVersion, incident: Incident, **kwargs: Any) -> None:
    ledger.record(actor=actor, verb=event, obj=version, incident_ref=incident.ref, **kwargs)


def _facts(report: Report, version: ReportVersion) -> dict[str, Any]:
    return {"regime": report.regime, "kind": version.kind, "version": version.number,
            "content_hash": version.content_hash}  # fmt: skip


# --- the writes ----------------------------------------------------------------------------------


@transaction.atomic
def report_start(*, actor: Actor, incident: Incident, regime: str, kind: str = "", reason: str = "") -> ReportVersion:
    """Start a draft: version 1 (the initial report) pre-filled from the incident, or version N+1
    (intermediate, amended or final) copied from the last submitted one with the incident's facts
    (milestones, corrections, decisions) brought up to date."""
    user = _user(actor)
    incident = _lock_incident(actor, incident)
    regime = _regime(regime)
    reason = _check_text("reason", reason, REASON_MAX)
    report = locks.lock_report(incident, regime)
    if report is None:
        report = Report.objects.create(incident=incident, regime=regime, created_by=user)
    latest = report.versions.order_by("-number").first()
    if latest is not None and not latest.is_submitted:
        raise DomainError(
            f"Version {latest.number} of the {regime} report is still a draft: edit or submit it first.",
            code="conflict",
        )
    if latest is None:
        if kind not in ("", ReportKind.INITIAL):
            raise DomainError.invalid_field("kind", "The first report of a regime is the initial report.")
        kind, fields = ReportKind.INITIAL, prefill(incident, regime)
    else:
        if kind not in LATER_KINDS:
            raise DomainError.invalid_field(
                "kind",
                f"Version {latest.number + 1} follows a submitted report: choose intermediate, amended or final.",
            )
        if kind == ReportKind.AMENDED and not reason:
            raise DomainError.invalid_field("reason", "Say what the amendment corrects.")
        facts = facts_of(incident)
        current = {name: facts[name] for name in (*REFRESHED, *(f"{m}_at" for m in MILESTONES))}
        fields = dict(latest.fields) | {k: v for k, v in current.items() if k in template_for(regime).names}
    version = ReportVersion.objects.create(
        report=report, number=(latest.number + 1) if latest else 1, kind=kind, fields=fields, reason=reason,
        schema_version=SCHEMA_VERSION, content_hash=records.content_hash(kind, fields), created_by=user,
    )  # fmt: skip
    _record(actor, ReportEvent.STARTED, version, incident, after=_facts(report, version), reason=reason)
    return version


@transaction.atomic
def report_save_draft(
    *,
    actor: Actor,
    incident: Incident,
    regime: str,
    fields: dict[str, Any] | None = None,
    kind: str = "",
    content_hash_seen: str = "",
    refresh_facts: bool = False,
) -> ReportVersion:
    """Save changes to the draft's fields (and its kind, after version 1). `content_hash_seen`
    (optional) is the hash the editor started from: if someone saved since, nothing is written.
    `refresh_facts` brings the corrections and decisions up to date from the incident."""
    incident = _lock_incident(actor, incident)
    report = _report_of(incident, regime)
    draft = _draft_of(report)
    if content_hash_seen and content_hash_seen != draft.content_hash:
        raise DomainError(STALE_CONTENT, code="conflict", fields={"content_hash": [STALE_CONTENT]})
    changes = clean_fields(report.regime, fields or {})
    if refresh_facts:
        facts = facts_of(incident)
        changes |= {name: facts[name] for name in REFRESHED}
    new_kind = kind or draft.kind
    if new_kind != draft.kind:
        allowed = (ReportKind.INITIAL,) if draft.number == 1 else LATER_KINDS
        if new_kind not in allowed:
            raise DomainError.invalid_field("kind", f"Version {draft.number} may be: {', '.join(allowed)}.")
    before = dict(draft.fields)
    after = before | changes
    new_hash = records.content_hash(new_kind, after)
    if new_hash == draft.content_hash:
        return draft
    old_kind = draft.kind
    draft.fields, draft.kind, draft.content_hash = after, new_kind, new_hash
    draft.save(update_fields=["fields", "kind", "content_hash", "updated_at"])
    changed = sorted(name for name in after if after.get(name) != before.get(name))
    old = {name: before.get(name) for name in changed if name not in REFRESHED}
    new = {name: after[name] for name in changed if name not in REFRESHED}
    if old_kind != new_kind:
        old["kind"], new["kind"] = old_kind, new_kind
    _record(actor, ReportEvent.DRAFT_SAVED, draft, incident, before=old,
            after=new | _facts(report, draft) | {"changed": changed})  # fmt: skip
    return draft


@transaction.atomic
def report_submit(
    *, actor: Actor, incident: Incident, regime: str, content_hash: str, channel: str, channel_reference: str = ""
) -> ReportVersion:
    """Freeze the draft the submitter read (its content hash) as submitted to the regulator through
    `channel`: from then on it never changes; its record is hashed and the hash ledgered. A second
    submit finds no draft (409): one submission makes one version."""
    user = _user(actor)
    incident = _lock_incident(actor, incident)
    report = _report_of(incident, regime)
    draft = _draft_of(report)
    if content_hash != draft.content_hash:
        raise DomainError(STALE_CONTENT, code="conflict", fields={"content_hash": [STALE_CONTENT]})
    if channel not in ReportChannel.values:
        raise DomainError.invalid_field("channel", f"Choose one of: {', '.join(ReportChannel.values)}.")
    channel_reference = _check_text("channel_reference", channel_reference, REFERENCE_MAX)
    if channel == ReportChannel.OTHER and not channel_reference:
        raise DomainError.invalid_field("channel_reference", "Say how it was sent.")
    errors = field_errors(report.regime, draft.fields, kind=draft.kind)
    if errors:
        raise DomainError(CHECK_FIELDS, fields=errors)
    draft.submitted_at = timezone.now()
    draft.submitted_by = user
    draft.channel = channel
    draft.channel_reference = channel_reference
    report.incident = incident
    draft.sha256 = records.sha256_of(records.version_record(report, draft))
    draft.save(update_fields=["submitted_at", "submitted_by", "channel", "channel_reference", "sha256", "updated_at"])
    _record(
        actor, ReportEvent.SUBMITTED, draft, incident,
        after=_facts(report, draft) | {"sha256": draft.sha256, "channel": channel,
                                        "channel_reference": channel_reference},
    )  # fmt: skip
    hooks.run_submitted(actor=actor, version=draft)
    return draft
