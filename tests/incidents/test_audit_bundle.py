"""The regulator bundle writes every time in one form: the ledger's canonical
YYYY-MM-DDTHH:MM:SS.ffffffZ (accounts.ledger.format_time)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts import ledger
from accounts.roles import Role
from corrections import services as corrections
from incidents import audit, services
from incidents.audit import sections

CANONICAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
# Anything that starts like a date and time, in whatever form.
LOOKS_LIKE_A_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _times(value: Any, path: str = "", key: str = "") -> list[tuple[str, str]]:
    """(path, text) of every time in the bundle, except inside ledger events' before/after, which
    are reproduced as recorded because the hash covers them."""
    if re.fullmatch(r"ledger\.events\.\d+\.(before|after)", path):
        return []
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _times(v, f"{path}.{k}".lstrip("."), k)]
    if isinstance(value, list):
        return [t for i, v in enumerate(value) for t in _times(v, f"{path}.{i}", key)]
    if isinstance(value, str) and (LOOKS_LIKE_A_TIME.match(value) or key == "at" or key.endswith("_at")):
        return [(path, value)]
    return []


@pytest.fixture
def incident_with_a_rejected_correction(make_user, make_incident, actor_for):
    incident = make_incident(severity="SEV1")
    services.timeline_entry_add(
        actor=actor_for(make_user(Role.INCIDENT_COMMANDER)), incident=incident, kind="note", body="Seen at 09:00",
        occurred_at=datetime.now(UTC) - timedelta(hours=2),
    )  # fmt: skip
    correction = corrections.correction_request(
        actor=actor_for(make_user(Role.RESPONDER)), incident=incident, type="pause_deployment",
        deployment="atlas-chat", params={}, rationale="Stop the harm",
    )  # fmt: skip
    corrections.correction_reject(
        actor=actor_for(make_user(Role.LEADERSHIP)), correction=correction, comment="Too broad"
    )
    return incident


def test_every_time_in_a_bundle_is_in_the_ledgers_canonical_form(make_user, incident_with_a_rejected_correction):
    client = APIClient()
    client.force_authenticate(make_user(Role.AUDITOR))
    bundle = client.get(f"/api/v1/incidents/{incident_with_a_rejected_correction.ref}/bundle/").json()

    times = _times(bundle)

    # The walk reaches the bundle's own times, the ledger slice's and the corrections section's.
    paths = {path for path, _ in times}
    assert {"generated_at", "incident.milestones.reported", "timeline.0.occurred_at", "ledger.events.0.at"} <= paths
    assert {"corrections.0.requested_at", "corrections.0.approvals.0.at"} <= paths
    assert [(path, text) for path, text in times if not CANONICAL.fullmatch(text)] == []


def test_a_sections_times_are_written_canonically_and_its_other_text_is_left_alone(
    make_user, make_incident, monkeypatch
):
    incident = make_incident()
    monkeypatch.setattr(sections, "_SECTIONS", {})
    at = datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=UTC)
    data = {"started_at": at.isoformat(), "at": at, "comment": at.isoformat(), "local_at": "2026-03-04T05:06:07"}
    audit.register_section(audit.AuditSection(key="probe", title="Probe", build=lambda incident: [data]))

    (section,) = audit.incident_bundle(user=make_user(Role.AUDITOR), ref=incident.ref)["probe"]

    assert section == {
        "started_at": "2026-03-04T05:06:07.000890Z",
        "at": ledger.format_time(at),
        "comment": "2026-03-04T05:06:07.000890+00:00",  # not a time field: someone's words
        "local_at": "2026-03-04T05:06:07",  # no zone: not ours to guess
    }
