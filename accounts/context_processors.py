def roles(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"user_roles": frozenset(), "user_can_write": False}
    return {"user_roles": user.roles, "user_can_write": user.can_write}
