"""Configuring an actuator and checking its readiness, against a real sandbox gateway process."""

from accounts.actor import Actor
from accounts.models import LedgerEvent
from corrections import dispatch, services
from tests.corrections import gateway_fixture

sandbox_gateway = gateway_fixture.sandbox_gateway


def test_readiness_check_calls_health_and_records_the_result(db, registry, sandbox_gateway, make_user, actor_for):
    admin = make_user("admin")
    actuator = services.actuator_configure(
        actor=actor_for(admin), deployment=registry["atlas-api"], base_url=sandbox_gateway.base_url,
        secret=sandbox_gateway.secret,
    )  # fmt: skip
    checked = dispatch.actuator_check_readiness(actor=actor_for(admin), actuator=actuator)
    assert checked.ready and checked.check_detail == "ready"

    services.actuator_configure(actor=actor_for(admin), deployment=registry["atlas-api"],
                                base_url=sandbox_gateway.base_url, secret="not-the-secret")  # fmt: skip
    checked = dispatch.actuator_check_readiness(actor=actor_for(admin), actuator=actuator)
    assert not checked.ready and "401" in checked.check_detail


def test_the_secret_never_reaches_the_ledger(db, registry, make_user, actor_for):
    services.actuator_configure(actor=actor_for(make_user("admin")), deployment=registry["atlas-chat"],
                                base_url="https://control.example/failsafe", secret="s3cr3t-value-XYZ")  # fmt: skip
    event = LedgerEvent.objects.get(verb="actuator.configured")
    assert event.after["secret_changed"] is True
    assert "s3cr3t-value-XYZ" not in str(event.after) + str(event.before)


def test_only_admins_configure_actuators(db, registry, make_user):
    import pytest

    from config.errors import DomainError

    with pytest.raises(DomainError) as err:
        services.actuator_configure(
            actor=Actor(user=make_user("leadership"), source="web"), deployment=registry["atlas-api"],
            base_url="https://x.example", secret="s",
        )  # fmt: skip
    assert err.value.code == "forbidden"
