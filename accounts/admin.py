"""Admin for people, API tokens and sign-in lockouts. Role changes and unlocks are recorded on the ledger."""

from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.admin import AccessLogAdmin as AxesAccessLogAdmin
from axes.models import AccessAttempt, AccessLog
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import transaction

from accounts import ledger, services
from accounts.actor import Actor
from accounts.events import AccountEvent
from accounts.models import ApiToken, User
from config.errors import DomainError


def _unlock(modeladmin, request, pairs) -> None:
    """Clear each (username, address) lockout through the audited service and say what happened."""
    actor = Actor.from_request(request)
    forgiven = 0
    try:
        for username, address in sorted(set(pairs), key=str):
            forgiven += services.lockout_clear(actor=actor, username=username or "", ip_address=address or "")
    except DomainError as error:
        modeladmin.message_user(request, error.message, messages.ERROR)
        return
    modeladmin.message_user(request, f"Sign-in unlocked; {forgiven} failed attempt(s) forgiven.", messages.SUCCESS)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "display_name", "email", "role_names", "is_active", "is_staff", "last_login")
    list_filter = ("groups", "is_active", "is_staff", "is_superuser")
    actions = ["unlock_sign_in"]
    fieldsets = (*DjangoUserAdmin.fieldsets, ("Preferences", {"fields": ("time_zone",)}))

    @admin.action(description="Clear the sign-in lockout of the selected users")
    def unlock_sign_in(self, request, queryset):
        _unlock(self, request, [(user.username, "") for user in queryset])

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
                    verb=AccountEvent.ROLES_CHANGED,
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


@admin.register(AccessAttempt)
class AccessAttemptAdmin(AxesAccessAttemptAdmin):
    """Failed sign-ins (django-axes). Read-only: a lockout is cleared only by the audited actions."""

    actions = ["unlock_usernames", "unlock_addresses"]

    @admin.action(description="Unlock the usernames of the selected attempts (from every address)")
    def unlock_usernames(self, request, queryset):
        _unlock(self, request, [(attempt.username, "") for attempt in queryset if attempt.username])

    @admin.action(description="Unlock the addresses of the selected attempts (for every username)")
    def unlock_addresses(self, request, queryset):
        _unlock(self, request, [("", attempt.ip_address) for attempt in queryset if attempt.ip_address])

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AccessLog)
class AccessLogAdmin(AxesAccessLogAdmin):
    """Successful sign-ins and sign-outs (django-axes), read-only."""

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
