"""The incidents app's ledger verbs (incidents, the timeline, signals and registry configuration),
each with its phrase. The vocabulary machinery (LedgerVerb, the registry) is accounts.events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from accounts.events import LedgerVerb, register_verbs

if TYPE_CHECKING:
    from accounts.models import LedgerEvent


# --- incidents' verbs ----------------------------------------------------------------------------------


def _a(event: LedgerEvent, key: str, default: Any = "") -> Any:
    return (event.after or {}).get(key, default) if isinstance(event.after, dict) else default


def _b(event: LedgerEvent, key: str, default: Any = "") -> Any:
    return (event.before or {}).get(key, default) if isinstance(event.before, dict) else default


def _status(value: str) -> str:
    from incidents.models import Status

    return Status(value).label.lower() if value in Status.values else str(value)


def _role(event: LedgerEvent) -> str:
    return str(_a(event, "role")).replace("_", " ")


def _escalated(event: LedgerEvent) -> str:
    text = "escalated the incident"
    if _b(event, "severity") and _a(event, "severity") != _b(event, "severity"):
        text += f" to {_a(event, 'severity')}"
    if _a(event, "called_in"):
        text += f", calling in {str(_a(event, 'called_in')).replace('_', ' ')}"
    return text


def _assigned(event: LedgerEvent) -> str:
    parts = []
    if _a(event, "commander") and _a(event, "commander") != _b(event, "commander"):
        parts.append(f"made {_a(event, 'commander')} incident commander")
    if _a(event, "participants_added"):
        parts.append("added " + ", ".join(_a(event, "participants_added")))
    return " and ".join(parts) or "reviewed the assignments"


@register_verbs
class IncidentEvent(LedgerVerb):
    CREATED = (
        "incident.created",
        lambda e: (
            f"opened {'the DRILL ' if _a(e, 'is_drill') else ''}{e.incident_ref}: "
            f"“{_a(e, 'title')}”, {_a(e, 'severity')}"
        ),
    )
    UPDATED = "incident.updated", lambda e: "edited " + ", ".join(k.replace("_", " ") for k in (e.after or {}))
    SEVERITY_CHANGED = (
        "incident.severity_changed",
        lambda e: f"changed the severity from {_b(e, 'severity')} to {_a(e, 'severity')}",
    )
    STATUS_CHANGED = (
        "incident.status_changed",
        lambda e: f"moved the incident from {_status(_b(e, 'status'))} to {_status(_a(e, 'status'))}",
    )
    REOPENED = (
        "incident.reopened",
        lambda e: f"reopened the incident ({_status(_b(e, 'status'))} → {_status(_a(e, 'status'))})",
    )
    CLOSING_EXCEPTION_RECORDED = (
        "incident.closing_exception_recorded",
        lambda e: (
            f"recorded an exception to make the incident {_status(_a(e, 'status'))} despite: "
            + "; ".join(str(o.get("title", "")) for o in _a(e, "overrode", []) if isinstance(o, dict))
        ),
    )
    ESCALATED = "incident.escalated", _escalated
    ASSIGNED = "incident.assigned", _assigned
    ACCESS_GRANTED = (
        "incident.access_granted",
        lambda e: f"granted {_a(e, 'user')} access to this restricted incident",
    )
    ACCESS_REVOKED = (
        "incident.access_revoked",
        lambda e: f"revoked {_a(e, 'user')}'s access to this restricted incident",
    )
    CHECKLIST_ADDED = (
        "incident.checklist_added",
        lambda e: f"added {len(_a(e, 'steps', []))} steps to the checklist from {_a(e, 'source')}",
    )
    CHECKLIST_TICKED = (
        "incident.checklist_ticked",
        lambda e: f"ticked “{_a(e, 'step')}” on the checklist ({_a(e, 'progress')})",
    )
    NOTE_ADDED = "timeline.note_added", lambda e: "added a note"
    DECISION_RECORDED = "timeline.decision_recorded", lambda e: "recorded a decision"
    SIGNAL_RECEIVED = "signal.received"
    SIGNAL_FOLDED = "signal.folded", lambda e: f"saw the same signal again ({_a(e, 'occurrences')} times so far)"
    SIGNAL_PROMOTED = "signal.promoted", lambda e: "promoted a signal into this incident"
    SIGNAL_DISMISSED = "signal.dismissed"
    # Notifications (incidents.notifications, incidents.delivery, incidents.preferences).
    NOTIFICATION_RESENT = (
        "notification.resent",
        lambda e: f"resent a failed {_a(e, 'channel')} notification to {_a(e, 'recipient')}",
    )
    NOTIFICATION_PREFERENCES_CHANGED = (
        "notification.preferences_changed",
        lambda e: "changed their notification preferences",
    )
    SIGNAL_RESOLVED = "signal.resolved", lambda e: "its monitor reported the alert resolved"
    SIGNAL_REOPENED = (
        "signal.reopened",
        lambda e: f"its monitor reported the alert firing again ({_a(e, 'occurrences')} times so far)",
    )
    # Inbound monitoring integrations (incidents.integrations), managed by admins.
    INTEGRATION_CREATED = "integration.created", lambda e: f"created the integration {_a(e, 'name')}"
    INTEGRATION_ROTATED = "integration.rotated", lambda e: f"rotated the token of the integration {_a(e, 'name')}"
    INTEGRATION_REVOKED = "integration.revoked", lambda e: f"revoked the integration {_a(e, 'name')}"
    # A reminder of a deadline (incidents.reminders), with who got it.
    REMINDER_SENT = "reminder.sent", lambda e: f"reminded {', '.join(_a(e, 'to', [])) or 'nobody'}: {_a(e, 'what')}"
    # Registry configuration, edited in the admin (incidents.admin.RegistryAdmin): see registry_change.
    AIMODEL_CREATED = "registry.aimodel_created"
    AIMODEL_CHANGED = "registry.aimodel_changed"
    AIMODEL_DELETED = "registry.aimodel_deleted"
    MODELVERSION_CREATED = "registry.modelversion_created"
    MODELVERSION_CHANGED = "registry.modelversion_changed"
    MODELVERSION_DELETED = "registry.modelversion_deleted"
    DEPLOYMENT_CREATED = "registry.deployment_created"
    DEPLOYMENT_CHANGED = "registry.deployment_changed"
    DEPLOYMENT_DELETED = "registry.deployment_deleted"
    CUSTOMERACCOUNT_CREATED = "registry.customeraccount_created"
    CUSTOMERACCOUNT_CHANGED = "registry.customeraccount_changed"
    CUSTOMERACCOUNT_DELETED = "registry.customeraccount_deleted"
    CUSTOMERORGANISATION_CREATED = "registry.customerorganisation_created"
    CUSTOMERORGANISATION_CHANGED = "registry.customerorganisation_changed"
    CUSTOMERORGANISATION_DELETED = "registry.customerorganisation_deleted"
    AGREEMENT_CREATED = "registry.agreement_created"
    AGREEMENT_CHANGED = "registry.agreement_changed"
    AGREEMENT_DELETED = "registry.agreement_deleted"
    CONTACT_CREATED = "registry.contact_created"
    CONTACT_CHANGED = "registry.contact_changed"
    CONTACT_DELETED = "registry.contact_deleted"
    # Customers and their agreements (issue 13 §5): configuration, no incident.
    CUSTOMER_CREATED = "customer.created"
    CUSTOMER_AGREEMENT_CREATED = "customer.agreement_created"
    CUSTOMER_CONTACT_ADDED = "customer.contact_added"
    # The register of recipients incidents are shared with (incidents.sharing), edited in the admin.
    SHARINGRECIPIENT_CREATED = "registry.sharingrecipient_created"
    SHARINGRECIPIENT_CHANGED = "registry.sharingrecipient_changed"
    SHARINGRECIPIENT_DELETED = "registry.sharingrecipient_deleted"
    # On call (incidents.oncall): rotations and their overrides, and pages.
    ROTATION_CREATED = "oncall.rotation_created", lambda e: f"created the on-call rotation “{_a(e, 'name')}”"
    ROTATION_CHANGED = "oncall.rotation_changed", lambda e: "changed the on-call rotation"
    OVERRIDE_ADDED = "oncall.override_added", lambda e: f"put {_a(e, 'user')} on call ({_a(e, 'role')}) as an override"
    OVERRIDE_REMOVED = "oncall.override_removed", lambda e: f"removed {_b(e, 'user')}'s on-call override"
    PAGE_OPENED = "page.opened", lambda e: f"paged {_role(e)}: {', '.join(_a(e, 'paged', []))}"
    PAGE_ESCALATED = (
        "page.escalated",
        lambda e: f"re-paged {_role(e)} (nobody acknowledged): {', '.join(_a(e, 'paged', []))}",
    )
    PAGE_ACKNOWLEDGED = "page.acknowledged", lambda e: f"acknowledged the page to {_role(e)}"

    @classmethod
    def registry_change(cls, model_name: str, what: str) -> IncidentEvent:
        """The verb for an admin change to a registry model; ValueError for one not declared here."""
        return cls(f"registry.{model_name}_{what}")
