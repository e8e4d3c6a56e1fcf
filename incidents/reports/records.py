"""The submitted record of a report version: what the regulator got, as canonical JSON, and its
SHA-256. The JSON export, the printable page and the regulator bundle all show this record; the
bundle re-computes each hash and compares it with the one in the ledger's `report.submitted`
event, so a version is verified against the hash chain as well as against itself.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from accounts import ledger
from incidents.models.reports import Report, ReportVersion
from incidents.reports.regimes import template_for

RECORD_FORMAT = "failsafe-regulator-report/1"
HASH_RULE = (
    "sha256 = SHA-256 of the UTF-8 JSON of `record` with keys sorted, separators (',', ':') and "
    "non-ASCII characters kept"
)


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_of(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


def content_hash(kind: str, fields: dict[str, Any]) -> str:
    """What a submitter read: the kind and the fields. Any edit changes it."""
    return sha256_of({"kind": kind, "fields": fields})


def version_record(report: Report, version: ReportVersion) -> dict[str, Any]:
    """The record as submitted (or, for a draft, as it would be: no submission facts yet)."""
    template = template_for(report.regime)
    return {
        "format": RECORD_FORMAT,
        "schema_version": version.schema_version,
        "incident": report.incident.ref,
        "regime": report.regime,
        "regulator": template.regulator,
        "title": template.title,
        "version": version.number,
        "kind": version.kind,
        "reason": version.reason,
        "fields": version.fields,
        "submitted_at": ledger.format_time(version.submitted_at) if version.submitted_at else None,
        "submitted_by": version.submitted_by.username if version.submitted_by_id else None,
        "channel": version.channel,
        "channel_reference": version.channel_reference,
    }


def version_document(report: Report, version: ReportVersion) -> dict[str, Any]:
    """The JSON export of one version: the record, its hash and how to check it."""
    record = version_record(report, version)
    return {
        "record": record,
        "sha256": version.sha256 or None,
        "hash_rule": HASH_RULE,
        "hash_ok": (sha256_of(record) == version.sha256) if version.is_submitted else None,
    }
