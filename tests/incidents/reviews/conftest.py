"""Fixtures for post-incident reviews: a resolved incident with its people, and shortcuts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.roles import Role
from incidents import services as incident_services
from incidents.models import Incident
from incidents.reviews import services


@pytest.fixture
def people(make_user):
    return {
        "reporter": make_user(Role.RESPONDER, username="reporter"),
        "commander": make_user(Role.INCIDENT_COMMANDER, username="commander"),
        "other_commander": make_user(Role.INCIDENT_COMMANDER, username="othercmd"),
        "participant": make_user(Role.RESPONDER, username="participant"),
        "outsider": make_user(Role.RESPONDER, username="outsider"),
        "leader": make_user(Role.LEADERSHIP, username="leader"),
        "leader2": make_user(Role.LEADERSHIP, username="leader2"),
        "auditor": make_user(Role.AUDITOR, username="auditor"),
    }


@pytest.fixture
def resolved_incident(make_incident, people, actor_for):
    """An incident moved to resolved by its commander, with one participant beside the reporter."""

    def make(*, severity: str = "SEV3", restricted: bool = False, **fields) -> Incident:
        incident = make_incident(by=people["reporter"], severity=severity, restricted=restricted, **fields)
        commander = actor_for(people["commander"])
        if restricted:  # leadership sees it all and lets the commander in
            incident_services.incident_grant_access(
                actor=actor_for(people["leader"]), incident=incident, user=people["commander"], reason="commands it"
            )
        incident_services.incident_assign(
            actor=commander, incident=incident, commander=people["commander"], add_participants=[people["participant"]]
        )
        incident_services.timeline_entry_add(
            actor=actor_for(people["participant"]), incident=incident, kind="note", body="Classifier caught it."
        )
        for status in ("responding", "resolved"):
            incident_services.incident_edit(actor=commander, incident=incident, changes={"status": status}, reason="r")
        return Incident.objects.get(pk=incident.pk)

    return make


@pytest.fixture
def draft_of(actor_for, people):
    """A started review with some words in its draft; returns the draft version."""

    def make(incident: Incident, *, by=None, **sections):
        by = by or people["participant"]
        services.review_start(actor=actor_for(by), incident=incident)
        return services.review_save_draft(
            actor=actor_for(by), incident=incident, sections={"summary": "What happened.", **sections}
        )

    return make


def days_ago(n: int):
    return timezone.localdate() - timedelta(days=n)


@pytest.fixture(autouse=True)
def follow_ups_planned_weeks_ago(request, monkeypatch):
    """Most tests need overdue follow-ups: as if they were planned 60 days ago (a new one may not be due in
    the past). Tests marked `real_today` see the real date."""
    if request.node.get_closest_marker("real_today") is None:
        monkeypatch.setattr(services, "_today", lambda: days_ago(60))
