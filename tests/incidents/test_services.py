import pytest
from django.core import mail

from accounts.actor import Actor
from accounts.models import LedgerEvent
from accounts.roles import Role
from config.errors import DomainError
from incidents import services
from incidents.models import Signal, TimelineEntry


@pytest.fixture
def leaders(make_user):
    return [make_user(Role.LEADERSHIP), make_user(Role.LEADERSHIP)]


def test_a_sev1_incident_emails_every_leadership_member(
    make_incident, leaders, django_capture_on_commit_callbacks, task_sends, deliver_notifications
):
    with django_capture_on_commit_callbacks(execute=True):
        incident = make_incident(severity="SEV1")
    deliver_notifications()
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in leaders)
    assert all(incident.ref in m.subject for m in mail.outbox)


def test_escalation_calls_in_commanders_first_then_leadership(
    make_incident, make_user, actor_for, leaders, django_capture_on_commit_callbacks, task_sends, deliver_notifications
):
    responder, commander = make_user(Role.RESPONDER), make_user(Role.INCIDENT_COMMANDER)
    incident = make_incident(by=responder)
    with django_capture_on_commit_callbacks(execute=True):
        services.incident_escalate(actor=actor_for(responder), incident=incident, reason="Getting worse.")
    deliver_notifications()
    assert [m.to[0] for m in mail.outbox] == [commander.email]
    services.incident_assign(actor=actor_for(commander), incident=incident, commander=commander)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.incident_escalate(
            actor=actor_for(commander), incident=incident, reason="Need a call.", severity="SEV2"
        )
    deliver_notifications()
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in leaders)
    event = LedgerEvent.objects.filter(verb="incident.escalated").last()
    assert event.after["called_in"] == "leadership" and event.after["severity"] == "SEV2"


def test_escalation_never_lowers_severity(make_incident, make_user, actor_for):
    incident = make_incident(severity="SEV2")
    with pytest.raises(DomainError) as err:
        services.incident_escalate(actor=actor_for(make_user()), incident=incident, reason="x", severity="SEV4")
    assert "severity" in err.value.fields


def test_changing_severity_or_status_needs_a_reason_and_writes_nothing_without(make_incident, make_user, actor_for):
    incident = make_incident()
    events = LedgerEvent.objects.count()
    for change in ({"severity": "SEV1"}, {"status": "triaged"}):
        with pytest.raises(DomainError) as err:
            services.incident_edit(actor=actor_for(make_user()), incident=incident, changes=change, reason=" ")
        assert "reason" in err.value.fields
    incident.refresh_from_db()
    assert (incident.severity, incident.status) == ("SEV3", "reported")
    assert LedgerEvent.objects.count() == events


def test_status_follows_the_lifecycle_and_stamps_milestones(make_incident, make_user, actor_for):
    commander = make_user(Role.INCIDENT_COMMANDER)
    incident = make_incident()
    with pytest.raises(DomainError) as err:
        services.incident_edit(actor=actor_for(commander), incident=incident, changes={"status": "closed"}, reason="x")
    assert err.value.code == "conflict"
    for status in ("triaged", "responding", "contained", "resolved"):
        incident = services.incident_edit(
            actor=actor_for(commander), incident=incident, changes={"status": status}, reason="next"
        )
    assert incident.acknowledged_at and incident.contained_at and incident.resolved_at
    assert incident.acknowledged_at <= incident.contained_at <= incident.resolved_at


def test_a_responder_may_not_declare_resolution(make_incident, make_user, actor_for):
    responder = make_user(Role.RESPONDER)
    incident = make_incident(by=responder)
    services.incident_edit(actor=actor_for(responder), incident=incident, changes={"status": "responding"}, reason="x")
    with pytest.raises(DomainError) as err:
        services.incident_edit(actor=actor_for(responder), incident=incident, changes={"status": "resolved"},
                               reason="x")  # fmt: skip
    assert err.value.code == "forbidden"


def test_auditor_can_change_nothing(make_incident, make_user, actor_for):
    auditor = make_user(Role.AUDITOR)
    incident = make_incident()
    with pytest.raises(DomainError) as err:
        services.timeline_entry_add(actor=actor_for(auditor), incident=incident, kind="note", body="hi")
    assert err.value.code == "forbidden"


def test_a_system_task_cannot_add_to_the_timeline_it_has_no_author(make_incident):
    incident = make_incident()
    with pytest.raises(DomainError) as err:
        services.timeline_entry_add(actor=Actor.system("test"), incident=incident, kind="note", body="hi")
    assert err.value.code == "forbidden"
    assert not TimelineEntry.objects.filter(incident=incident).exists()


def test_a_signal_with_the_same_dedup_key_folds_until_its_incident_closes(make_user, actor_for, registry):
    responder, commander = make_user(Role.RESPONDER), make_user(Role.INCIDENT_COMMANDER)
    first, created = services.signal_ingest(actor=actor_for(responder), source="internal_monitoring", title="spike",
                                            dedup_key="clf-42")  # fmt: skip
    again, created_again = services.signal_ingest(actor=actor_for(responder), source="internal_monitoring",
                                                  title="spike", dedup_key="clf-42")  # fmt: skip
    assert (created, created_again, again.pk, again.occurrences) == (True, False, first.pk, 2)
    incident = services.signal_promote(actor=actor_for(responder), signal=first, category="misuse", risk_domain="cyber")
    assert services.signal_ingest(actor=actor_for(responder), source="internal_monitoring", title="spike",
                                  dedup_key="clf-42")[0].pk == first.pk  # fmt: skip
    services.incident_edit(actor=actor_for(commander), incident=incident, changes={"status": "dismissed"}, reason="x")
    fresh, created = services.signal_ingest(actor=actor_for(responder), source="internal_monitoring", title="spike",
                                            dedup_key="clf-42")  # fmt: skip
    assert created and fresh.pk != first.pk
    assert Signal.objects.count() == 2
