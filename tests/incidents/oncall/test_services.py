"""Rotations (validation, ledger) and paging (open, escalate, acknowledge) against the database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.core import mail
from django.test import override_settings

from accounts.models import LedgerEvent
from accounts.roles import Role
from config.errors import DomainError
from incidents.models import Event, Incident, Notification, Page
from incidents.oncall import services as oncall
from incidents.oncall.services import ShiftPlan

from .conftest import MONDAY

ACK = timedelta(seconds=300)


def verbs(verb: str) -> list[LedgerEvent]:
    return list(LedgerEvent.objects.filter(verb=verb).order_by("seq"))


def paged(page: Page) -> list[str]:
    return sorted(page.recipients.values_list("user__username", flat=True))


def refusal(call) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value


# --- rotations ---------------------------------------------------------------------------------


def test_creating_a_rotation_is_a_ledger_event_with_its_members_in_order(rotation):
    [event] = verbs("oncall.rotation_created")
    assert event.after["members"] == ["leader-1", "leader-2", "leader-3"]
    assert event.after["handoff_time"] == "09:00" and event.after["role"] == "leadership"


def test_members_must_hold_the_rotations_role(leaders, make_user, actor_for):
    responder = make_user(Role.RESPONDER, username="resp")
    error = refusal(lambda: oncall.rotation_create(
        actor=actor_for(leaders[0]), role=Role.LEADERSHIP, name="L", members=[leaders[0], responder],
        handoff_weekday=0, handoff_time=time(9), start_date=date(2026, 3, 16),
    ))  # fmt: skip
    assert error.fields["members"] == ["Not in the role leadership: resp."]


def test_an_unknown_role_and_zone_are_refused_field_by_field(leaders, actor_for):
    error = refusal(lambda: oncall.rotation_create(
        actor=actor_for(leaders[0]), role="janitor", name="J", time_zone="Mars/Olympus", members=leaders,
        handoff_weekday=0, handoff_time=time(9), start_date=date(2026, 3, 16),
    ))  # fmt: skip
    assert "Unknown role 'janitor'" in error.fields["role"][0]
    assert "Unknown time zone" in error.fields["time_zone"][0]


def test_a_weekly_start_must_be_a_handoff_day(leaders, actor_for):
    error = refusal(lambda: oncall.rotation_create(
        actor=actor_for(leaders[0]), role=Role.LEADERSHIP, name="L", members=leaders,
        handoff_weekday=0, handoff_time=time(9), start_date=date(2026, 3, 17),
    ))  # fmt: skip
    assert error.fields["start_date"] == ["The first week starts on a handoff day: a Monday."]


def test_custom_shifts_with_a_gap_are_refused_saying_where(leaders, actor_for):
    a, b = leaders[:2]
    shifts = [
        ShiftPlan(a, MONDAY, MONDAY + timedelta(days=2)),
        ShiftPlan(b, MONDAY + timedelta(days=3), MONDAY + timedelta(days=7)),
    ]
    error = refusal(lambda: oncall.rotation_create(
        actor=actor_for(a), role=Role.LEADERSHIP, name="L", handoff="custom", members=[a, b], shifts=shifts,
    ))  # fmt: skip
    assert error.fields["shifts"] == ["There is a gap between Wed 18 Mar 2026 09:00 and Thu 19 Mar 2026 09:00."]


def test_one_rotation_per_role(rotation, leaders, actor_for):
    error = refusal(lambda: oncall.rotation_create(
        actor=actor_for(leaders[0]), role=Role.LEADERSHIP, name="Again", members=leaders,
        handoff_weekday=0, handoff_time=time(9), start_date=date(2026, 3, 16),
    ))  # fmt: skip
    assert "already has a rotation" in error.fields["role"][0]


def test_only_admins_and_leadership_edit_rotations(rotation, make_user, actor_for, leaders):
    commander = make_user(Role.INCIDENT_COMMANDER)
    error = refusal(lambda: oncall.override_add(
        actor=actor_for(commander), rotation=rotation, user=leaders[1], starts_at=MONDAY, ends_at=MONDAY + ACK,
    ))  # fmt: skip
    assert error.code == "forbidden"


def test_editing_a_rotation_records_what_changed(rotation, leaders, actor_for):
    oncall.rotation_edit(
        actor=actor_for(leaders[0]), rotation=rotation, name="Leadership", time_zone="UTC", handoff="weekly",
        members=[leaders[1], leaders[0]], handoff_weekday=0, handoff_time=time(9), start_date=date(2026, 3, 16),
    )  # fmt: skip
    [event] = verbs("oncall.rotation_changed")
    assert event.before == {"members": ["leader-1", "leader-2", "leader-3"]}
    assert event.after == {"members": ["leader-2", "leader-1"]}


def test_overlapping_overrides_are_refused(rotation, leaders, actor_for):
    actor = actor_for(leaders[0])
    oncall.override_add(
        actor=actor, rotation=rotation, user=leaders[2], starts_at=MONDAY, ends_at=MONDAY + timedelta(hours=5)
    )
    error = refusal(lambda: oncall.override_add(
        actor=actor, rotation=rotation, user=leaders[1], starts_at=MONDAY + timedelta(hours=4),
        ends_at=MONDAY + timedelta(hours=8),
    ))  # fmt: skip
    assert error.fields["starts_at"] == ["Overrides overlap between Mon 16 Mar 2026 13:00 and Mon 16 Mar 2026 14:00."]
    assert len(verbs("oncall.override_added")) == 1


# --- paging ------------------------------------------------------------------------------------


@pytest.fixture
def sev2(make_incident):
    return make_incident(severity="SEV2")


def open_page(actor_for, user, incident, now, role=Role.LEADERSHIP):
    return oncall.page_open(actor=actor_for(user), incident=incident, role=role, reason="sev1", now=now)


def test_a_page_goes_to_whoever_is_on_call_with_an_acknowledge_link(
    rotation, leaders, sev2, actor_for, now, django_capture_on_commit_callbacks, task_sends, deliver_notifications
):
    with django_capture_on_commit_callbacks(execute=True):
        page = open_page(actor_for, leaders[1], sev2, now)
    assert paged(page) == ["leader-1"]
    assert page.next_step_at == now + ACK
    deliver_notifications()
    [message] = [m for m in mail.outbox if "PAGE" in m.subject]
    assert message.to == ["leader-1@example.test"] and f"/pages/{page.pk}/" in message.body
    notification = Notification.objects.get(incident=sev2)
    assert notification.event == Event.PAGE and notification.urgent
    assert notification.ack_url.endswith(f"/pages/{page.pk}/")
    [event] = verbs("page.opened")
    assert event.after["paged"] == ["leader-1"] and event.incident_ref == sev2.ref


def test_nobody_on_call_pages_the_whole_role_at_once(leaders, sev2, actor_for, now):
    page = open_page(actor_for, leaders[0], sev2, now)
    assert paged(page) == ["leader-1", "leader-2", "leader-3"]
    assert page.step == Page.Step.WHOLE_ROLE and page.next_step_at is None


def test_an_override_is_paged_instead_of_the_rotation(rotation, leaders, sev2, actor_for, now):
    oncall.override_add(
        actor=actor_for(leaders[0]), rotation=rotation, user=leaders[2], starts_at=now - ACK, ends_at=now + ACK
    )
    page = open_page(actor_for, leaders[0], sev2, now)
    assert paged(page) == ["leader-3"]
    # Nobody acknowledges: the scheduled person is next.
    assert oncall.page_escalate(actor=actor_for(leaders[0]), page_id=page.pk, now=now + ACK)
    assert paged(page) == ["leader-1", "leader-3"]


def test_unacknowledged_pages_go_to_the_next_person_then_the_whole_role(rotation, leaders, sev2, actor_for, now):
    page = open_page(actor_for, leaders[0], sev2, now)
    sweep = oncall.pages_escalate_due

    assert sweep(actor=actor_for(leaders[0]), now=now + ACK - timedelta(seconds=1)) == 0
    assert sweep(actor=actor_for(leaders[0]), now=now + ACK) == 1
    page.refresh_from_db()
    assert paged(page) == ["leader-1", "leader-2"] and page.step == Page.Step.NEXT
    assert sweep(actor=actor_for(leaders[0]), now=now + 2 * ACK) == 1
    page.refresh_from_db()
    assert paged(page) == ["leader-1", "leader-2", "leader-3"] and page.step == Page.Step.WHOLE_ROLE
    assert page.next_step_at is None
    assert sweep(actor=actor_for(leaders[0]), now=now + 10 * ACK) == 0
    assert [e.after["paged"] for e in verbs("page.escalated")] == [["leader-2"], ["leader-3"]]


def test_acknowledging_stops_the_escalation(rotation, leaders, sev2, actor_for, now):
    page = open_page(actor_for, leaders[0], sev2, now)
    oncall.page_acknowledge(actor=actor_for(leaders[0]), page=page, now=now + timedelta(seconds=30))
    assert oncall.pages_escalate_due(actor=actor_for(leaders[0]), now=now + 5 * ACK) == 0
    assert paged(page) == ["leader-1"]
    [event] = verbs("page.acknowledged")
    assert event.after["by"] == "leader-1" and event.after["seconds"] == 30


def test_a_stranger_cannot_acknowledge(rotation, leaders, sev2, actor_for, make_user, now):
    page = open_page(actor_for, leaders[0], sev2, now)
    stranger = make_user(Role.RESPONDER)
    error = refusal(lambda: oncall.page_acknowledge(actor=actor_for(stranger), page=page))
    assert error.code == "forbidden"
    page.refresh_from_db()
    assert page.acknowledged_at is None and verbs("page.acknowledged") == []


def test_any_member_of_the_role_may_acknowledge_even_if_not_paged(rotation, leaders, sev2, actor_for, now):
    page = open_page(actor_for, leaders[0], sev2, now)
    oncall.page_acknowledge(actor=actor_for(leaders[2]), page=page)
    page.refresh_from_db()
    assert page.acknowledged_by == leaders[2]


def test_acknowledging_twice_is_harmless_and_recorded_once(rotation, leaders, sev2, actor_for, now):
    page = open_page(actor_for, leaders[0], sev2, now)
    first = oncall.page_acknowledge(actor=actor_for(leaders[0]), page=page, now=now + ACK / 2)
    again = oncall.page_acknowledge(actor=actor_for(leaders[1]), page=page, now=now + ACK)
    assert again.acknowledged_by == leaders[0] and again.acknowledged_at == first.acknowledged_at
    assert len(verbs("page.acknowledged")) == 1


def test_the_first_acknowledgement_sets_the_incidents_acknowledged_at_once(rotation, leaders, sev2, actor_for, now):
    first = open_page(actor_for, leaders[0], sev2, now)
    second = oncall.page_open(
        actor=actor_for(leaders[0]), incident=sev2, role=Role.LEADERSHIP, reason="break_glass", now=now
    )
    oncall.page_acknowledge(actor=actor_for(leaders[0]), page=first, now=now + timedelta(seconds=42))
    oncall.page_acknowledge(actor=actor_for(leaders[0]), page=second, now=now + timedelta(seconds=99))
    assert Incident.objects.get(pk=sev2.pk).acknowledged_at == now + timedelta(seconds=42)


def test_an_open_page_for_the_same_reason_is_not_opened_twice(rotation, leaders, sev2, actor_for, now):
    first = open_page(actor_for, leaders[0], sev2, now)
    assert open_page(actor_for, leaders[0], sev2, now + ACK / 2) == first
    assert len(verbs("page.opened")) == 1


# --- the four triggers -------------------------------------------------------------------------


def test_a_sev1_incident_pages_only_leaderships_on_call(rotation, make_incident):
    incident = make_incident(severity="SEV1")
    [page] = Page.objects.filter(incident=incident)
    assert page.reason == "sev1" and page.role == "leadership" and len(paged(page)) == 1


def test_escalating_to_sev1_pages_leadership(rotation, make_incident, make_user, actor_for):
    from incidents import services as incidents

    incident = make_incident(severity="SEV3")
    incidents.incident_escalate(
        actor=actor_for(make_user(Role.RESPONDER)), incident=incident, reason="worse", severity="SEV1"
    )
    assert Page.objects.filter(incident=incident, reason="sev1").count() == 1


def test_break_glass_pages_leadership_and_still_mails_every_leader(
    rotation, leaders, make_incident, actor_for, django_capture_on_commit_callbacks, task_sends, deliver_notifications
):
    from corrections import services as corrections

    incident = make_incident(severity="SEV2")
    with django_capture_on_commit_callbacks(execute=True):
        corrections.correction_request(
            actor=actor_for(leaders[0]), incident=incident, type="pause_deployment", deployment="atlas-chat",
            params={}, rationale="now", break_glass=True, justification="now",
        )  # fmt: skip
    [page] = Page.objects.filter(incident=incident, reason="break_glass")
    assert len(paged(page)) == 1
    deliver_notifications()
    mailed = sorted(address for m in mail.outbox if "BREAK GLASS" in m.subject for address in m.to)
    assert mailed == [f"{u.username}@example.test" for u in leaders]  # each once: the page or the mail


def test_a_tier_3_request_pages_leadership_for_approval(rotation, make_incident, make_user, actor_for):
    from corrections import services as corrections

    incident = make_incident(severity="SEV2")
    corrections.correction_request(
        actor=actor_for(make_user(Role.RESPONDER)), incident=incident, type="pause_deployment",
        deployment="atlas-chat", params={}, rationale="x",
    )  # fmt: skip
    assert Page.objects.filter(incident=incident, reason="approval_needed", role="leadership").count() == 1


def test_a_tier_2_request_pages_nobody(rotation, make_incident, make_user, actor_for):
    from corrections import services as corrections

    incident = make_incident(severity="SEV2")
    corrections.correction_request(
        actor=actor_for(make_user(Role.RESPONDER)), incident=incident, type="disable_capability",
        deployment="atlas-api", params={"capability": "browsing"}, rationale="x",
    )  # fmt: skip
    assert not Page.objects.filter(incident=incident).exists()


def test_a_failed_correction_pages_the_commanders(make_incident, make_user, actor_for, task_sends):
    from corrections import dispatch
    from corrections import services as corrections
    from corrections.models import OutboxEntry
    from incidents.models import CustomerAccount

    CustomerAccount.objects.create(account_id="acct-mallory")
    commander = make_user(Role.INCIDENT_COMMANDER)
    incident = make_incident(severity="SEV3")
    correction = corrections.correction_request(
        actor=actor_for(make_user(Role.RESPONDER)), incident=incident, type="block_accounts",
        deployment="atlas-api", params={"accounts": ["acct-mallory"]}, rationale="x",
    )  # fmt: skip
    entry = OutboxEntry.objects.get(correction=correction)
    # An actuator nobody answers at, retried for no time: it fails (with none, it would be a manual step).
    from tests.corrections.test_notifications import unreachable_actuator

    unreachable_actuator("atlas-api")
    with override_settings(FAILSAFE_DISPATCH_RETRY_SECONDS=0):
        assert dispatch.dispatch_entry(entry_id=entry.pk).result == "failed"
    [page] = Page.objects.filter(incident=incident)
    assert page.reason == "dispatch_failed" and page.role == "incident_commander"
    assert commander.username in paged(page)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_escalate_a_page_once(rotation, leaders, sev2, actor_for, now, task_sends):
    import threading

    from django.db import connection

    page = open_page(actor_for, leaders[0], sev2, now)
    results, barrier = [], threading.Barrier(2)

    def sweep():
        try:
            barrier.wait()
            results.append(oncall.page_escalate(actor=actor_for(leaders[0]), page_id=page.pk, now=now + ACK))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
    assert len(verbs("page.escalated")) == 1 and paged(page) == ["leader-1", "leader-2"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_failures_at_once_open_one_page(rotation, leaders, sev2, actor_for, now, task_sends):
    import threading

    from django.db import connection, transaction

    results, barrier = [], threading.Barrier(2)

    def fail():
        try:
            with transaction.atomic():
                barrier.wait()
                results.append(open_page(actor_for, leaders[0], sev2, now).pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=fail) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    [page] = Page.objects.filter(incident=sev2)
    assert results == [page.pk, page.pk]
    assert len(verbs("page.opened")) == 1 and paged(page) == ["leader-1"]


def test_an_acknowledged_page_leaves_room_for_a_new_one(rotation, leaders, sev2, actor_for, now):
    first = open_page(actor_for, leaders[0], sev2, now)
    Page.objects.filter(pk=first.pk).update(acknowledged_at=now)
    second = open_page(actor_for, leaders[0], sev2, now)
    assert second.pk != first.pk and Page.objects.filter(incident=sev2).count() == 2


def test_the_escalation_task_is_routed_and_scheduled(settings):
    assert settings.CELERY_TASK_ROUTES["incidents.escalate_pages"] == {"queue": "sweeps"}
    assert any(e["task"] == "incidents.escalate_pages" for e in settings.CELERY_BEAT_SCHEDULE.values())


def test_a_short_ack_time_is_honoured(rotation, leaders, sev2, actor_for, now, settings):
    settings.FAILSAFE_PAGE_ACK_SECONDS = 2
    page = open_page(actor_for, leaders[0], sev2, now)
    assert page.next_step_at == now + timedelta(seconds=2)
    assert datetime(2026, 3, 18, 9, 0, 2, tzinfo=UTC) == page.next_step_at
