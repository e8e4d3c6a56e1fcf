"""The regulator bundle and the history page gain each evidence file's hash (never the file) and
each share (who, to whom, at which TLP, which fields, the hashes of what was sent)."""

from __future__ import annotations

from typing import Any

from accounts import ledger
from incidents import audit
from incidents.models import Evidence, Incident, Share


def evidence_for_bundle(incident: Incident) -> list[dict[str, Any]]:
    return [
        {"id": e.pk, "name": e.name, "description": e.description, "kind": e.kind, "content_type": e.content_type,
         "size": e.size, "sha256": e.sha256, "uploaded_by": e.uploaded_by.username,
         "uploaded_at": ledger.format_time(e.uploaded_at)}
        for e in Evidence.objects.filter(incident=incident).select_related("uploaded_by").order_by("uploaded_at", "id")
    ]  # fmt: skip


def shares_for_bundle(incident: Incident) -> list[dict[str, Any]]:
    rows = Share.objects.filter(incident=incident).select_related("recipient", "shared_by").defer("package", "stix")
    return [
        {"id": s.pk, "share_id": str(s.uid), "recipient": s.recipient.name, "recipient_kind": s.recipient.kind,
         "tlp": s.tlp, "fields": s.fields, "purpose": s.purpose, "package_sha256": s.package_sha256,
         "stix_sha256": s.stix_sha256, "shared_by": s.shared_by.username,
         "shared_at": ledger.format_time(s.shared_at)}
        for s in rows.order_by("shared_at", "id")
    ]  # fmt: skip


def register() -> None:
    audit.register_section(
        audit.AuditSection(
            key="evidence", title="Evidence (hashes)", build=evidence_for_bundle,
            template="incidents/evidence/audit_section.html",
        )
    )  # fmt: skip
    audit.register_section(
        audit.AuditSection(
            key="shares", title="Information shared", build=shares_for_bundle,
            template="incidents/sharing/audit_section.html",
        )
    )  # fmt: skip
