"""Enrolling a TOTP authenticator: start, confirm with a current code, replace, remove; audited."""

import json
import re
import time
from base64 import b32encode

import pytest
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import LedgerEvent
from accounts.roles import Role


@pytest.fixture
def leader(make_user):
    return make_user(Role.LEADERSHIP)


def code_for(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code the person's app shows (a later step: each code is accepted once)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def start(client) -> TOTPDevice:
    response = client.post(reverse("otp-start"))
    assert response.status_code == 302
    return TOTPDevice.objects.get(confirmed=False)


def test_the_page_says_there_is_no_device_yet_and_is_linked_from_the_header(client_for, leader):
    response = client_for(leader).get(reverse("otp-settings"))
    assert response.status_code == 200
    assert "not set up" in response.content.decode()
    assert f'href="{reverse("otp-settings")}"' in response.content.decode()  # the header's user menu
    assert "no-store" in response["Cache-Control"]


def test_start_shows_a_qr_code_the_secret_and_the_uri(client_for, leader):
    client = client_for(leader)
    device = start(client)
    page = client.get(reverse("otp-settings")).content.decode()
    secret = b32encode(device.bin_key).decode().rstrip("=")
    assert "<svg" in page and "</svg>" in page  # drawn on the server
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in page
    assert f"otpauth://totp/Failsafe%3A{leader.username}?secret={secret}" in page.replace("&amp;", "&")
    scripts = re.findall(r"<script[^>]*>", page.split("</header>", 1)[1])
    assert len(scripts) == 1 and "js/passkey.js" in scripts[0]  # the QR code needs none; passkeys do
    assert LedgerEvent.objects.filter(verb="otp.device_started", object_id=str(device.pk)).exists()


def test_confirm_with_a_current_code(client_for, leader):
    client = client_for(leader)
    device = start(client)
    response = client.post(reverse("otp-confirm"), {"code": code_for(device)})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    event = LedgerEvent.objects.get(verb="otp.device_confirmed")
    assert event.actor_name == leader.username and event.after["device"] == device.pk
    page = client.get(reverse("otp-settings")).content.decode()
    assert "set up" in page and "<svg" not in page  # the secret is no longer shown


def test_a_wrong_code_is_refused_and_nothing_is_confirmed(client_for, leader):
    client = client_for(leader)
    device = start(client)
    wrong = "000000" if code_for(device) != "000000" else "111111"
    response = client.post(reverse("otp-confirm"), {"code": wrong})
    assert response.status_code == 400
    assert "not right" in response.context["forms"]["confirm"].errors["code"][0]
    device.refresh_from_db()
    assert not device.confirmed
    assert device.throttling_failure_count == 1  # the failure is kept, so guessing is throttled
    assert not LedgerEvent.objects.filter(verb="otp.device_confirmed").exists()
    assert client.post(reverse("otp-confirm"), {"code": "abc"}).status_code == 400


def test_confirming_without_a_set_up_is_409(client_for, leader):
    assert client_for(leader).post(reverse("otp-confirm"), {"code": "123456"}).status_code == 409


def test_replacing_needs_the_current_code_and_keeps_the_old_device_until_confirmed(client_for, leader):
    client = client_for(leader)
    old = start(client)
    client.post(reverse("otp-confirm"), {"code": code_for(old)})
    refused = client.post(reverse("otp-start"), {"code": ""})
    assert refused.status_code == 400
    assert TOTPDevice.objects.filter(user=leader).count() == 1
    assert client.post(reverse("otp-start"), {"code": code_for(old, steps_ahead=1)}).status_code == 302
    new = TOTPDevice.objects.get(user=leader, confirmed=False)
    assert TOTPDevice.objects.filter(pk=old.pk, confirmed=True).exists()  # still works meanwhile
    assert client.post(reverse("otp-confirm"), {"code": code_for(new)}).status_code == 302
    assert list(TOTPDevice.objects.filter(user=leader).values_list("pk", "confirmed")) == [(new.pk, True)]
    assert LedgerEvent.objects.get(verb="otp.device_confirmed", object_id=str(new.pk)).after["replaced"] == 1


def test_removing_needs_a_current_code(client_for, leader):
    client = client_for(leader)
    device = start(client)
    client.post(reverse("otp-confirm"), {"code": code_for(device)})
    assert client.post(reverse("otp-remove"), {"code": "12"}).status_code == 400
    assert TOTPDevice.objects.filter(user=leader).exists()
    throttled = client.post(reverse("otp-remove"), {"code": code_for(device, steps_ahead=1)})
    assert "Too many wrong codes" in throttled.context["forms"]["remove"].errors["code"][0]
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)  # the wait is over
    assert client.post(reverse("otp-remove"), {"code": code_for(device, steps_ahead=1)}).status_code == 302
    assert not TOTPDevice.objects.filter(user=leader).exists()
    assert LedgerEvent.objects.filter(verb="otp.device_removed").count() == 1


def test_an_unconfirmed_set_up_can_be_abandoned_without_a_code(client_for, leader):
    client = client_for(leader)
    start(client)
    assert client.post(reverse("otp-remove")).status_code == 302
    assert not TOTPDevice.objects.filter(user=leader).exists()


def test_the_ledger_never_holds_the_secret(client_for, leader):
    client = client_for(leader)
    device = start(client)
    client.post(reverse("otp-confirm"), {"code": code_for(device)})
    client.post(reverse("otp-remove"), {"code": code_for(device, steps_ahead=1)})
    secrets = {device.key, b32encode(device.bin_key).decode().rstrip("=")}
    events = list(LedgerEvent.objects.filter(verb__startswith="otp.").values("before", "after", "reason"))
    assert len(events) == 3
    dumped = json.dumps(events)
    assert not any(secret in dumped for secret in secrets)


def test_a_confirmed_device_approves_tier_4(client_for, leader, make_user, make_incident, actor_for):
    from corrections import services
    from corrections.models import Approval

    client = client_for(leader)
    device = start(client)
    client.post(reverse("otp-confirm"), {"code": code_for(device)})
    commander = make_user(Role.INCIDENT_COMMANDER)
    correction = services.correction_request(
        actor=actor_for(commander), incident=make_incident(by=commander), type="withdraw_model",
        params={"model": "atlas"}, rationale="x",
    )  # fmt: skip
    response = client.post(
        reverse("correction-approve", args=[correction.pk]),
        {"otp": code_for(device, steps_ahead=1), "confirm_target": "atlas", "content_hash": correction.content_hash},
    )
    assert response.status_code == 302
    assert Approval.objects.get().second_factor_verified


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("otp-settings"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_auditors_may_look_but_not_enrol(client_for, make_user):
    client = client_for(make_user(Role.AUDITOR))
    page = client.get(reverse("otp-settings"))
    assert page.status_code == 200
    assert page.content.count(b'method="post"') == 1  # sign out only
    assert client.post(reverse("otp-start")).status_code == 403
    assert not TOTPDevice.objects.exists()
