import re
import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware
from django.utils import timezone
from django.utils.cache import patch_cache_control

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    """Pages need a signed-in user unless marked @login_not_required.

    The API authenticates with tokens inside DRF and denies by default there
    (DEFAULT_PERMISSION_CLASSES), so this middleware leaves /api/ to it.
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class NoStoreWhenSignedInMiddleware:
    """Pages and API answers for a signed-in person are never stored by a browser or a proxy:
    a restricted incident must not survive sign-out in a shared machine's cache or back button.

    Static files never get here (WhiteNoise answers them higher up the stack). A token-signed
    API request counts: DRF sets request.user on the Django request when it authenticates.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, no_store=True, private=True)
        return response


class RequestIdMiddleware:
    """Tags each request with an id that ledger events carry (honours X-Request-ID)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


class TimeZoneMiddleware:
    """Pages show times in the signed-in person's own time zone (User.time_zone); UTC otherwise."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        name = getattr(user, "time_zone", "") if user is not None and user.is_authenticated else ""
        try:
            timezone.activate(ZoneInfo(name)) if name else timezone.deactivate()
        except (ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
