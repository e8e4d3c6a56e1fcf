"""Issue 14's passkey journey in a real browser, with Chromium's virtual authenticator (DevTools
protocol): a leader adds a passkey on the second-factor page and approves a tier-4 withdrawal with
it; a second leader, who has only an authenticator app, approves with its code (the fallback).
WebAuthn needs a secure context and a domain: the live server is on http://localhost."""

import pytest
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.actor import Actor
from accounts.models import LedgerEvent
from accounts.roles import Role
from corrections import services
from corrections.models import Approval, State

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "passkey-pw-2026!"
AUTHENTICATOR = {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
                 "isUserVerified": True}  # fmt: skip


def add_virtual_authenticator(page) -> tuple[object, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
    return cdp, added["authenticatorId"]


def current_code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = timezone.now().timestamp()
    return f"{totp.token():06d}"


def test_a_leader_adds_a_passkey_and_approves_a_tier_4_request_with_it(
    transactional_db, live_server, settings, sign_in, make_user, make_incident, task_sends
):
    from playwright.sync_api import expect

    assert live_server.url.startswith("http://localhost:")
    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    responder = make_user(Role.RESPONDER, username="riley", password=PASSWORD)
    commander = make_user(Role.INCIDENT_COMMANDER, username="casey", password=PASSWORD)
    make_user(Role.LEADERSHIP, username="lee", password=PASSWORD)
    lou = make_user(Role.LEADERSHIP, username="lou", password=PASSWORD)
    app = TOTPDevice.objects.create(user=lou, name="phone", confirmed=True)
    incident = make_incident(by=responder, severity="SEV1", title="Model weights leak a synthesis route")
    correction = services.correction_request(
        actor=Actor(user=commander, source="web"), incident=incident, type="withdraw_model", deployment=None,
        params={"model": "atlas"}, rationale="Withdraw atlas while the leak is contained.",
    )  # fmt: skip

    # Lee adds a passkey on the second-factor page; the browser's authenticator creates it.
    page = sign_in("lee", PASSWORD)
    cdp, authenticator = add_virtual_authenticator(page)
    page.goto(f"{live_server.url}/accounts/otp/")
    page.locator("#passkey-add").get_by_label("Name it (where it lives)").fill("laptop")
    page.locator("#passkey-add").get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_text("Passkey “laptop” added")).to_be_visible()
    assert len(cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]) == 1
    assert LedgerEvent.objects.filter(verb="passkey.registered", actor_name="lee").count() == 1

    # The approval offers the passkey first; Lee types the target and confirms with it.
    page.goto(f"{live_server.url}/corrections/{correction.pk}/")
    form = page.locator("#act-approve")
    passkey_button = form.get_by_role("button", name="Confirm with passkey and approve")
    expect(passkey_button).to_be_visible()
    assert form.inner_html().index("Confirm with passkey") < form.inner_html().index('name="otp"')
    form.get_by_label("Type the target's name to confirm").fill("atlas")
    form.get_by_label("Comment").fill("lee: withdraw it.")
    passkey_button.click()
    expect(page.get_by_text(f"Your approval of #{correction.pk} counts")).to_be_visible()
    approval = Approval.objects.get(correction=correction, approver__username="lee")
    assert approval.second_factor_verified
    lee_event = LedgerEvent.objects.filter(verb="correction.approval_given").latest("seq")
    assert lee_event.after["second_factor_kind"] == "passkey"

    # Lou has no passkey: the page asks for the app's code, which still works.
    other = sign_in("lou", PASSWORD)
    other.goto(f"{live_server.url}/corrections/{correction.pk}/")
    form = other.locator("#act-approve")
    expect(form.get_by_role("button", name="Confirm with passkey and approve")).to_have_count(0)
    form.get_by_label("Type the target's name to confirm").fill("atlas")
    form.get_by_label("Code from your authenticator app").fill(current_code(app))
    form.get_by_role("button", name="Approve").click()
    expect(other.get_by_text(f"Correction #{correction.pk} is approved")).to_be_visible()
    correction.refresh_from_db()
    assert correction.state == State.APPROVED
    lou_event = LedgerEvent.objects.filter(verb="correction.approval_given").latest("seq")
    assert lou_event.after["second_factor_kind"] == "totp"
