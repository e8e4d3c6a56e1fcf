"""The five roles. Each is a Django group, created by a migration."""

from enum import StrEnum


class Role(StrEnum):
    RESPONDER = "responder"
    INCIDENT_COMMANDER = "incident_commander"
    LEADERSHIP = "leadership"
    AUDITOR = "auditor"
    ADMIN = "admin"


ALL_ROLES = tuple(Role)
# Roles that may change incidents; the auditor only reads.
WRITER_ROLES = frozenset({Role.RESPONDER, Role.INCIDENT_COMMANDER, Role.LEADERSHIP, Role.ADMIN})
# Escalation calls in the next role up.
ESCALATION_LADDER = (Role.RESPONDER, Role.INCIDENT_COMMANDER, Role.LEADERSHIP)
# Who reads the whole audit trail and exports it; responders see each incident's own timeline.
AUDIT_ROLES = frozenset({Role.AUDITOR, Role.LEADERSHIP, Role.INCIDENT_COMMANDER, Role.ADMIN})
