"""Admin pages for where notifications go: Slack channel per role, people's Slack ids, webhook
endpoints. Admin role only; every change goes through incidents.channels.services (ledgered)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import models

from accounts.actor import Actor
from accounts.roles import Role
from config.errors import DomainError
from incidents.channels import services
from incidents.models import EVENT_NAMES, SlackIdentity, SlackRoleChannel, WebhookEndpoint


class AdminRoleOnly(admin.ModelAdmin):
    """Staff without the admin role (a superuser included) see nothing here: the services refuse them."""

    def _is_admin(self, request) -> bool:
        return request.user.is_active and request.user.has_role(Role.ADMIN)

    def has_module_permission(self, request):
        return self._is_admin(request)

    def has_view_permission(self, request, obj=None):
        return self._is_admin(request)

    def has_add_permission(self, request):
        return self._is_admin(request)

    def has_change_permission(self, request, obj=None):
        return self._is_admin(request)

    def has_delete_permission(self, request, obj=None):
        return self._is_admin(request)


def _check(form: forms.ModelForm, field: str, pattern) -> str:
    value = (form.cleaned_data.get(field) or "").strip()
    if value and not pattern.match(value):
        raise forms.ValidationError({field: "Not a Slack id: channels look like C0123456789, members U0123456789."})
    return value


class SlackRoleChannelForm(forms.ModelForm):
    class Meta:
        model = SlackRoleChannel
        fields = ["role", "channel_id"]

    def clean(self):
        cleaned = super().clean()
        cleaned["channel_id"] = _check(self, "channel_id", services.SLACK_CHANNEL_ID)
        return cleaned


@admin.register(SlackRoleChannel)
class SlackRoleChannelAdmin(AdminRoleOnly):
    form = SlackRoleChannelForm
    list_display = ("role", "channel_id", "updated_by", "updated_at")
    list_select_related = ("updated_by",)

    def save_model(self, request, obj, form, change):
        if change and "role" in form.changed_data:
            services.slack_role_channel_remove(actor=Actor.from_request(request), role=form.initial["role"])
        saved = services.slack_role_channel_set(
            actor=Actor.from_request(request),
            role=form.cleaned_data["role"],
            channel_id=form.cleaned_data["channel_id"],
        )
        obj.pk, obj.updated_by, obj.updated_at = saved.pk, saved.updated_by, saved.updated_at

    def delete_model(self, request, obj):
        services.slack_role_channel_remove(actor=Actor.from_request(request), role=obj.role)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class SlackIdentityForm(forms.ModelForm):
    class Meta:
        model = SlackIdentity
        fields = ["user", "member_id"]

    def clean(self):
        cleaned = super().clean()
        cleaned["member_id"] = _check(self, "member_id", services.SLACK_MEMBER_ID)
        return cleaned


@admin.register(SlackIdentity)
class SlackIdentityAdmin(AdminRoleOnly):
    form = SlackIdentityForm
    list_display = ("user", "member_id")
    list_select_related = ("user",)
    search_fields = ("user__username", "member_id")

    def save_model(self, request, obj, form, change):
        actor = Actor.from_request(request)
        if change and "user" in form.changed_data:
            services.slack_identity_set(actor=actor, user=form.initial_user, member_id="")
        saved = services.slack_identity_set(actor=actor, user=form.cleaned_data["user"], member_id=obj.member_id)
        if saved is not None:
            obj.pk = saved.pk

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.initial_user = obj.user if obj is not None else None
        return form

    def delete_model(self, request, obj):
        services.slack_identity_set(actor=Actor.from_request(request), user=obj.user, member_id="")

    def delete_queryset(self, request, queryset):
        for obj in queryset.select_related("user"):
            self.delete_model(request, obj)


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(choices=[(e, e) for e in EVENT_NAMES], widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "events"]  # and the url, declared above

    def clean_url(self):
        try:
            return services.webhook_url_checked(self.cleaned_data["url"])
        except DomainError as error:
            raise forms.ValidationError(error.message) from error


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(AdminRoleOnly):
    """Created here or through the API; then read-only but for the actions (rotate, disable)."""

    form = WebhookEndpointForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("name", "url", "events", "active", "created_at", "secret_rotated_at")
    list_filter = ("active",)
    actions = ["rotate_secret", "disable"]
    readonly_fields = ("created_by", "created_at", "active", "secret_rotated_at", "disabled_at")

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "name", "url", "events") if obj is not None else self.readonly_fields

    def get_fields(self, request, obj=None):
        return ["name", "url", "events"] if obj is None else ["name", "url", "events", *self.readonly_fields]

    def has_delete_permission(self, request, obj=None):
        return False  # disable instead: the ledger keeps naming it

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        endpoint = services.webhook_endpoint_create(
            actor=Actor.from_request(request), name=data["name"], url=data["url"], events=list(data["events"])
        )
        obj.pk, obj.secret, obj.created_by, obj.created_at = (
            endpoint.pk,
            endpoint.secret,
            endpoint.created_by,
            endpoint.created_at,
        )
        self._show_secret(request, endpoint)

    def _show_secret(self, request, endpoint: WebhookEndpoint) -> None:
        self.message_user(
            request,
            f"Secret of “{endpoint.name}”, shown this once — store it where the receiver verifies signatures: "
            f"{endpoint.secret}",
            messages.WARNING,
        )

    @admin.action(description="Rotate the secret (shown once)")
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            rotated = services.webhook_endpoint_rotate_secret(actor=Actor.from_request(request), endpoint=endpoint)
            self._show_secret(request, rotated)

    @admin.action(description="Disable (stop delivering)")
    def disable(self, request, queryset):
        for endpoint in queryset:
            services.webhook_endpoint_disable(actor=Actor.from_request(request), endpoint=endpoint)
        self.message_user(request, f"Disabled {queryset.count()} endpoint(s).")
