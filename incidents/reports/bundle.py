"""The regulator bundle's "reports" section (incidents.audit registers it from ready()): every
submitted version with its record and SHA-256, each verified twice — the record re-hashed, and
the hash compared with the one the ledger's `report.submitted` event holds (the ledger slice of
the same bundle verifies that event's own hash). Drafts are not in the bundle: nothing was sent.
"""

from __future__ import annotations

from typing import Any

from accounts.models import LedgerEvent
from incidents.models import Incident
from incidents.models.reports import ReportVersion
from incidents.reports import records
from incidents.reports.events import ReportEvent


def verify_versions(incident: Incident, versions: list[ReportVersion]) -> list[dict[str, Any]]:
    """Each submitted version's record with its verification (two queries for any number)."""
    ledgered = {
        str(event.object_id): (event.seq, (event.after or {}).get("sha256"))
        for event in LedgerEvent.objects.filter(incident_ref=incident.ref, verb=ReportEvent.SUBMITTED).only(
            "seq", "object_id", "after"
        )
    }
    rows = []
    for version in versions:
        record = records.version_record(version.report, version)
        seq, ledger_hash = ledgered.get(str(version.pk), (None, None))
        rows.append({
            "record": record,
            "sha256": version.sha256,
            "hash_ok": records.sha256_of(record) == version.sha256,
            "ledger_seq": seq,
            "ledger_hash_matches": ledger_hash == version.sha256,
        })  # fmt: skip
    return rows


def reports_for_bundle(incident: Incident) -> dict[str, Any]:
    versions = list(
        ReportVersion.objects.filter(report__incident=incident, submitted_at__isnull=False)
        .select_related("report", "submitted_by")
        .order_by("report__regime", "number")
    )
    for version in versions:
        version.report.incident = incident
    rows = verify_versions(incident, versions)
    return {
        "hash_rule": records.HASH_RULE,
        "all_verified": all(r["hash_ok"] and r["ledger_hash_matches"] for r in rows),
        "versions": rows,
    }
