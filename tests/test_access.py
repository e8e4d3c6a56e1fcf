"""Deny by default: every page and endpoint declares what it needs, or this test fails."""

import pytest
from rest_framework.permissions import AllowAny

from accounts.access import ACCESS_ATTR
from tests.urlwalk import routes

OUR_APPS = ("accounts.", "incidents.", "corrections.", "config.")
# The schema and docs views take SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"] (signed-in users).
THIRD_PARTY_DECLARED = ("drf_spectacular.",)


ROUTES = list(routes())


def declared_permissions(view_class):
    """permission_classes set on the view class itself or a base class of ours, not by the default."""
    for klass in view_class.__mro__:
        if "permission_classes" in vars(klass) and klass.__module__.startswith(OUR_APPS):
            return vars(klass)["permission_classes"]
    return None


@pytest.mark.parametrize(("route", "callback"), ROUTES, ids=[r for r, _ in ROUTES])
def test_every_view_declares_its_access(route, callback):
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is not None and view_class.__module__.startswith(THIRD_PARTY_DECLARED):
        return
    if view_class is not None and hasattr(view_class, "permission_classes"):  # DRF
        permissions = declared_permissions(view_class)
        assert permissions is not None, f"{route}: {view_class.__name__} must set permission_classes"
        allowed_public = getattr(view_class, "public_endpoint", False)
        assert AllowAny not in permissions or allowed_public, f"{route}: AllowAny without public_endpoint = True"
        return
    assert hasattr(callback, ACCESS_ATTR), (
        f"{route}: page view {callback.__module__}.{callback.__name__} must "
        "be decorated with accounts.access.role_required or public"
    )


def test_schema_and_docs_need_a_signed_in_user(client):
    from django.conf import settings

    assert settings.SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"] == ["rest_framework.permissions.IsAuthenticated"]
    assert client.get("/api/schema/").status_code in (401, 403)
