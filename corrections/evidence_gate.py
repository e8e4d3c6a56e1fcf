"""The evidence gate (DESIGN §8, issue 13 §4): before a rollback, a capability restriction or a
shutdown on an incident whose reportability is not "no", the request carries an evidence
snapshot (a file attached to the incident) or a reasoned override. Break glass too: an override
reason is enough there, as anywhere.

Whether an incident's reportability is "no" is incidents.reportability's hook (the assessments
answer it; until they do, every incident is possibly reportable).
"""

from __future__ import annotations

from typing import Any

from config.errors import DomainError
from corrections.catalogue import CorrectionType
from incidents.models import Evidence, Incident
from incidents.reportability import reportability_is_no

# The catalogue's families the gate covers (a correction type joins by its family).
GATED_FAMILIES = frozenset({"capability restriction", "rollback", "shutdown"})
OVERRIDE_MIN = 20
OVERRIDE_MAX = 20000
NEEDED = (
    "This incident may be reportable to a regulator: before a rollback, a capability restriction or a "
    "shutdown, choose an evidence snapshot attached to it, or say why it must go ahead without one."
)


def is_gated(ctype: CorrectionType) -> bool:
    return ctype.family in GATED_FAMILIES


def needs_evidence(ctype: CorrectionType, incident: Incident) -> bool:
    return is_gated(ctype) and not reportability_is_no(incident)


def evidence_check(
    *, ctype: CorrectionType, incident: Incident, evidence_id: Any, override: Any
) -> tuple[Evidence | None, str]:
    """The evidence and override to record on the request; DomainError if the gate is not met.
    Evidence given where the gate does not apply is still checked and recorded."""
    if override is None:
        override = ""
    if not isinstance(override, str):
        raise DomainError.invalid_field("evidence_override", "Give the reason as text.")
    override = override.strip()
    if len(override) > OVERRIDE_MAX:
        raise DomainError.invalid_field("evidence_override", f"At most {OVERRIDE_MAX} characters.")
    evidence = None
    if evidence_id not in (None, ""):
        if isinstance(evidence_id, bool) or not isinstance(evidence_id, int) or not 0 < evidence_id < 2**63:
            raise DomainError.invalid_field("evidence_id", "Give the id of an evidence file of this incident.")
        evidence = Evidence.objects.filter(pk=evidence_id, incident=incident).first()
        if evidence is None:
            raise DomainError.invalid_field("evidence_id", "Choose evidence attached to this incident.")
    if evidence is not None or not needs_evidence(ctype, incident):
        return evidence, override
    if not override:
        raise DomainError(NEEDED, code="invalid", fields={"evidence_id": [NEEDED]})
    if len(override) < OVERRIDE_MIN:
        raise DomainError.invalid_field(
            "evidence_override",
            f"Give a reason of at least {OVERRIDE_MIN} characters for going ahead without an evidence snapshot.",
        )
    return evidence, override


def evidence_record(evidence: Evidence | None, override: str) -> dict[str, Any]:
    """What the request's ledger event says about it."""
    snapshot = {"id": evidence.pk, "name": evidence.name, "sha256": evidence.sha256} if evidence else None
    return {"evidence": snapshot, "evidence_override": override}
