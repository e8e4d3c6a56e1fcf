"""The webhook bodies monitoring systems send, parsed into Alerts (plain data, one per signal).

Alertmanager's webhook (version 4) and Grafana's unified-alerting webhook share one shape:
`{"version", "status", "alerts": [{"status", "labels", "annotations", "startsAt", "endsAt",
"fingerprint", "generatorURL", …}], "groupLabels", "commonLabels", "externalURL", …}`; Grafana adds
`dashboardURL`, `panelURL`, `silenceURL`, `valueString`/`values` per alert. Keys we do not read are
accepted (these are other people's formats and grow); the ones we read are checked for type and
size, and a mistake is a 400 naming the field, e.g. `alerts[2].status`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from config.errors import DomainError
from config.times import in_utc
from incidents.models import Severity
from incidents.models.integrations import IntegrationKind

MAX_ALERTS = 200  # Alertmanager's own `max_alerts` should stay below this; the body is capped at 1 MiB
MAX_LABELS = 64
LABEL_MAX = 1000
ANNOTATION_MAX = 10000
URL_MAX = 2000
TITLE_MAX = 200
DETAIL_MAX = 20000
FINGERPRINT = re.compile(r"^[0-9A-Za-z_.:-]{1,128}\Z")
# What a monitor's `severity` label means here; anything else falls back to the integration's default.
SEVERITY_LABELS = {
    "critical": Severity.SEV2,
    "high": Severity.SEV2,
    "error": Severity.SEV3,
    "warning": Severity.SEV3,
    "medium": Severity.SEV3,
    "info": Severity.SEV4,
    "low": Severity.SEV4,
    **{s.value.lower(): s for s in Severity},
}
# The format version each kind sends (absent is accepted).
VERSIONS = {IntegrationKind.ALERTMANAGER: "4", IntegrationKind.GRAFANA: "1"}


@dataclass(frozen=True)
class Alert:
    fingerprint: str  # empty: no dedup (a generic post without a dedup_key)
    firing: bool
    title: str
    detail: str
    labels: Mapping[str, str]
    starts_at: datetime | None
    ends_at: datetime | None
    link: str
    severity_hint: str  # a Severity value, or "" for the integration's default
    deployment_slug: str


class _Errors:
    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.fields.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self.fields:
            raise DomainError("Invalid webhook body.", code="invalid", fields=self.fields)


def _text(errors: _Errors, data: Mapping[str, Any], key: str, path: str, *, limit: int, required: bool = False) -> str:
    value = data.get(key)
    if value is None:
        if required:
            errors.add(path, "This field is required.")
        return ""
    if not isinstance(value, str):
        errors.add(path, "Not a valid string.")
        return ""
    if len(value) > limit:
        errors.add(path, f"At most {limit} characters.")
        return ""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        errors.add(path, "Not valid UTF-8 text.")
        return ""
    return value


def _strings(errors: _Errors, data: Mapping[str, Any], key: str, path: str, *, limit: int) -> dict[str, str]:
    value = data.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        errors.add(path, "Expected an object of strings.")
        return {}
    if len(value) > MAX_LABELS:
        errors.add(path, f"At most {MAX_LABELS} entries.")
        return {}
    out = {}
    for name in value:
        text = _text(errors, value, name, f"{path}.{name}"[:200], limit=limit)
        if len(name) > 200:
            errors.add(path, "A name is longer than 200 characters.")
        out[name] = text
    return out


def _time(errors: _Errors, data: Mapping[str, Any], key: str, path: str) -> datetime | None:
    raw = _text(errors, data, key, path, limit=64)
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        errors.add(path, "Not an RFC 3339 time with a time zone.")
        return None
    if value.year < 1970:
        return None  # "0001-01-01T00:00:00Z" means "not yet"
    try:
        return in_utc(value)
    except ValueError as error:
        errors.add(path, str(error))
        return None


def _status(errors: _Errors, data: Mapping[str, Any], path: str, *, default: str | None = None) -> bool:
    value = data.get("status", default)
    if value not in ("firing", "resolved"):
        errors.add(path, "Expected “firing” or “resolved”.")
        return True
    return bool(value == "firing")


def _fingerprint(errors: _Errors, alert: Mapping[str, Any], path: str, labels: Mapping[str, str]) -> str:
    given = _text(errors, alert, "fingerprint", path, limit=128)
    if given and not FINGERPRINT.match(given):
        errors.add(path, "Letters, digits, “_.:-” only.")
    if given:
        return given
    # Older senders omit it; Alertmanager's own is a hash of the label set, so is this one.
    return hashlib.sha256(json.dumps(sorted(labels.items())).encode()).hexdigest()[:16]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _detail(labels: Mapping[str, str], annotations: Mapping[str, str], extra: list[tuple[str, str]]) -> str:
    lines = []
    if annotations.get("description"):
        lines += [annotations["description"], ""]
    lines += [
        f"{name}: {value}" for name, value in sorted(annotations.items()) if name not in ("summary", "description")
    ]
    lines += [f"label {name}={value}" for name, value in sorted(labels.items())]
    lines += [f"{name}: {value}" for name, value in extra if value]
    return _clip("\n".join(lines).strip(), DETAIL_MAX)


def parse_webhook(kind: str, body: Any) -> list[Alert]:
    """The alerts of an Alertmanager (version 4) or Grafana webhook body; DomainError if malformed."""
    errors = _Errors()
    if not isinstance(body, Mapping):
        raise DomainError("Invalid webhook body.", fields={"non_field_errors": ["Expected a JSON object."]})
    version = body.get("version")
    expected = VERSIONS.get(IntegrationKind(kind))
    if version is not None and version != expected:
        errors.add("version", f"Only version {expected} of this webhook format is understood.")
    _status(errors, body, "status")
    raw_alerts = body.get("alerts")
    if not isinstance(raw_alerts, list) or not raw_alerts:
        errors.add("alerts", "Expected a non-empty list of alerts.")
        errors.raise_if_any()
        return []
    if len(raw_alerts) > MAX_ALERTS:
        errors.add("alerts", f"At most {MAX_ALERTS} alerts per delivery; lower the sender's max_alerts.")
        errors.raise_if_any()
    alerts = []
    for n, raw in enumerate(raw_alerts):
        path = f"alerts[{n}]"
        if not isinstance(raw, Mapping):
            errors.add(path, "Expected an object.")
            continue
        firing = _status(errors, raw, f"{path}.status")
        labels = _strings(errors, raw, "labels", f"{path}.labels", limit=LABEL_MAX)
        annotations = _strings(errors, raw, "annotations", f"{path}.annotations", limit=ANNOTATION_MAX)
        starts_at = _time(errors, raw, "startsAt", f"{path}.startsAt")
        ends_at = _time(errors, raw, "endsAt", f"{path}.endsAt")
        links = {key: _text(errors, raw, key, f"{path}.{key}", limit=URL_MAX)
                 for key in ("generatorURL", "dashboardURL", "panelURL", "silenceURL")}  # fmt: skip
        value_string = _text(errors, raw, "valueString", f"{path}.valueString", limit=ANNOTATION_MAX)
        fingerprint = _fingerprint(errors, raw, f"{path}.fingerprint", labels)
        if not labels.get("alertname") and not annotations.get("summary"):
            errors.add(f"{path}.labels", "An alert needs a labels.alertname or an annotations.summary.")
        title = annotations.get("summary") or labels.get("alertname", "")
        link = next((url for url in links.values() if url.startswith(("https://", "http://"))), "")
        alerts.append(
            Alert(
                fingerprint=fingerprint,
                firing=firing,
                title=_clip(title.strip(), TITLE_MAX),
                detail=_detail(labels, annotations, [("value", value_string), *links.items()]),
                labels=labels,
                starts_at=starts_at,
                ends_at=ends_at,
                link=link,
                severity_hint=SEVERITY_LABELS.get(labels.get("severity", "").lower(), ""),
                deployment_slug=labels.get("deployment", ""),
            )
        )
    errors.raise_if_any()
    return alerts


GENERIC_FIELDS = {"title", "detail", "severity_hint", "deployment", "dedup_key", "status", "link", "started_at"}


def parse_generic(body: Any) -> Alert:
    """The generic signal shape (as POST /api/v1/signals/, plus `status`, `link`, `started_at`):
    `dedup_key` plays the fingerprint; without one every post is a new signal."""
    errors = _Errors()
    if not isinstance(body, Mapping):
        raise DomainError("Invalid signal.", fields={"non_field_errors": ["Expected a JSON object."]})
    for unknown in sorted(set(body) - GENERIC_FIELDS):
        errors.add(str(unknown)[:200], "Unknown field.")
    title = _text(errors, body, "title", "title", limit=TITLE_MAX, required=True)
    if "title" in body and not title.strip() and "title" not in errors.fields:
        errors.add("title", "This field may not be blank.")
    detail = _text(errors, body, "detail", "detail", limit=DETAIL_MAX)
    hint = _text(errors, body, "severity_hint", "severity_hint", limit=4)
    if hint and hint not in Severity.values:
        errors.add("severity_hint", f"Expected one of {', '.join(Severity.values)} or blank.")
    deployment = _text(errors, body, "deployment", "deployment", limit=100)
    dedup_key = _text(errors, body, "dedup_key", "dedup_key", limit=128)
    if dedup_key and not FINGERPRINT.match(dedup_key):
        errors.add("dedup_key", "Letters, digits, “_.:-” only.")
    firing = _status(errors, body, "status", default="firing")
    if not firing and not dedup_key:
        errors.add("dedup_key", "A resolved signal needs the dedup_key it fired with.")
    link = _text(errors, body, "link", "link", limit=URL_MAX)
    if link and not link.startswith(("https://", "http://")):
        errors.add("link", "Expected an http(s) URL.")
    started_at = _time(errors, body, "started_at", "started_at")
    errors.raise_if_any()
    return Alert(
        fingerprint=dedup_key, firing=firing, title=title.strip(), detail=detail, labels={},
        starts_at=started_at, ends_at=None, link=link, severity_hint=hint, deployment_slug=deployment,
    )  # fmt: skip
