import pytest
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.roles import Role
from incidents.models import CustomerAccount


@pytest.fixture
def accounts(db):
    return [
        CustomerAccount.objects.get_or_create(account_id=a, defaults={"tier": t})[0]
        for a, t in (("acct-alice", "verified"), ("acct-bob", "standard"), ("acct-mallory", "free"))
    ]


@pytest.fixture
def people(make_user):
    """One person per role, plus a second leader and a second commander."""
    return {
        "responder": make_user(Role.RESPONDER),
        "commander": make_user(Role.INCIDENT_COMMANDER),
        "commander2": make_user(Role.INCIDENT_COMMANDER),
        "leader1": make_user(Role.LEADERSHIP),
        "leader2": make_user(Role.LEADERSHIP),
        "leader3": make_user(Role.LEADERSHIP),
        "auditor": make_user(Role.AUDITOR),
        "admin": make_user(Role.ADMIN),
    }


@pytest.fixture
def totp_for():
    """Enrol a confirmed TOTP device for a user; returns a function giving its current code."""

    def enrol(user):
        device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)

        def code() -> str:
            totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
            totp.time = timezone.now().timestamp()
            return f"{totp.token():0{device.digits}d}"

        return code

    return enrol
