"""Admin: the registry is edited here (each change is a ledger event); incidents, signals and the
ledger are read-only, because every change to them goes through incidents.services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.forms.models import BaseInlineFormSet
from django.template.response import TemplateResponse

from accounts import ledger
from accounts.actor import Actor
from accounts.models import LedgerEvent
from accounts.roles import Role
from config.errors import DomainError
from incidents import locks, selectors
from incidents.customers import services as customer_services
from incidents.delivery import delivery_resend
from incidents.events import IncidentEvent
from incidents.integrations import services as integration_services
from incidents.models import (
    Agreement,
    AIModel,
    Contact,
    CustomerAccount,
    CustomerOrganisation,
    Delivery,
    Deployment,
    Incident,
    Integration,
    ModelVersion,
    Notification,
    Severity,
    SharingRecipient,
    Signal,
    TimelineEntry,
)


def _value(obj, name: str):
    value = getattr(obj, name)
    return value.pk if hasattr(value, "pk") else value


def _record(request, verb: IncidentEvent, obj, *, before=None, after=None) -> None:
    with transaction.atomic():  # joins the admin view's transaction
        ledger.record(actor=Actor.from_request(request), verb=verb, obj=obj, before=before, after=after)


class RegistryAdmin(admin.ModelAdmin):
    """Configuration: every add, change and delete made here is recorded on the ledger."""

    def _verb(self, obj, what: str) -> IncidentEvent:
        return IncidentEvent.registry_change(obj._meta.model_name, what)

    def save_model(self, request, obj, form, change):
        changed = list(form.changed_data)
        before = {name: form.initial.get(name) for name in changed} if change else None
        super().save_model(request, obj, form, change)
        if changed or not change:
            after = {name: _value(obj, name) for name in (changed or form.fields) if hasattr(obj, name)}
            _record(request, self._verb(obj, "changed" if change else "created"), obj, before=before, after=after)

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            _record(request, self._verb(obj, "created"), obj, after={"name": str(obj)})
        for obj, changed in formset.changed_objects:
            _record(request, self._verb(obj, "changed"), obj, after={name: _value(obj, name) for name in changed})
        for obj in formset.deleted_objects:
            _record(request, self._verb(obj, "deleted"), obj, before={"name": str(obj)})

    def delete_model(self, request, obj):
        with transaction.atomic():
            _record(request, self._verb(obj, "deleted"), obj, before={"name": str(obj)})
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                _record(request, self._verb(obj, "deleted"), obj, before={"name": str(obj)})
            super().delete_queryset(request, queryset)


class ModelVersionFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        current = [
            form
            for form in self.forms
            if form.cleaned_data.get("is_current") and not form.cleaned_data.get("DELETE", False)
        ]
        if len(current) > 1:
            raise ValidationError("Only one version of a model can be current.")


class ModelVersionInline(admin.TabularInline):
    model = ModelVersion
    formset = ModelVersionFormSet
    extra = 0
    fields = ("name", "released_at", "is_current")


@admin.register(AIModel)
class AIModelAdmin(RegistryAdmin):
    list_display = ("name", "description")
    search_fields = ("name",)
    inlines = [ModelVersionInline]


@admin.register(Deployment)
class DeploymentAdmin(RegistryAdmin):
    list_display = ("slug", "name", "model", "surface", "region", "active")
    list_filter = ("active", "model", "surface")
    search_fields = ("slug", "name")
    list_select_related = ("model",)


@admin.register(CustomerAccount)
class CustomerAccountAdmin(RegistryAdmin):
    list_display = ("account_id", "name", "organisation", "customer", "tier")
    list_select_related = ("customer",)
    list_filter = ("tier",)
    search_fields = ("account_id", "name", "organisation")


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0
    fields = ("name", "email", "role", "active")


@admin.register(CustomerOrganisation)
class CustomerOrganisationAdmin(RegistryAdmin):
    """Customers (issue 13 §5): the deployments they use and who is told; their accounts link here."""

    list_display = ("name", "slug")
    search_fields = ("name", "slug")
    filter_horizontal = ("deployments",)
    inlines = [ContactInline]


class AgreementForm(forms.ModelForm):
    """The same checks as the API (incidents.customers.services): known types, no negative notice, no overlap."""

    class Meta:
        model = Agreement
        fields = ("organisation", "reference", "terms", "effective_from", "effective_until")

    def clean(self):
        data = super().clean()
        try:
            data["terms"] = customer_services.terms_clean(data.get("terms"))
            if data.get("organisation") is not None:
                # The admin validates and saves in one transaction (changeform_view): holding the
                # customer's row from here to the save serialises this with the API's
                # agreement_create, so two agreements can't both pass the overlap check.
                locks.lock_customer_organisation(data["organisation"].pk)
                customer_services.dates_clean(
                    organisation=data["organisation"], effective_from=data.get("effective_from"),
                    effective_until=data.get("effective_until"), exclude=self.instance.pk,
                )  # fmt: skip
        except DomainError as error:
            for field, problems in error.fields.items():
                name = field if field in self.fields else "terms" if field.startswith("terms") else None
                for problem in problems:
                    self.add_error(name, f"{field}: {problem}" if name == "terms" and field != "terms" else problem)
        return data


@admin.register(Agreement)
class AgreementAdmin(RegistryAdmin):
    form = AgreementForm
    list_display = ("organisation", "reference", "effective_from", "effective_until")
    list_select_related = ("organisation",)
    search_fields = ("organisation__name", "reference")


@admin.register(SharingRecipient)
class SharingRecipientAdmin(RegistryAdmin):
    """The register of recipients incidents may be shared with (incidents.sharing)."""

    list_display = ("name", "kind", "contact", "active")
    list_filter = ("kind", "active")
    search_fields = ("name", "contact")


class ReadOnlyAdmin(admin.ModelAdmin):
    """View only: these rows change through services, which write the ledger."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TimelineEntryInline(admin.TabularInline):
    model = TimelineEntry
    extra = 0
    fields = ("occurred_at", "kind", "author", "body", "rationale")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = ("ref", "title", "severity", "status", "category", "restricted", "commander", "reported_at")
    list_filter = ("severity", "status", "category", "risk_domain", "restricted")
    search_fields = ("ref", "title")
    list_select_related = ("commander",)
    date_hierarchy = "reported_at"
    inlines = [TimelineEntryInline]

    def get_queryset(self, request):
        # Restricted incidents stay hidden here too, unless granted (or leadership).
        return selectors.incidents_visible_to(request.user)


@admin.register(Signal)
class SignalAdmin(ReadOnlyAdmin):
    list_display = ("title", "source", "state", "severity_hint", "deployment", "occurrences", "last_seen_at")
    list_filter = ("state", "source", "severity_hint")
    search_fields = ("title", "dedup_key")
    list_select_related = ("deployment", "incident")

    def get_queryset(self, request):
        return selectors.signals_for(user=request.user)


@admin.register(LedgerEvent)
class LedgerEventAdmin(ReadOnlyAdmin):
    """The append-only ledger: nobody, superusers included, may add, change or delete here."""

    list_display = ("seq", "at", "verb", "actor_name", "source", "incident_ref", "object_type", "object_id")
    list_filter = ("verb", "source", "actor_type")
    search_fields = ("incident_ref", "actor_name", "verb", "object_id")
    ordering = ("-seq",)

    def get_actions(self, request):
        return {}

    def get_queryset(self, request):
        visible = selectors.incidents_visible_to(request.user).values("ref")
        return super().get_queryset(request).filter(Q(incident_ref="") | Q(incident_ref__in=visible))


# Where notifications go (Slack routing, webhook endpoints): admin-only pages of their own.
from incidents.channels import admin as channels_admin  # noqa: E402, F401

# --- notifications (issue 11): what was sent to whom, how it went; a failed one can be resent ------------


def _notification_visible(user, path: str) -> Q:
    """About no incident, or about one the admin may see (the same rule as every incident row)."""
    return Q(**{f"{path}__isnull": True}) | selectors.visible_through_q(user, path=path)


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    fields = ("channel", "address", "user", "redacted", "state", "attempt_count", "last_error", "done_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "event", "urgent", "incident", "subject")
    list_filter = ("event", "urgent")
    search_fields = ("incident__ref", "subject")
    list_select_related = ("incident",)
    inlines = [DeliveryInline]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(_notification_visible(request.user, "incident"))


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "channel", "address", "user", "redacted", "state", "attempt_count", "last_error",
                    "next_attempt_at", "done_at")  # fmt: skip
    list_filter = ("state", "channel", "redacted")
    search_fields = ("notification__incident__ref", "address", "user__username", "idempotency_key")
    list_select_related = ("user", "notification__incident")
    actions = ["resend"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(_notification_visible(request.user, "notification__incident"))

    @admin.action(description="Resend the selected failed deliveries")
    def resend(self, request, queryset):
        actor = Actor.from_request(request)
        resent = skipped = 0
        for delivery in queryset.order_by("id"):
            try:
                delivery_resend(actor=actor, delivery=delivery)
            except DomainError:
                skipped += 1
            else:
                resent += 1
        self.message_user(request, f"{resent} resent; {skipped} skipped (only failed deliveries are resent).")


class IntegrationForm(forms.ModelForm):
    class Meta:
        model = Integration
        fields = ("name", "kind", "default_deployment", "default_severity_hint")
        widgets = {"default_severity_hint": forms.Select(choices=[("", "—"), *Severity.choices])}

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            data["name"] = integration_services.integration_check_new(
                name=data["name"], kind=data["kind"], default_severity_hint=data.get("default_severity_hint") or ""
            )
        except DomainError as error:
            for field, messages in (error.fields or {None: [error.message]}).items():
                self.add_error(field, messages)
        return data


class RevokeForm(forms.Form):
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    """Admins add, rotate and revoke integrations here or through the API (`/api/v1/integrations/`);
    both go through incidents.integrations.services, which writes the ledger. A new token is shown
    once, on the page that follows, and never stored."""

    form = IntegrationForm
    list_display = (
        "name", "kind", "lookup", "default_deployment", "created_by", "created_at", "last_used_at", "revoked_at",
    )  # fmt: skip
    list_filter = ("kind",)
    search_fields = ("name",)
    actions = ("rotate_token", "revoke")
    token_template = "admin/incidents/integration/token.html"

    @staticmethod
    def _is_admin(request) -> bool:
        return request.user.is_superuser or request.user.has_role(Role.ADMIN)

    def has_add_permission(self, request):
        return self._is_admin(request)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return self._is_admin(request)

    def save_model(self, request, obj, form, change):
        integration, token = integration_services.integration_create(
            actor=Actor.from_request(request), **{name: form.cleaned_data[name] for name in IntegrationForm.Meta.fields}
        )
        obj.pk, obj.lookup, obj.created_by = integration.pk, integration.lookup, integration.created_by
        request.integration_token = token

    def response_add(self, request, obj, post_url_continue=None):
        return self._token_page(request, obj, request.integration_token, "created")

    def _token_page(self, request, integration, token: str, what: str):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Integration {integration.name} {what}",
            "integration": integration,
            "token": token,
            "url": request.build_absolute_uri(f"/api/v1/integrations/{integration.kind}/"),
        }
        return TemplateResponse(request, self.token_template, context)

    @admin.action(description="Rotate the token of the selected integration (one)")
    def rotate_token(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one integration to rotate.", messages.ERROR)
            return None
        try:
            integration, token = integration_services.integration_rotate(
                actor=Actor.from_request(request), integration=queryset.get()
            )
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)
            return None
        return self._token_page(request, integration, token, "has a new token")

    @admin.action(description="Revoke the selected integrations")
    def revoke(self, request, queryset):
        form = RevokeForm(request.POST if "reason" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": "Revoke integrations",
                "integrations": queryset,
                "form": form,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/incidents/integration/revoke.html", context)
        revoked = 0
        for integration in queryset.filter(revoked_at__isnull=True):
            integration_services.integration_revoke(
                actor=Actor.from_request(request), integration=integration, reason=form.cleaned_data["reason"]
            )
            revoked += 1
        self.message_user(request, f"Revoked {revoked} integration(s).", messages.SUCCESS)
        return None
