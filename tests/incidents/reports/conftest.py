"""Fixtures for regulator reports: a SEV1 weight-exfiltration incident with its people, and a
shortcut that fills in what the GPAI code's initial report needs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.roles import Role
from incidents import services as incident_services
from incidents.models import Incident

GPAI = "eu_gpai_code"
GPAI_INITIAL = {
    "incident_type": "cybersecurity_breach",
    "harm_and_affected": "Model weights copied out of the training cluster.",
    "chain_of_events": "Stolen credential, then a bulk copy.",
    "evidence_of_involvement": "Access logs of the weight store.",
    "actions": "Rotated credentials; paused the deployment.",
    "recommendations": "Watch for the weights being served elsewhere.",
    "submitter_contact": "Safety team, safety@example.test",
}


@pytest.fixture
def people(make_user):
    return {
        "reporter": make_user(Role.RESPONDER, username="reporter"),
        "commander": make_user(Role.INCIDENT_COMMANDER, username="commander"),
        "responder": make_user(Role.RESPONDER, username="responder"),
        "leader": make_user(Role.LEADERSHIP, username="leader"),
        "auditor": make_user(Role.AUDITOR, username="auditor"),
    }


@pytest.fixture
def exfiltration(make_incident, people, actor_for):
    """A SEV1 weight-exfiltration incident with its commander, a decision, and detected/contained times."""

    def make(*, restricted: bool = False, **fields) -> Incident:
        now = timezone.now()
        defaults = {
            "title": "Weights exfiltrated", "summary": "An attacker copied the model weights.", "risk_domain": "cyber",
            "occurred_at": now - timedelta(hours=5), "detected_at": now - timedelta(hours=4),
        }  # fmt: skip
        incident = make_incident(by=people["reporter"], severity="SEV1", restricted=restricted, **(defaults | fields))
        commander = actor_for(people["commander"])
        if restricted:
            incident_services.incident_grant_access(
                actor=actor_for(people["leader"]), incident=incident, user=people["commander"], reason="commands it"
            )
        incident_services.incident_assign(actor=commander, incident=incident, commander=people["commander"])
        incident_services.timeline_entry_add(
            actor=commander, incident=incident, kind="decision", body="Rotate every credential",
            rationale="The stolen one may not be the only one.",
        )  # fmt: skip
        return Incident.objects.get(pk=incident.pk)

    return make
