"""Single sign-on against a real OpenID Connect provider (tests/idp, django-oauth-toolkit) started
for the session: its own sign-in form, RS256 ID tokens, userinfo and discovery. No mocked token.

Failsafe runs in-process (the test client); it calls the provider's token, userinfo and JWKS
endpoints over real HTTP.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts import sso
from accounts.events import AccountEvent
from accounts.models import LedgerEvent, SsoIdentity, User
from accounts.roles import Role
from tests.idp.harness import idp  # noqa: F401 - the session's provider

CALLBACK = "http://testserver/accounts/sso/callback/"


@pytest.fixture
def provider(idp, settings, db):  # noqa: F811
    for name, value in idp.settings_for_failsafe().items():
        setattr(settings, name, value)
    idp.register_client(CALLBACK)
    return idp


def start(client: Client) -> str:
    response = client.get(reverse("sso-start"))
    assert response.status_code == 302, response.content
    return response["Location"]


def come_back(client: Client, callback_url: str):
    assert callback_url.startswith(CALLBACK), callback_url
    return client.get(callback_url.removeprefix("http://testserver"))


def sign_in(client: Client, provider, username: str):
    return come_back(client, provider.sign_in(start(client), username))


def signed_in_user(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def roles_of(user: User) -> set[str]:
    return set(User.objects.get(pk=user.pk).groups.values_list("name", flat=True))


def verbs() -> list[str]:
    return list(LedgerEvent.objects.values_list("verb", flat=True))


def test_first_sign_in_creates_the_account_with_roles_from_the_groups_claim(provider, client):
    subject = provider.put_user("sam.okafor", groups=["ai-safety-oncall", "staff"], email="sam@corp.example",
                                first_name="Sam", last_name="Okafor")  # fmt: skip
    response = sign_in(client, provider, "sam.okafor")
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")
    user = signed_in_user(client)
    assert user is not None and user.username == "sam.okafor"
    assert (user.email, user.get_full_name()) == ("sam@corp.example", "Sam Okafor")
    assert roles_of(user) == {"responder"}
    assert not user.has_usable_password()
    assert SsoIdentity.objects.get(user=user).subject == subject
    assert client.get(reverse("dashboard")).status_code == 200
    created = LedgerEvent.objects.get(verb=AccountEvent.SSO_ACCOUNT_CREATED)
    assert created.after["subject"] == subject and created.actor_name == "sam.okafor"
    assert LedgerEvent.objects.get(verb=AccountEvent.ROLES_CHANGED).after["roles"] == ["responder"]


def test_plain_role_names_in_the_claim_are_roles_unless_switched_off(provider, client, settings):
    provider.put_user("ada", groups=["auditor"])
    assert sign_in(client, provider, "ada").status_code == 302
    assert roles_of(signed_in_user(client)) == {"auditor"}
    settings.FAILSAFE_OIDC_ROLE_NAMES = False
    other = Client()
    response = sign_in(other, provider, "ada")
    assert response.status_code == 403
    assert signed_in_user(other) is None
    assert roles_of(User.objects.get(username="ada")) == set()


def test_a_user_whose_groups_map_to_no_role_gets_the_no_role_page_and_no_session(provider, client):
    provider.put_user("mo.marketing", groups=["marketing", "staff"])
    response = sign_in(client, provider, "mo.marketing")
    assert response.status_code == 403
    text = response.content.decode()
    assert "You have no role in Failsafe yet" in text
    assert "the AI safety operations team (#ai-safety-ops)" in text
    assert "_auth_user_id" not in client.session
    assert not User.objects.filter(username="mo.marketing").exists()
    refused = LedgerEvent.objects.get(verb=AccountEvent.SSO_SIGN_IN_REFUSED)
    assert refused.after["code"] == "no_role" and refused.after["claim_values"] == ["marketing", "staff"]
    assert client.get(reverse("dashboard")).status_code == 302  # still anonymous: off to the sign-in page


def test_role_changes_at_the_provider_apply_at_the_next_sign_in_and_removal_too(provider):
    provider.put_user("lee", groups=["ai-safety-oncall"])
    first = Client()
    assert sign_in(first, provider, "lee").status_code == 302
    lee = signed_in_user(first)
    assert roles_of(lee) == {"responder"}

    provider.put_user("lee", groups=["ai-safety-execs", "auditor"])
    assert roles_of(lee) == {"responder"}  # nothing changes until lee signs in again
    second = Client()
    assert sign_in(second, provider, "lee").status_code == 302
    assert signed_in_user(second) == lee
    assert roles_of(lee) == {"leadership", "auditor"}
    change = LedgerEvent.objects.filter(verb=AccountEvent.ROLES_CHANGED).last()
    assert change.before["roles"] == ["responder"] and change.after["roles"] == ["auditor", "leadership"]

    provider.put_user("lee", groups=[])
    third = Client()
    response = sign_in(third, provider, "lee")
    assert response.status_code == 403 and b"no role" in response.content
    assert roles_of(lee) == set()
    assert signed_in_user(third) is None
    assert verbs()[-2:] == [AccountEvent.ROLES_CHANGED, AccountEvent.SSO_SIGN_IN_REFUSED]


def test_groups_outside_the_five_roles_are_left_alone(provider, client):
    provider.put_user("kim", groups=["ai-safety-oncall"])
    sign_in(client, provider, "kim")
    kim = signed_in_user(client)
    kim.groups.add(Group.objects.create(name="book-club"))
    provider.put_user("kim", groups=["ai-safety-execs"])
    sign_in(Client(), provider, "kim")
    assert roles_of(kim) == {"leadership", "book-club"}


def test_a_tampered_state_is_refused_with_a_400(provider, client):
    provider.put_user("tam", groups=["responder"])
    callback = provider.sign_in(start(client), "tam")
    parts = urlsplit(callback)
    query = dict(parse_qsl(parts.query))
    query["state"] = query["state"][::-1]
    response = come_back(client, f"{CALLBACK}?{urlencode(query)}")
    assert response.status_code == 400
    assert b"Start again" in response.content
    assert signed_in_user(client) is None


def test_a_replayed_callback_is_refused_in_the_same_browser_and_in_another(provider, client):
    provider.put_user("rey", groups=["responder"])
    callback = provider.sign_in(start(client), "rey")
    assert come_back(client, callback).status_code == 302
    client.post(reverse("logout"))
    assert come_back(client, callback).status_code == 400
    assert signed_in_user(client) is None
    stranger = Client()
    assert come_back(stranger, callback).status_code == 400
    assert signed_in_user(stranger) is None


def test_a_code_used_once_cannot_sign_in_a_second_sign_in_attempt(provider, client):
    """An attacker who saw a callback URL starts a sign-in of their own and swaps the code in:
    the provider refuses the spent code; a page says so (4xx, not 500)."""
    provider.put_user("vic", groups=["responder"])
    used = dict(parse_qsl(urlsplit(provider.sign_in(start(client), "vic")).query))
    assert come_back(client, f"{CALLBACK}?{urlencode(used)}").status_code == 302

    attacker = Client()
    own = dict(parse_qsl(urlsplit(start(attacker)).query))  # the attacker's own state, in their session
    response = come_back(attacker, f"{CALLBACK}?{urlencode({'code': used['code'], 'state': own['state']})}")
    assert response.status_code == 400
    assert signed_in_user(attacker) is None


def test_an_error_from_the_provider_is_a_page_not_a_500(provider, client):
    state = dict(parse_qsl(urlsplit(start(client)).query))["state"]
    response = come_back(client, f"{CALLBACK}?error=access_denied&state={state}")
    assert response.status_code == 400
    assert b"did not sign you in (access_denied)" in response.content


def test_an_error_answer_from_elsewhere_does_not_sign_anyone_out(provider, client, make_user):
    client.force_login(make_user(Role.RESPONDER))
    response = client.get(f"{reverse('sso-callback')}?error=access_denied&state=not-ours")
    assert response.status_code == 400
    assert client.get(reverse("dashboard")).status_code == 200


def test_an_id_token_from_another_issuer_is_refused(provider, client, settings, caplog):
    """Endpoints given one by one (no discovery) and an issuer the provider's tokens do not name."""
    settings.FAILSAFE_OIDC_AUTHORIZATION_ENDPOINT = f"{provider.issuer}/authorize/"
    settings.FAILSAFE_OIDC_TOKEN_ENDPOINT = f"{provider.issuer}/token/"
    settings.FAILSAFE_OIDC_USERINFO_ENDPOINT = f"{provider.issuer}/userinfo/"
    settings.FAILSAFE_OIDC_JWKS_ENDPOINT = f"{provider.issuer}/.well-known/jwks.json"
    settings.FAILSAFE_OIDC_ISSUER = "https://login.other.example"
    provider.put_user("iss", groups=["responder"])
    response = sign_in(client, provider, "iss")
    assert response.status_code == 400
    assert b"could not be verified" in response.content
    assert "ID token from another issuer" in caplog.text
    assert signed_in_user(client) is None
    assert not User.objects.filter(username="iss").exists()


def test_an_unreachable_provider_is_a_502_page_not_a_500(client, db, settings):
    from tests.e2e.stack import free_port

    settings.FAILSAFE_OIDC_CLIENT_ID = "failsafe"
    settings.FAILSAFE_OIDC_CLIENT_SECRET = "secret"
    settings.FAILSAFE_OIDC_ISSUER = f"http://127.0.0.1:{free_port()}/nobody-here"
    settings.FAILSAFE_OIDC_TIMEOUT = 2
    response = client.get(reverse("sso-start"))
    assert response.status_code == 502
    assert b"cannot be reached" in response.content


def test_a_provider_user_cannot_take_over_a_local_account_with_the_same_username(provider, client, make_user):
    local = make_user(Role.ADMIN, username="root-admin")
    subject = provider.put_user("root-admin", groups=["responder"])
    response = sign_in(client, provider, "root-admin")
    assert response.status_code == 403
    assert b"not linked" in response.content
    assert signed_in_user(client) is None
    assert roles_of(local) == {"admin"}
    assert not SsoIdentity.objects.exists()
    assert LedgerEvent.objects.get(verb=AccountEvent.SSO_SIGN_IN_REFUSED).after["code"] == "account_exists"

    # Once an administrator links the account to the subject, it signs in through the provider.
    call_command("sso_link", by="root-admin", username="root-admin", subject=subject)
    assert sign_in(client, provider, "root-admin").status_code == 302
    assert signed_in_user(client) == local
    assert roles_of(local) == {"responder"}
    assert AccountEvent.SSO_IDENTITY_LINKED in verbs()


def test_a_provider_user_cannot_take_over_a_local_account_with_the_same_email(provider, client, make_user):
    local = make_user(Role.LEADERSHIP, username="lena")
    provider.put_user("someone-else", groups=["responder"], email=local.email.upper())
    response = sign_in(client, provider, "someone-else")
    assert response.status_code == 403
    assert signed_in_user(client) is None
    assert not User.objects.filter(username="someone-else").exists()


def test_an_email_renamed_at_the_provider_neither_moves_nor_copies_another_account(provider, make_user):
    provider.put_user("ann", groups=["responder"], email="ann@corp.example")
    provider.put_user("bob", groups=["responder"], email="bob@corp.example")
    sign_in(Client(), provider, "ann")
    sign_in(Client(), provider, "bob")
    provider.put_user("bob", groups=["responder"], email="ann@corp.example")  # bob takes ann's address
    third = Client()
    assert sign_in(third, provider, "bob").status_code == 302
    bob = signed_in_user(third)
    assert bob.username == "bob" and bob.email == "bob@corp.example"
    assert User.objects.get(username="ann").email == "ann@corp.example"


def test_a_deactivated_account_stays_out_even_with_a_role_at_the_provider(provider, client):
    provider.put_user("gone", groups=["responder"])
    sign_in(Client(), provider, "gone")
    User.objects.filter(username="gone").update(is_active=False)
    response = sign_in(client, provider, "gone")
    assert response.status_code == 403 and b"switched off" in response.content
    assert signed_in_user(client) is None


def test_the_login_page_offers_the_provider_when_configured(provider, client):
    response = client.get(reverse("login"))
    assert b"Sign in with Test IdP" in response.content
    assert reverse("sso-start").encode() in response.content


def test_single_sign_on_is_off_unless_configured(client, db, settings):
    settings.FAILSAFE_OIDC_CLIENT_ID = ""
    assert b"Sign in with" not in client.get(reverse("login")).content
    assert client.get(reverse("sso-start")).status_code == 404
    assert client.get(reverse("sso-callback") + "?code=x&state=y").status_code == 404


def test_an_address_locked_out_by_password_guesses_is_refused_at_the_callback_too(provider, make_user):
    provider.put_user("lou", groups=["responder"])
    attacker = Client(REMOTE_ADDR="203.0.113.66")
    for n in range(settings_limit()):
        attacker.post(reverse("login"), {"username": f"someone-{n}", "password": "guess"})
    response = sign_in(attacker, provider, "lou")
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts" in response.content
    assert signed_in_user(attacker) is None
    assert sign_in(Client(REMOTE_ADDR="198.51.100.10"), provider, "lou").status_code == 302  # elsewhere: fine


def settings_limit() -> int:
    from django.conf import settings

    return settings.AXES_FAILURE_LIMIT


def test_a_role_map_naming_no_role_fails_the_system_check(settings):
    from django.core.management import CommandError

    settings.FAILSAFE_OIDC_ROLE_MAP = "ai-safety-oncall=superuser"
    with pytest.raises(CommandError, match="accounts.E101"):
        call_command("check")


# --- local passwords switched off ------------------------------------------------------------------


@pytest.fixture
def passwords_off(settings):
    settings.FAILSAFE_LOCAL_PASSWORDS = False
    settings.FAILSAFE_BREAK_GLASS_USERS = ["root-admin"]


def test_with_local_passwords_off_a_correct_password_is_refused_on_the_page(provider, passwords_off, client, make_user):
    make_user(Role.RESPONDER, username="riley", password="correct-horse-9")
    response = client.post(reverse("login"), {"username": "riley", "password": "correct-horse-9"})
    assert response.status_code == 200
    assert b"Everyone else signs in with Test IdP" in response.content
    assert signed_in_user(client) is None


def test_with_local_passwords_off_the_break_glass_admin_still_gets_in(provider, passwords_off, client, make_user):
    make_user(Role.ADMIN, username="root-admin", password="correct-horse-9")
    response = client.post(reverse("login"), {"username": "root-admin", "password": "correct-horse-9"})
    assert response.status_code == 302
    assert signed_in_user(client).username == "root-admin"


def test_with_local_passwords_off_the_admin_and_api_password_doors_are_shut_too(provider, passwords_off, make_user):
    make_user(Role.ADMIN, username="ops", password="correct-horse-9")
    client = Client()
    client.post("/admin/login/", {"username": "ops", "password": "correct-horse-9"})
    assert signed_in_user(client) is None
    response = client.post("/api/v1/auth/token/", {"username": "ops", "password": "correct-horse-9"},
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 400


def test_switching_local_passwords_off_ends_sessions_opened_by_password(provider, client, make_user, settings):
    riley = make_user(Role.RESPONDER, username="riley", password="correct-horse-9")
    client.post(reverse("login"), {"username": "riley", "password": "correct-horse-9"})
    assert client.get(reverse("dashboard")).status_code == 200
    settings.FAILSAFE_LOCAL_PASSWORDS = False
    settings.FAILSAFE_BREAK_GLASS_USERS = ["root-admin"]
    assert client.get(reverse("dashboard")).status_code == 302
    assert riley.is_active


def test_with_local_passwords_off_sso_still_signs_people_in(provider, passwords_off, client):
    provider.put_user("sso-only", groups=["responder"])
    assert sign_in(client, provider, "sso-only").status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200


# --- the claim mapping, as plain data ------------------------------------------------------------------


def test_role_map_accepts_several_roles_per_value_and_rejects_unknown_roles():
    from django.core.exceptions import ImproperlyConfigured

    mapping = sso.parse_role_map("sec=responder, sec=auditor ,cn=ops=x=leadership")
    assert mapping == {"sec": {Role.RESPONDER, Role.AUDITOR}, "cn=ops=x": {Role.LEADERSHIP}}
    with pytest.raises(ImproperlyConfigured, match="not a role"):
        sso.parse_role_map("sec=superuser")
    with pytest.raises(ImproperlyConfigured, match="claim-value=role"):
        sso.parse_role_map("responder")


def test_roles_claim_may_be_a_string_or_a_dotted_path():
    mapping = {"oncall": frozenset({Role.RESPONDER})}
    assert sso.roles_from_claims({"groups": "oncall"}, claim="groups", role_map=mapping, role_names=True) == {
        Role.RESPONDER
    }
    claims = {"realm_access": {"roles": ["auditor", 7, None]}}
    assert sso.roles_from_claims(claims, claim="realm_access.roles", role_map=mapping, role_names=True) == {
        Role.AUDITOR
    }
    assert sso.roles_from_claims(claims, claim="realm_access.roles", role_map=mapping, role_names=False) == set()
