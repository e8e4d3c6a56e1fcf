"""The provider's routes: its sign-in form, django-oauth-toolkit under /o/, and a test-only admin
endpoint (bearer token from the harness) to create people, set their groups and register clients."""

import json
import os
import secrets

from django.contrib.auth import views as auth_views
from django.contrib.auth.models import Group, User
from django.http import HttpResponseForbidden, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from oauth2_provider.models import Application


def _admin(view):
    @csrf_exempt
    @require_POST
    def wrapped(request):
        expected = "Bearer " + os.environ["IDP_ADMIN_TOKEN"]
        if not secrets.compare_digest(request.headers.get("Authorization", ""), expected):
            return HttpResponseForbidden("no")
        return JsonResponse(view(json.loads(request.body)))

    return wrapped


@_admin
def put_user(data):
    user, _ = User.objects.get_or_create(username=data["username"])
    user.email = data.get("email", "")
    user.first_name = data.get("first_name", "")
    user.last_name = data.get("last_name", "")
    user.set_password(data["password"])
    user.save()
    user.groups.set([Group.objects.get_or_create(name=name)[0] for name in data.get("groups", [])])
    return {"sub": str(user.pk)}


@_admin
def put_client(data):
    Application.objects.update_or_create(
        client_id=data["client_id"],
        defaults={
            "name": "Failsafe",
            "client_secret": data["client_secret"],
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": " ".join(data["redirect_uris"]),
            "skip_authorization": True,
            "algorithm": Application.RS256_ALGORITHM,
        },
    )
    return {"client_id": data["client_id"]}


urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("test-admin/users/", put_user),
    path("test-admin/clients/", put_client),
]
