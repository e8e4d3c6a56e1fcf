"""Sign-in lockout (issue 8, point 5): by username and by address, on every door, audited unlocks.

Defaults: 5 failures lock for 15 minutes (FAILSAFE_LOGIN_FAILURE_LIMIT, FAILSAFE_LOGIN_COOLOFF_MINUTES).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.models import ApiToken, LedgerEvent
from accounts.roles import Role

PASSWORD = "correct-horse-9"
LOGIN = "/accounts/login/"
TOKEN_URL = "/api/v1/auth/token/"
LIMIT = 5


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()  # the token endpoint's rate throttle must not be what refuses here


@pytest.fixture
def riley(make_user):
    return make_user(Role.RESPONDER, username="riley", password=PASSWORD)


def sign_in(client, username="riley", password=PASSWORD, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def obtain(username="riley", password=PASSWORD, **extra):
    return APIClient().post(TOKEN_URL, {"username": username, "password": password}, format="json", **extra)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def assert_locked_page(response):
    assert response.status_code == 429
    text = response.content.decode()
    assert "Too many failed sign-in attempts" in text
    assert "Try again after" in text and " UTC" in text
    assert 1 <= int(response["Retry-After"]) <= 15 * 60


# --- the sign-in page ------------------------------------------------------------------------------


def test_fifty_wrong_passwords_lock_the_account_and_the_right_one_is_then_refused(client, riley):
    statuses = [sign_in(client, password=f"guess-{n}").status_code for n in range(50)]

    assert statuses[: LIMIT - 1] == [200] * (LIMIT - 1)  # the form says the password is wrong
    assert set(statuses[LIMIT - 1 :]) == {429}
    right = sign_in(client)
    assert_locked_page(right)
    assert not signed_in(client)


def test_a_few_wrong_passwords_then_the_right_one_still_signs_in(client, riley):
    for _ in range(LIMIT - 1):
        sign_in(client, password="typo")

    assert sign_in(client).status_code == 302
    assert signed_in(client)


def test_the_lockout_says_when_and_lifts_after_the_cool_off(client, riley):
    for _ in range(LIMIT):
        sign_in(client, password="guess")
    locked = sign_in(client)
    assert_locked_page(locked)
    assert int(locked["Retry-After"]) > 14 * 60  # the whole cool-off is still ahead
    again = sign_in(client)
    assert int(again["Retry-After"]) <= int(locked["Retry-After"])  # trying again does not push it back

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=15, seconds=1))

    assert sign_in(client).status_code == 302


def test_lockout_by_address_across_usernames(make_user, riley):
    attacker = Client(REMOTE_ADDR="203.0.113.66")
    for n in range(LIMIT):
        sign_in(attacker, username=f"someone-{n}", password="guess")

    assert_locked_page(sign_in(attacker))  # riley's right password, from the locked address
    assert sign_in(Client(REMOTE_ADDR="198.51.100.10")).status_code == 302  # riley elsewhere is fine


def test_lockout_by_username_across_addresses(make_user, riley):
    for n in range(LIMIT):
        sign_in(Client(REMOTE_ADDR=f"203.0.113.{n + 1}"), password="guess")

    assert_locked_page(sign_in(Client(REMOTE_ADDR="198.51.100.10")))  # a fresh address changes nothing
    make_user(Role.RESPONDER, username="sam", password=PASSWORD)
    assert sign_in(Client(REMOTE_ADDR="203.0.113.1"), username="sam").status_code == 302  # not the address


def test_an_unknown_username_locks_like_a_real_one(client, riley):
    """The lockout must not tell a guesser which usernames exist."""
    for _ in range(LIMIT):
        sign_in(client, username="nobody-here", password="guess")

    assert_locked_page(sign_in(Client(REMOTE_ADDR="198.51.100.10"), username="nobody-here"))


def test_signing_in_to_ones_own_account_does_not_forgive_guesses_at_another(make_user, riley):
    make_user(Role.RESPONDER, username="mallory", password="mallorys-own-pw")
    mallory = Client(REMOTE_ADDR="203.0.113.66")
    for _ in range(LIMIT - 1):
        sign_in(mallory, password="guess")
    assert sign_in(mallory, username="mallory", password="mallorys-own-pw").status_code == 302

    assert_locked_page(sign_in(Client(REMOTE_ADDR="203.0.113.66"), password="guess-again"))
    assert_locked_page(sign_in(Client(REMOTE_ADDR="198.51.100.10")))  # riley's username is locked too


# --- the API token endpoint -----------------------------------------------------------------------


def test_token_endpoint_is_locked_out_with_429_detail_and_retry_after(riley):
    statuses = [obtain(password="guess").status_code for _ in range(LIMIT)]

    response = obtain()

    assert statuses == [400] * (LIMIT - 1) + [429]
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "locked_out"
    assert "Try again after" in body["detail"] and " UTC" in body["detail"]
    assert 14 * 60 < int(response["Retry-After"]) <= 15 * 60
    assert not ApiToken.objects.exists()


def test_failures_on_the_page_and_the_api_add_up(client, riley):
    for _ in range(3):
        sign_in(client, password="guess")
    for _ in range(2):
        obtain(password="guess", REMOTE_ADDR="198.51.100.20")

    assert obtain(REMOTE_ADDR="198.51.100.30").status_code == 429
    assert_locked_page(sign_in(Client(REMOTE_ADDR="198.51.100.40")))


def test_token_endpoint_lockout_holds_whatever_the_forwarded_for_header_says(riley):
    for n in range(LIMIT):
        obtain(username=f"someone-{n}", password="guess", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")

    assert obtain(HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 429


# --- the client address: REMOTE_ADDR unless a proxy is trusted -----------------------------------


def test_a_forged_forwarded_for_header_does_not_dodge_the_page_lockout_nor_reach_the_ledger(client, riley):
    for n in range(LIMIT):
        sign_in(client, username=f"someone-{n}", password="guess", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert_locked_page(sign_in(client, HTTP_X_FORWARDED_FOR="198.51.100.7"))

    issued = obtain(username="riley", REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert issued.status_code == 200
    assert LedgerEvent.objects.get(verb="accounts.api_token_issued").client_ip == "198.51.100.9"


def test_behind_a_trusted_proxy_its_forwarded_address_is_the_client(settings, make_user, riley):
    settings.FAILSAFE_TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.1"
    for n in range(LIMIT):  # the attacker's own leftmost entries are ignored; the proxy's entry counts
        sign_in(Client(REMOTE_ADDR=proxy), username=f"someone-{n}", password="guess",
                HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 203.0.113.66")  # fmt: skip

    assert_locked_page(sign_in(Client(REMOTE_ADDR=proxy), HTTP_X_FORWARDED_FOR="203.0.113.66"))
    colleague = sign_in(Client(REMOTE_ADDR=proxy), HTTP_X_FORWARDED_FOR="198.51.100.10")
    assert colleague.status_code == 302  # behind the same proxy, a different client
    issued = obtain(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="192.0.2.9, 198.51.100.11")
    assert issued.status_code == 200
    assert LedgerEvent.objects.get(verb="accounts.api_token_issued").client_ip == "198.51.100.11"


# --- the second factor on the authenticator page ---------------------------------------------------


def _code(device: TOTPDevice, steps_ahead: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def test_wrong_authenticator_codes_lock_the_second_factor_and_the_sign_in(settings, client, make_user):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's own per-device delay is not what is tested here
    leader = make_user(Role.LEADERSHIP, username="lee", password=PASSWORD)
    client.force_login(leader)
    client.post(reverse("otp-start"))
    device = TOTPDevice.objects.get(user=leader)
    wrong = "000000" if _code(device) != "000000" else "111111"
    for _ in range(LIMIT):
        assert client.post(reverse("otp-confirm"), {"code": wrong}).status_code == 400

    refused = client.post(reverse("otp-confirm"), {"code": _code(device)})

    assert refused.status_code == 400
    assert "Try again after" in refused.context["forms"]["confirm"].errors["code"][0]
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed
    assert_locked_page(sign_in(Client(REMOTE_ADDR="198.51.100.10"), username="lee"))


def test_signing_in_again_does_not_forgive_wrong_authenticator_codes(settings, client, make_user):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    leader = make_user(Role.LEADERSHIP, username="lee", password=PASSWORD)
    client.force_login(leader)
    client.post(reverse("otp-start"))
    device = TOTPDevice.objects.get(user=leader)
    wrong = "000000" if _code(device) != "000000" else "111111"
    for _ in range(LIMIT - 1):
        client.post(reverse("otp-confirm"), {"code": wrong})
    fresh = Client()  # the same address, signing in afresh: the password is known, the authenticator not
    assert sign_in(fresh, username="lee").status_code == 302
    assert signed_in(fresh)

    client.post(reverse("otp-confirm"), {"code": wrong})

    refused = client.post(reverse("otp-confirm"), {"code": _code(device)})
    assert "Try again after" in refused.context["forms"]["confirm"].errors["code"][0]


# --- unlocking: audited, from the admin and the command line ---------------------------------------


@pytest.fixture
def admin_client(make_user):
    admin = make_user(Role.ADMIN, username="root-admin")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client = Client(REMOTE_ADDR="198.51.100.99")
    client.force_login(admin)
    return client


def lock_riley(address="203.0.113.66"):
    for _ in range(LIMIT):
        sign_in(Client(REMOTE_ADDR=address), password="guess")


def test_admin_unlocks_a_user_with_a_ledger_event_and_the_user_gets_in(admin_client, riley):
    lock_riley(address="198.51.100.10")
    assert_locked_page(sign_in(Client(REMOTE_ADDR="198.51.100.10")))

    response = admin_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "unlock_sign_in", "_selected_action": [riley.pk]},
    )

    assert response.status_code == 302
    event = LedgerEvent.objects.get(verb="accounts.lockout_cleared")
    assert (event.actor_name, event.object_type, event.object_id) == ("root-admin", "accounts.user", str(riley.pk))
    assert event.before == {"username": "riley", "ip_address": "", "failures": LIMIT}
    assert event.client_ip == "198.51.100.99"
    assert sign_in(Client(REMOTE_ADDR="198.51.100.10")).status_code == 302


def test_admin_unlocks_an_address_from_the_attempts_list(admin_client, riley):
    for n in range(LIMIT):
        sign_in(Client(REMOTE_ADDR="203.0.113.66"), username=f"someone-{n}", password="guess")
    attempt = AccessAttempt.objects.first()

    admin_client.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "unlock_addresses", "_selected_action": [attempt.pk]},
    )

    event = LedgerEvent.objects.get(verb="accounts.lockout_cleared")
    assert event.before == {"username": "", "ip_address": "203.0.113.66", "failures": LIMIT}
    assert not AccessAttempt.objects.exists()
    assert sign_in(Client(REMOTE_ADDR="203.0.113.66")).status_code == 302


def test_the_attempts_admin_allows_no_unaudited_delete_or_edit(admin_client, riley):
    lock_riley()
    attempt = AccessAttempt.objects.get()

    changelist = admin_client.get(reverse("admin:axes_accessattempt_changelist"))
    delete = admin_client.post(reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"})
    bulk = admin_client.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )

    assert changelist.status_code == 200
    assert "delete_selected" not in changelist.content.decode()
    assert delete.status_code == 403
    assert bulk.status_code in (200, 302)
    assert AccessAttempt.objects.filter(pk=attempt.pk).exists()
    assert not LedgerEvent.objects.filter(verb="accounts.lockout_cleared").exists()


def test_staff_without_the_admin_role_cannot_unlock(make_user, riley):
    from django.contrib.auth.models import Permission

    clerk = make_user(Role.RESPONDER, username="clerk")
    clerk.is_staff = True
    clerk.save()
    clerk.user_permissions.add(*Permission.objects.filter(codename__in=["view_user", "change_user"]))
    lock_riley()
    client = Client()
    client.force_login(clerk)

    client.post(reverse("admin:accounts_user_changelist"), {"action": "unlock_sign_in", "_selected_action": [riley.pk]})

    assert AccessAttempt.objects.exists()
    assert not LedgerEvent.objects.filter(verb="accounts.lockout_cleared").exists()


def test_unlock_command_clears_the_lockout_with_a_ledger_event(make_user, riley):
    make_user(Role.ADMIN, username="ops-admin")
    lock_riley()

    call_command("unlock_sign_in", "--by", "ops-admin", "--username", "riley", "--reason", "called the helpdesk")

    event = LedgerEvent.objects.get(verb="accounts.lockout_cleared")
    assert (event.source, event.actor_name, event.reason) == ("command", "ops-admin", "called the helpdesk")
    assert sign_in(Client(REMOTE_ADDR="203.0.113.66")).status_code == 302


def test_unlock_refuses_a_bad_address_with_a_field_message(make_user, riley):
    from accounts import services
    from accounts.actor import Actor
    from config.errors import DomainError

    with pytest.raises(DomainError) as error:
        services.lockout_clear(actor=Actor(user=make_user(Role.ADMIN), source="web"), ip_address="not-an-ip")

    assert "ip_address" in error.value.fields
    assert not LedgerEvent.objects.filter(verb="accounts.lockout_cleared").exists()


# --- PostgreSQL: many wrong passwords at once are all counted -------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_wrong_passwords_sent_at_once_are_all_counted_and_lock(make_user):
    make_user(Role.RESPONDER, username="riley", password=PASSWORD)
    barrier = threading.Barrier(8)
    statuses = []

    def guess(n):
        try:
            barrier.wait()
            statuses.append(sign_in(Client(REMOTE_ADDR=f"203.0.113.{n + 1}"), password=f"guess-{n}").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(set(statuses)) in ([200, 429], [429], [200])
    assert sum(AccessAttempt.objects.values_list("failures_since_start", flat=True)) == 8  # no lost update
    assert_locked_page(sign_in(Client(REMOTE_ADDR="198.51.100.10")))
