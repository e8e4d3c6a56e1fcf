import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken, LedgerEvent
from accounts.roles import Role


@pytest.fixture
def signed_in(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


def test_login_page_is_public(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b"csrfmiddlewaretoken" in response.content


def test_pages_redirect_anonymous_visitors_to_login(client, db):
    for url in ("/", "/incidents/", "/incidents/new/", "/signals/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_login_with_the_right_password_opens_the_dashboard(client, make_user):
    make_user(Role.RESPONDER, username="riley", password="correct-horse-9")
    response = client.post(reverse("login"), {"username": "riley", "password": "correct-horse-9"})
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200


def test_login_with_a_wrong_password_shows_an_error(client, make_user):
    make_user(Role.RESPONDER, username="riley", password="correct-horse-9")
    response = client.post(reverse("login"), {"username": "riley", "password": "wrong"})
    assert response.status_code == 200
    assert b"form-errors" in response.content
    assert "_auth_user_id" not in client.session


def test_login_honours_next(client, make_user):
    make_user(Role.RESPONDER, username="riley", password="correct-horse-9")
    response = client.post(
        reverse("login") + "?next=/signals/", {"username": "riley", "password": "correct-horse-9", "next": "/signals/"}
    )
    assert response["Location"] == "/signals/"


def test_logout_by_post_signs_out(signed_in, make_user):
    client = signed_in(make_user(Role.RESPONDER))
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert client.get("/").status_code == 302


def test_logout_by_get_is_refused(signed_in, make_user):
    client = signed_in(make_user(Role.RESPONDER))
    assert client.get(reverse("logout")).status_code == 405
    assert client.get("/").status_code == 200


def test_logout_needs_a_csrf_token(make_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user(Role.RESPONDER))
    assert client.post(reverse("logout")).status_code == 403


def test_header_shows_the_user_their_roles_and_a_logout_button(signed_in, make_user):
    user = make_user(Role.INCIDENT_COMMANDER)
    user.first_name, user.last_name = "Casey", "Commander"
    user.save()
    content = signed_in(user).get("/").content.decode()
    assert "Casey Commander" in content
    assert "incident commander" in content
    assert f'action="{reverse("logout")}"' in content
    assert 'class="header-extra"' in content


def test_a_user_without_a_role_is_refused_but_can_sign_out(signed_in, make_user):
    client = signed_in(make_user(None))
    response = client.get("/")
    assert response.status_code == 403
    assert f'action="{reverse("logout")}"'.encode() in response.content
    assert client.post(reverse("logout")).status_code == 302


# --- admin ---------------------------------------------------------------------------------------


@pytest.fixture
def admin_client_for(client, make_user):
    user = make_user(Role.ADMIN)
    user.is_staff = user.is_superuser = True
    user.save()
    client.force_login(user)
    return client


def test_token_admin_shows_the_prefix_and_never_the_hash(admin_client_for, make_user):
    key = ApiToken.new_key()
    token = ApiToken.objects.create(
        user=make_user(Role.RESPONDER), prefix=key[:8], key_hash=ApiToken.hash_key(key), name="monitor"
    )
    listing = admin_client_for.get(reverse("admin:accounts_apitoken_changelist")).content.decode()
    detail = admin_client_for.get(reverse("admin:accounts_apitoken_change", args=[token.pk])).content.decode()
    for page in (listing, detail):
        assert token.prefix in page
        assert token.key_hash not in page
        assert key not in page
    assert admin_client_for.get(reverse("admin:accounts_apitoken_add")).status_code == 403


def test_role_change_in_the_admin_is_a_ledger_event(admin_client_for, make_user):
    from django.contrib.auth.models import Group

    user = make_user(Role.RESPONDER)
    url = reverse("admin:accounts_user_change", args=[user.pk])
    form = {
        "username": user.username,
        "email": user.email,
        "is_active": "on",
        "groups": [Group.objects.get(name=Role.INCIDENT_COMMANDER).pk],
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    response = admin_client_for.post(url, form)
    assert response.status_code == 302, response.content
    event = LedgerEvent.objects.get(verb="accounts.roles_changed")
    assert event.before == {"user": user.username, "roles": ["responder"]}
    assert event.after == {"user": user.username, "roles": ["incident_commander"]}
