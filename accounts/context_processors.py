from accounts.roles import AUDIT_ROLES


def roles(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"user_roles": frozenset(), "user_can_write": False, "user_can_audit": False}
    return {
        "user_roles": user.roles,
        "user_can_write": user.can_write,
        "user_can_audit": bool(user.roles & AUDIT_ROLES),
    }
