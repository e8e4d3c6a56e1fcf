"""The regulator bundle and the history page gain what each customer was told about each
correction: the notice as drafted or sent, to which addresses, by whom and when."""

from __future__ import annotations

from typing import Any

from accounts import ledger
from corrections.models import CustomerNotice
from incidents import audit
from incidents.models import Incident


def _time(value) -> str | None:
    return ledger.format_time(value) if value is not None else None


def notices_for_bundle(incident: Incident) -> list[dict[str, Any]]:
    rows = CustomerNotice.objects.filter(correction__incident=incident).select_related(
        "correction", "organisation", "edited_by", "sent_by"
    )
    return [
        {"correction": n.correction_id, "correction_type": n.correction.type, "customer": n.organisation.name,
         "agreement": n.agreement_id, "term": n.term, "subject": n.subject, "body": n.body, "state": n.state,
         "recipients": n.recipients, "edited_by": n.edited_by.username if n.edited_by else None,
         "edited_at": _time(n.edited_at), "sent_by": n.sent_by.username if n.sent_by else None,
         "sent_at": _time(n.sent_at)}
        for n in rows.order_by("correction_id", "organisation__name", "id")
    ]  # fmt: skip


def register() -> None:
    audit.register_section(
        audit.AuditSection(
            key="customer_notices", title="Customer notices", build=notices_for_bundle,
            template="corrections/notices_audit_section.html",
        )
    )  # fmt: skip
