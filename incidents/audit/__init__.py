"""Reads for auditors (DESIGN §6, §7): the ledger as each user may see it, its exports, an
incident's history told as a narrative, and the regulator bundle.

    access     who may audit, which events and incidents they see, restricted-incident grants
    filters    the one FilterSet of the event list, its API and the exports
    listing    which events the user may see, filtered
    exports    JSON Lines and CSV, verified while streaming
    narrative  events as sentences and diffs; an incident's history
    sections   parts of the record other apps add (corrections)
    bundle     the regulator bundle
    views, forms, urls: the auditor pages at /audit/ (the API is incidents.api.audit)

Other apps extend the history page and the bundle without this package importing them:

    from incidents import audit
    audit.register_section(audit.AuditSection(key="corrections", title="Corrections",
                                              build=corrections_for_bundle,
                                              template="corrections/audit_section.html"))
    audit.register_phrase("correction.approved", lambda event: "approved a correction")

(call both from the app's AppConfig.ready()). Callers import from here; the modules are the
package's own layout.
"""

from incidents.audit.access import (
    AUDIT_ROLES,
    access_grants_for,
    audited_incidents_for,
    can_audit,
    grant_candidates_for,
    visible_events_q,
)
from incidents.audit.bundle import BUNDLE_FORMAT, incident_bundle
from incidents.audit.exports import CSV_COLUMNS, EXPORT_FIELDS, EXPORT_FORMAT, HASH_RULE, export_csv, export_jsonl
from incidents.audit.filters import AuditEventFilter
from incidents.audit.listing import events_for, known_verbs
from incidents.audit.narrative import (
    DiffLine,
    IncidentHistory,
    NarrativeItem,
    describe,
    event_diff,
    incident_history_for,
    narrate,
    register_phrase,
    registered_verbs,
)
from incidents.audit.sections import AuditSection, register_section, registered_sections

__all__ = [
    "AUDIT_ROLES",
    "BUNDLE_FORMAT",
    "CSV_COLUMNS",
    "EXPORT_FIELDS",
    "EXPORT_FORMAT",
    "HASH_RULE",
    "AuditEventFilter",
    "AuditSection",
    "DiffLine",
    "IncidentHistory",
    "NarrativeItem",
    "access_grants_for",
    "audited_incidents_for",
    "can_audit",
    "describe",
    "event_diff",
    "events_for",
    "export_csv",
    "export_jsonl",
    "grant_candidates_for",
    "incident_bundle",
    "incident_history_for",
    "known_verbs",
    "narrate",
    "register_phrase",
    "register_section",
    "registered_sections",
    "registered_verbs",
    "visible_events_q",
]
