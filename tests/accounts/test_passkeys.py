"""Adding and removing passkeys on the second-factor page (issue 14, item 2), ledgered; a borrowed
session cannot add a factor of its own: whoever already holds a factor proves it first."""

import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from accounts import passkeys, services
from accounts.actor import Actor
from accounts.models import LedgerEvent
from accounts.roles import Role
from config.errors import DomainError
from tests.soft_passkey import ORIGIN, RP_ID, SoftPasskey, enrol


@pytest.fixture(autouse=True)
def _relying_party(settings):
    settings.OTP_WEBAUTHN_RP_ID = RP_ID
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [ORIGIN]
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


@pytest.fixture
def leader(make_user):
    return make_user(Role.LEADERSHIP)


def web(user) -> Actor:
    return Actor(user=user, source="web", client_ip="198.51.100.9")


def app_code(user) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"


def test_a_first_passkey_is_added_and_ledgered(leader):
    enrol(web(leader))

    device = WebAuthnCredential.objects.get(user=leader)
    event = LedgerEvent.objects.get(verb="passkey.registered")
    assert (event.object_id, event.after["name"], event.after["user"]) == (str(device.pk), "soft key", leader.username)
    assert passkeys.has_passkey(leader)


def test_a_registration_answer_cannot_be_used_twice(leader):
    key = SoftPasskey()
    options = services.passkey_registration_begin(actor=web(leader))
    answer = key.create(options)
    services.passkey_registration_complete(actor=web(leader), answer=answer)

    with pytest.raises(DomainError) as refused:
        services.passkey_registration_complete(actor=web(leader), answer=answer)

    assert refused.value.code == "conflict"
    assert WebAuthnCredential.objects.filter(user=leader).count() == 1


def test_someone_with_an_app_gives_its_code_before_adding_a_passkey(leader):
    TOTPDevice.objects.create(user=leader, name="phone", confirmed=True)

    with pytest.raises(DomainError) as refused:
        services.passkey_registration_begin(actor=web(leader), code="")
    assert "code" in refused.value.fields

    enrol(web(leader), code=app_code(leader))
    assert passkeys.has_passkey(leader)


def test_someone_with_a_passkey_proves_it_before_adding_another_or_an_app(leader):
    key = enrol(web(leader))
    for attempt in (
        lambda: services.passkey_registration_begin(actor=web(leader)),
        lambda: services.otp_device_start(actor=web(leader)),
    ):
        with pytest.raises(DomainError) as refused:
            attempt()
        assert "passkey" in refused.value.fields

    # An answer for the "remove" purpose does not prove the wish to add.
    wrong_purpose = key.get(passkeys.passkey_challenge_issue(actor=web(leader), purpose="remove"))
    with pytest.raises(DomainError):
        services.otp_device_start(actor=web(leader), passkey=wrong_purpose)

    proof = key.get(passkeys.passkey_challenge_issue(actor=web(leader), purpose="add"))
    services.otp_device_start(actor=web(leader), passkey=proof)
    assert TOTPDevice.objects.filter(user=leader, confirmed=False).exists()


def test_a_passkey_is_removed_with_a_passkey_answer_and_ledgered(leader):
    key = enrol(web(leader))
    device = WebAuthnCredential.objects.get(user=leader)

    with pytest.raises(DomainError):
        services.passkey_remove(actor=web(leader), passkey_id=device.pk)  # no proof

    proof = key.get(passkeys.passkey_challenge_issue(actor=web(leader), purpose="remove"))
    services.passkey_remove(actor=web(leader), passkey_id=device.pk, passkey=proof)

    assert not WebAuthnCredential.objects.filter(user=leader).exists()
    assert LedgerEvent.objects.get(verb="passkey.removed").after["passkeys"] == 0


def test_nobody_removes_someone_elses_passkey(leader, make_user):
    enrol(web(leader))
    other = make_user(Role.LEADERSHIP)
    other_key = enrol(web(other))
    proof = other_key.get(passkeys.passkey_challenge_issue(actor=web(other), purpose="remove"))

    with pytest.raises(DomainError) as refused:
        services.passkey_remove(actor=web(other), passkey_id=WebAuthnCredential.objects.get(user=leader).pk,
                                passkey=proof)  # fmt: skip

    assert refused.value.code == "not_found"
    assert WebAuthnCredential.objects.filter(user=leader).exists()


def test_the_page_adds_a_passkey_through_its_json_endpoints(leader):
    client = Client()
    client.force_login(leader)
    key = SoftPasskey()

    options = client.post(reverse("passkey-add-begin")).json()
    done = client.post(reverse("passkey-add-complete"), {"answer": key.create(options), "name": "laptop"})

    assert done.status_code == 200 and done.json()["redirect"] == reverse("otp-settings")
    page = client.get(reverse("otp-settings")).content.decode()
    assert "laptop" in page and "Remove it" in page


def test_the_json_endpoints_refuse_bad_input_with_4xx(leader):
    client = Client()
    client.force_login(leader)
    assert client.get(reverse("passkey-add-begin")).status_code == 405
    refused = client.post(reverse("passkey-add-complete"), {"answer": "garbage"})
    assert refused.status_code == 409 and refused.json()["detail"]
    assert client.post(reverse("passkey-challenge-remove")).status_code == 409  # no passkey to prove with


def test_an_auditor_adds_no_passkey(make_user):
    client = Client()
    client.force_login(make_user(Role.AUDITOR))
    assert client.post(reverse("passkey-add-begin")).status_code == 403


# --- PostgreSQL: one answer sent many times at once is accepted once --------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_answer_sent_at_once_from_many_requests_is_accepted_once(leader):
    key = enrol(web(leader))
    answer = key.get(passkeys.passkey_challenge_issue(actor=web(leader), purpose="remove"))
    barrier = threading.Barrier(6)
    outcomes = []

    def submit():
        try:
            barrier.wait()
            passkeys.passkey_verify(actor=web(leader), purpose="remove", answer=answer)
            outcomes.append("accepted")
        except DomainError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["accepted"] + ["refused"] * 5
