"""What each page needs, declared on the view. A test walks the URL configuration and fails on
any page view that declares nothing (deny by default).

    @role_required(READ_ROLES)      any of the five roles may open it (GET); auditors included
    @role_required(WRITE_ROLES)     only roles that may change things (auditors get 403)
    @public                         no sign-in (login page only)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied

from accounts.roles import ALL_ROLES, WRITER_ROLES, Role

READ_ROLES = frozenset(ALL_ROLES)
WRITE_ROLES = WRITER_ROLES
ACCESS_ATTR = "failsafe_access"


def role_required(roles: Iterable[Role], *, write_roles: Iterable[Role] | None = None) -> Callable:
    """Allow users holding any of `roles`. With `write_roles`, POST/PUT/PATCH/DELETE need one of those."""
    roles = frozenset(roles)
    write_roles = frozenset(write_roles) if write_roles is not None else None

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated or not (user.roles & roles):
                raise PermissionDenied("Your role does not give access to this page.")
            writing = request.method not in ("GET", "HEAD", "OPTIONS")
            if writing and write_roles is not None and not (user.roles & write_roles):
                raise PermissionDenied("Your role may read this but not change it.")
            return view(request, *args, **kwargs)

        setattr(
            wrapped,
            ACCESS_ATTR,
            {"roles": sorted(roles), "write_roles": sorted(roles if write_roles is None else write_roles)},
        )
        return wrapped

    return decorator


def public(view):
    view = login_not_required(view)
    setattr(view, ACCESS_ATTR, "public")
    return view
