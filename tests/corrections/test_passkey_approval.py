"""A passkey confirms a tier-4 approval (issue 14, item 2): only its owner's answer, only to a
challenge issued for THAT correction as reviewed, only once, only while fresh. A refused answer
counts towards the approver's lockout like a wrong code; the authenticator app's code stays the
fallback, and the API keeps asking for it."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import passkeys
from accounts.actor import Actor
from accounts.models import LedgerEvent, PasskeyChallenge
from config.errors import DomainError
from corrections import services
from corrections.models import Approval
from tests.soft_passkey import ORIGIN, RP_ID, SoftPasskey, enrol

LIMIT = 5  # the sign-in lockout's failure limit in tests (see test_second_factor_lockout)


@pytest.fixture(autouse=True)
def _relying_party(settings):
    settings.OTP_WEBAUTHN_RP_ID = RP_ID
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [ORIGIN]


def withdraw(actor_for, make_incident, people, model="atlas"):
    incident = make_incident(by=people["responder"], severity="SEV1")
    return services.correction_request(
        actor=actor_for(people["commander"]), incident=incident, type="withdraw_model", deployment=None,
        params={"model": model}, rationale="Under way.",
    )  # fmt: skip


@pytest.fixture
def withdrawal(actor_for, make_incident, people):
    return withdraw(actor_for, make_incident, people)


def web(user, ip="198.51.100.7") -> Actor:
    return Actor(user=user, source="web", client_ip=ip)


def answer_for(user, correction, key: SoftPasskey) -> str:
    options = services.correction_passkey_challenge(actor=web(user), correction=correction)
    return key.get(options)


def approve(user, correction, **factor):
    return services.correction_approve(actor=web(user), correction=correction, content_hash=correction.content_hash,
                                       confirm_target="atlas", **factor)  # fmt: skip


def test_a_leader_approves_a_tier_4_request_with_a_passkey(people, withdrawal):
    key = enrol(web(people["leader1"]))

    approve(people["leader1"], withdrawal, passkey=answer_for(people["leader1"], withdrawal, key))

    approval = Approval.objects.get(correction=withdrawal)
    assert approval.approver == people["leader1"] and approval.second_factor_verified
    event = LedgerEvent.objects.filter(verb="correction.approval_given").latest("seq")
    assert event.after["second_factor_kind"] == "passkey"


def test_an_answer_already_spent_cannot_approve_again(people, withdrawal):
    key = enrol(web(people["leader1"]))
    answer = answer_for(people["leader1"], withdrawal, key)
    purpose = passkeys.approval_purpose(withdrawal.pk, withdrawal.content_hash)
    passkeys.passkey_verify(actor=web(people["leader1"]), purpose=purpose, answer=answer)  # a first submission

    with pytest.raises(DomainError) as refused:
        approve(people["leader1"], withdrawal, passkey=answer)  # the same answer, replayed

    assert refused.value.fields == {"passkey": [passkeys.REFUSED]}
    assert not Approval.objects.exists()


def test_another_leaders_answer_is_refused(people, withdrawal):
    key = enrol(web(people["leader1"]))
    enrol(web(people["leader2"]))
    stolen = answer_for(people["leader1"], withdrawal, key)

    with pytest.raises(DomainError) as refused:
        approve(people["leader2"], withdrawal, passkey=stolen)

    assert "passkey" in refused.value.fields
    assert not Approval.objects.exists()
    approve(people["leader1"], withdrawal, passkey=stolen)  # still its owner's to use
    assert Approval.objects.get().approver == people["leader1"]


def test_another_leaders_passkey_cannot_sign_my_challenge(people, withdrawal):
    their_key = enrol(web(people["leader1"]))
    enrol(web(people["leader2"]))
    # leader2's own challenge, signed by leader1's passkey (a colleague lending a security key).
    options = services.correction_passkey_challenge(actor=web(people["leader2"]), correction=withdrawal)

    with pytest.raises(DomainError):
        approve(people["leader2"], withdrawal, passkey=their_key.get(options))

    assert not Approval.objects.exists()


def test_an_answer_for_one_correction_cannot_approve_another(actor_for, make_incident, people, withdrawal):
    other = withdraw(actor_for, make_incident, people)
    key = enrol(web(people["leader1"]))

    with pytest.raises(DomainError) as refused:
        approve(people["leader1"], other, passkey=answer_for(people["leader1"], withdrawal, key))

    assert "passkey" in refused.value.fields
    assert not Approval.objects.exists()


def test_an_answer_for_the_content_before_an_edit_is_refused(actor_for, people, withdrawal):
    key = enrol(web(people["leader1"]))
    answer = answer_for(people["leader1"], withdrawal, key)
    services.correction_edit(actor=actor_for(people["commander"]), correction=withdrawal, duration_minutes=30)
    withdrawal.refresh_from_db()

    with pytest.raises(DomainError) as refused:
        approve(people["leader1"], withdrawal, passkey=answer)  # reviewed again, but signed for the old content

    assert "passkey" in refused.value.fields
    assert not Approval.objects.exists()


def test_a_stale_answer_is_refused(people, withdrawal, settings):
    key = enrol(web(people["leader1"]))
    answer = answer_for(people["leader1"], withdrawal, key)
    too_old = timezone.now() - timedelta(seconds=settings.OTP_WEBAUTHN_TIMEOUT_SECONDS + 1)
    PasskeyChallenge.objects.filter(purpose__startswith="approve:").update(created_at=too_old)

    with pytest.raises(DomainError) as refused:
        approve(people["leader1"], withdrawal, passkey=answer)

    assert refused.value.fields == {"passkey": [passkeys.REFUSED]}


def test_an_answer_from_another_origin_or_with_a_forged_signature_is_refused(people, withdrawal):
    key = enrol(web(people["leader1"]))
    phished = key.get(services.correction_passkey_challenge(actor=web(people["leader1"]), correction=withdrawal),
                      origin="https://failsafe.example.net")  # fmt: skip
    impostor = SoftPasskey()  # claims the enrolled passkey's id, signs with another key
    impostor.credential_id = key.credential_id
    forged = answer_for(people["leader1"], withdrawal, impostor)

    for answer in (phished, forged, "not json", '{"response": {}}'):
        with pytest.raises(DomainError):
            approve(people["leader1"], withdrawal, passkey=answer)

    assert not Approval.objects.exists()


def test_refused_answers_count_towards_the_lockout(people, withdrawal):
    key = enrol(web(people["leader1"]))
    for _ in range(LIMIT):
        with pytest.raises(DomainError):
            approve(people["leader1"], withdrawal, passkey="not an answer")

    with pytest.raises(DomainError) as refused:
        approve(people["leader1"], withdrawal, passkey=answer_for(people["leader1"], withdrawal, key))

    assert "Try again after" in refused.value.fields["passkey"][0]
    assert not Approval.objects.exists()


def test_without_a_passkey_answer_the_code_is_required(people, withdrawal, totp_for):
    code = totp_for(people["leader1"])
    enrol(web(people["leader1"]), code=code())  # adding a passkey to an app needs the app's code
    TOTPDevice.objects.filter(user=people["leader1"]).update(last_t=-1)  # as if a new 30 s step had begun

    with pytest.raises(DomainError) as refused:
        approve(people["leader1"], withdrawal)
    assert "otp" in refused.value.fields

    approve(people["leader1"], withdrawal, otp=code())  # the fallback still works
    assert Approval.objects.get().second_factor_verified


def test_a_leader_with_only_a_passkey_is_told_to_use_it(people, withdrawal):
    enrol(web(people["leader1"]))

    with pytest.raises(DomainError) as refused:
        approve(people["leader1"], withdrawal, otp="123456")

    assert "passkey" in refused.value.fields["otp"][0]
    assert not Approval.objects.exists()


def test_only_someone_who_may_approve_gets_a_challenge(people, withdrawal):
    enrol(web(people["commander"]))  # the requester
    with pytest.raises(DomainError) as refused:
        services.correction_passkey_challenge(actor=web(people["commander"]), correction=withdrawal)
    assert refused.value.code == "conflict"
    assert not PasskeyChallenge.objects.filter(purpose__startswith="approve:").exists()


def test_the_page_offers_the_passkey_first_and_approves_with_its_answer(people, withdrawal):
    key = enrol(web(people["leader1"]))
    client = Client(REMOTE_ADDR="198.51.100.7")
    client.force_login(people["leader1"])
    page = client.get(reverse("correction-detail", args=[withdrawal.pk])).content.decode()
    assert page.index("Confirm with passkey") < page.index('name="otp"')

    options = client.post(reverse("correction-passkey-challenge", args=[withdrawal.pk])).json()
    response = client.post(reverse("correction-approve", args=[withdrawal.pk]), {
        "content_hash": withdrawal.content_hash, "confirm_target": "atlas", "passkey": key.get(options),
    })  # fmt: skip

    assert response.status_code == 302
    assert Approval.objects.get().approver == people["leader1"]


def test_the_api_keeps_the_code_and_takes_no_passkey(people, withdrawal, api_for):
    key = enrol(web(people["leader1"]))
    api = api_for(people["leader1"])
    url = f"/api/v1/corrections/{withdrawal.pk}/approve/"
    answer = answer_for(people["leader1"], withdrawal, key)

    response = api.post(url, {"content_hash": withdrawal.content_hash, "confirm_target": "atlas", "passkey": answer},
                        format="json")  # fmt: skip

    assert response.status_code == 400
    assert not Approval.objects.exists()


def test_an_oversized_answer_is_a_400_said_on_top_of_the_form(people, withdrawal):
    enrol(web(people["leader1"]))
    client = Client()
    client.force_login(people["leader1"])

    response = client.post(reverse("correction-approve", args=[withdrawal.pk]), {
        "content_hash": withdrawal.content_hash, "confirm_target": "atlas", "passkey": "x" * 20_000,
    })  # fmt: skip

    assert response.status_code == 400
    assert "could not be read" in str(response.context["forms"]["approve"].non_field_errors())
    assert not Approval.objects.exists()


def test_a_break_glass_withdrawal_is_ratified_with_a_passkey(make_incident, people):
    incident = make_incident(by=people["responder"], severity="SEV1")
    broken = services.correction_request(
        actor=web(people["leader1"]), incident=incident, type="withdraw_model", deployment=None,
        params={"model": "atlas"}, rationale="Exploited now.", break_glass=True, justification="Exploited right now.",
    )  # fmt: skip
    broken.refresh_from_db()
    assert broken.policy_at_request.requires_second_factor
    key = enrol(web(people["leader2"]))

    approve(people["leader2"], broken, passkey=answer_for(people["leader2"], broken, key))

    ratification = Approval.objects.get(correction=broken)
    assert ratification.ratifies_break_glass and ratification.second_factor_verified
