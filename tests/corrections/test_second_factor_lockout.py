"""Tier-4 approval's second factor under the sign-in lockout (issue 8, point 5): wrong codes count
towards the approver's lockout, and a locked-out approver's code is refused however right it is."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.actor import Actor
from config.errors import DomainError
from corrections import services
from corrections.models import Approval

LIMIT = 5


@pytest.fixture(autouse=True)
def _no_device_delay(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's own per-device delay is tested elsewhere


@pytest.fixture
def withdrawal(make_incident, people, actor_for):
    incident = make_incident(by=people["responder"], severity="SEV1")
    return services.correction_request(
        actor=actor_for(people["commander"]), incident=incident, type="withdraw_model", deployment=None,
        params={"model": "atlas"}, rationale="Under way.",
    )  # fmt: skip


def test_wrong_codes_on_a_tier_4_approval_lock_the_approver(people, withdrawal, totp_for):
    code = totp_for(people["leader1"])
    client = Client(REMOTE_ADDR="203.0.113.40")
    client.force_login(people["leader1"])
    url = reverse("correction-approve", args=[withdrawal.pk])
    wrong = "000000" if code() != "000000" else "111111"
    for _ in range(LIMIT):
        assert (
            client.post(
                url, {"confirm_target": "atlas", "otp": wrong, "content_hash": withdrawal.content_hash}
            ).status_code
            == 400
        )

    refused = client.post(url, {"confirm_target": "atlas", "otp": code(), "content_hash": withdrawal.content_hash})

    assert refused.status_code == 400
    assert "Try again after" in refused.context["forms"]["approve"].errors["otp"][0]
    assert not Approval.objects.exists()
    people["leader1"].set_password("pw-123456!")
    people["leader1"].save()
    sign_in = Client(REMOTE_ADDR="198.51.100.10").post(
        "/accounts/login/", {"username": people["leader1"].username, "password": "pw-123456!"}
    )
    assert sign_in.status_code == 429  # the person's sign-in is locked too


def test_a_locked_out_username_cannot_pass_the_second_factor(people, withdrawal, totp_for):
    code = totp_for(people["leader1"])
    for n in range(LIMIT):
        Client(REMOTE_ADDR=f"203.0.113.{n + 1}").post(
            "/accounts/login/", {"username": people["leader1"].username, "password": "guess"}
        )
    actor = Actor(user=people["leader1"], source="web", client_ip="198.51.100.10")

    with pytest.raises(DomainError) as error:
        services.correction_approve(
            actor=actor,
            correction=withdrawal,
            confirm_target="atlas",
            otp=code(),
            content_hash=withdrawal.content_hash,
        )

    assert "Try again after" in error.value.fields["otp"][0]
    assert not Approval.objects.exists()


def test_wrong_codes_from_a_locked_address_are_refused_for_another_approver(people, withdrawal, totp_for):
    totp_for(people["leader1"])
    code2 = totp_for(people["leader2"])
    shared = "203.0.113.40"
    for _ in range(LIMIT):
        with pytest.raises(DomainError):
            services.correction_approve(
                actor=Actor(user=people["leader1"], source="web", client_ip=shared), correction=withdrawal,
                confirm_target="atlas", otp="12345", content_hash=withdrawal.content_hash,
            )  # fmt: skip

    with pytest.raises(DomainError) as error:
        services.correction_approve(
            actor=Actor(user=people["leader2"], source="web", client_ip=shared), correction=withdrawal,
            confirm_target="atlas", otp=code2(), content_hash=withdrawal.content_hash,
        )  # fmt: skip

    assert "Try again after" in error.value.fields["otp"][0]
