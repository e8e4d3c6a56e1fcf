"""Notification preferences (issue 11 §2): the page, the API, and the rules they share."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from accounts.models import LedgerEvent
from accounts.roles import Role
from incidents.models import Event, NotificationPreference
from incidents.preferences import DEFAULTS, Preferences, preferences_of

URL = "/api/v1/me/notification-preferences/"
PAGE = "/accounts/notifications/"


def test_defaults_are_every_event_by_email_at_any_hour(make_user, api_for):
    user = make_user(Role.RESPONDER)
    body = api_for(user).get(URL).json()
    assert body == {"email_events": sorted(Event.values), "slack_events": [], "slack_member_id": "",
                    "quiet_start": None, "quiet_end": None, "time_zone": "UTC"}  # fmt: skip


def test_put_saves_them_and_the_ledger_records_the_change(make_user, api_for):
    user = make_user(Role.RESPONDER)
    answer = api_for(user).put(
        URL,
        {"email_events": ["sev1", "page"], "slack_events": ["page"], "slack_member_id": "U024BE7LH",
         "quiet_start": "22:00", "quiet_end": "07:00", "time_zone": "Europe/London"},
        format="json",
    )  # fmt: skip
    assert answer.status_code == 200, answer.json()
    saved = preferences_of(user)
    assert saved.email_events == {"sev1", "page"} and saved.slack_member_id == "U024BE7LH"
    assert (saved.quiet_start, saved.quiet_end, saved.time_zone) == (time(22), time(7), "Europe/London")
    event = LedgerEvent.objects.get(verb="notification.preferences_changed")
    assert event.actor_name == user.username and event.after["quiet_start"] == "22:00"
    # Fields left out keep their value.
    assert api_for(user).put(URL, {"time_zone": "UTC"}, format="json").json()["email_events"] == ["page", "sev1"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"email_events": ["sev1", "lunch"]}, "email_events", "Unknown event 'lunch'"),
        ({"email_events": "sev1"}, None, None),  # a comma-separated string is accepted
        ({"email_events": [1]}, "email_events", "list of event names"),
        ({"teams_events": ["sev1"]}, "teams_events", "Unknown channel 'teams'"),
        ({"colour": "red"}, "colour", "Unknown field"),
        ({"quiet_start": "25:00", "quiet_end": "07:00"}, "quiet_start", "HH:MM"),
        ({"quiet_start": "10pm", "quiet_end": "07:00"}, "quiet_start", "HH:MM"),
        ({"quiet_start": "22:00"}, "quiet_end", "both ends"),
        ({"quiet_start": "22:00", "quiet_end": "22:00"}, "quiet_end", "another time"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "Unknown time zone"),
        ({"time_zone": ["UTC"]}, "time_zone", "Unknown time zone"),
        ({"slack_events": ["page"]}, "slack_member_id", "member id"),
        ({"slack_member_id": "bob"}, "slack_member_id", "looks like"),
    ],
)
def test_bad_preferences_answer_400_naming_the_field(make_user, api_for, body, field, words):
    user = make_user(Role.RESPONDER)
    answer = api_for(user).put(URL, body, format="json")
    if field is None:
        assert answer.status_code == 200
        return
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert field in errors and words in errors[field][0], errors
    assert not NotificationPreference.objects.filter(user=user).exists()


def test_a_body_that_is_not_an_object_is_a_400(make_user, api_for):
    assert api_for(make_user(Role.RESPONDER)).put(URL, ["sev1"], format="json").status_code == 400


def test_someone_without_a_role_gets_403(make_user, api_for):
    assert api_for(make_user(None)).get(URL).status_code == 403


def test_an_auditor_reads_theirs_but_writes_nothing_here_either(make_user, api_for, client_for):
    auditor = make_user(Role.AUDITOR)
    assert api_for(auditor).get(URL).status_code == 200
    assert api_for(auditor).put(URL, {"email_events": []}, format="json").status_code == 403
    assert client_for(auditor).post(PAGE, {"email_events": [], "time_zone": "UTC"}).status_code == 403
    assert not NotificationPreference.objects.filter(user=auditor).exists()


def test_the_page_shows_the_defaults_and_saves_the_form(make_user, client_for):
    user = make_user(Role.RESPONDER)
    client = client_for(user)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "every event reaches you by email" in page.content.decode()
    answer = client.post(PAGE, {"email_events": ["sev1", "escalation"], "quiet_start": "23:00", "quiet_end": "06:30",
                                "time_zone": "America/New_York"})  # fmt: skip
    assert answer.status_code == 302
    assert preferences_of(user).quiet_end == time(6, 30)


def test_the_page_shows_field_messages_and_keeps_nothing(make_user, client_for):
    user = make_user(Role.RESPONDER)
    answer = client_for(user).post(PAGE, {"email_events": ["sev1"], "quiet_start": "7 pm", "time_zone": "UTC",
                                          "slack_events": ["page"]})  # fmt: skip
    assert answer.status_code == 400
    form = answer.context["form"]
    assert "HH:MM" in form.errors["quiet_start"][0]
    assert "member id" in form.errors["slack_member_id"][0]
    assert not NotificationPreference.objects.filter(user=user).exists()


@pytest.mark.parametrize(
    ("start", "end", "now", "until"),
    [
        (time(22), time(7), datetime(2026, 3, 2, 23, 30, tzinfo=UTC), datetime(2026, 3, 3, 7, tzinfo=UTC)),
        (time(22), time(7), datetime(2026, 3, 3, 6, 59, tzinfo=UTC), datetime(2026, 3, 3, 7, tzinfo=UTC)),
        (time(22), time(7), datetime(2026, 3, 3, 7, 0, tzinfo=UTC), None),
        (time(12), time(13), datetime(2026, 3, 3, 12, 30, tzinfo=UTC), datetime(2026, 3, 3, 13, tzinfo=UTC)),
        (time(12), time(13), datetime(2026, 3, 3, 11, 59, tzinfo=UTC), None),
    ],
)
def test_quiet_hours_end_at_the_next_end_time(start, end, now, until):
    assert Preferences(quiet_start=start, quiet_end=end).quiet_until(now) == until


def test_quiet_hours_are_read_in_the_persons_time_zone():
    tokyo = Preferences(quiet_start=time(22), quiet_end=time(7), time_zone="Asia/Tokyo")  # UTC+9
    assert tokyo.quiet_until(datetime(2026, 3, 2, 14, 0, tzinfo=UTC)) is not None  # 23:00 in Tokyo
    assert tokyo.quiet_until(datetime(2026, 3, 2, 23, 0, tzinfo=UTC)) is None  # 08:00 in Tokyo
    assert DEFAULTS.quiet_until(datetime(2026, 3, 2, 3, 0, tzinfo=UTC)) is None
