"""Admin for people and API tokens. Role (group) changes are recorded on the ledger."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import transaction

from accounts.actor import Actor
from accounts.models import ApiToken, User
from incidents import ledger


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "display_name", "email", "role_names", "is_active", "is_staff", "last_login")
    list_filter = ("groups", "is_active", "is_staff", "is_superuser")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="roles")
    def role_names(self, user: User) -> str:
        return ", ".join(sorted(group.name for group in user.groups.all())) or "—"

    @admin.display(description="name")
    def display_name(self, user: User) -> str:
        return user.get_full_name()

    def save_related(self, request, form, formsets, change):
        user = form.instance
        before = sorted(user.groups.values_list("name", flat=True)) if change else []
        super().save_related(request, form, formsets, change)
        after = sorted(user.groups.values_list("name", flat=True))
        if before != after:
            # The admin's change view is one transaction: the event commits with the change.
            with transaction.atomic():
                ledger.record(
                    actor=Actor.from_request(request),
                    verb="accounts.roles_changed",
                    obj=user,
                    before={"user": user.username, "roles": before},
                    after={"user": user.username, "roles": after},
                )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created through the API (the key is shown once); here they are listed and deleted."""

    list_display = ("prefix_display", "name", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "name", "user__username")
    list_select_related = ("user",)
    fields = ("prefix_display", "name", "user", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields  # never key_hash

    @admin.display(description="token")
    def prefix_display(self, token: ApiToken) -> str:
        return f"{token.prefix}…"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
