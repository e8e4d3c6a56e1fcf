"""Admin: policies and actuators change only through services, so every change is a ledger event.

Corrections and what hangs off them belong to an incident: their admins show only what
corrections.selectors.corrections_visible_to shows the same person on the pages (DESIGN §7), so a
restricted incident's corrections stay out of the changelist, change, history and search views.
"""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count

from accounts.actor import Actor
from config.errors import DomainError
from corrections import dispatch, selectors, services
from corrections.catalogue import TYPES
from corrections.drills import services as drill_services
from corrections.in_force import target_in_force_q
from corrections.models import (
    Actuator,
    ApprovalPolicy,
    Correction,
    DispatchAttempt,
    DrillSchedule,
    OutboxEntry,
    Playbook,
    PlaybookVersion,
)
from incidents.admin import DeploymentAdmin as RegistryDeploymentAdmin
from incidents.models import Deployment


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PolicyForm(forms.ModelForm):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Recorded in the ledger.")

    class Meta:
        model = ApprovalPolicy
        fields = services.POLICY_FIELDS

    def clean(self):
        cleaned = super().clean()
        try:
            services.validate_policy(self.instance.tier, {f: cleaned.get(f) for f in services.POLICY_FIELDS})
        except DomainError as err:
            for field, problems in (err.fields or {"__all__": [err.message]}).items():
                self.add_error(field if field in self.fields else None, problems)
        return cleaned


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(admin.ModelAdmin):
    """Saving writes a new version (services.policy_update); old versions stay for the record."""

    form = PolicyForm
    list_display = ("tier", "version", "is_current", "requirements", "pending_ttl_minutes", "created_at")
    list_filter = ("tier", "is_current")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or obj.is_current)

    def save_model(self, request, obj, form, change):
        changes = {f: form.cleaned_data[f] for f in services.POLICY_FIELDS}
        services.policy_update(
            actor=Actor.from_request(request), tier=obj.tier, changes=changes, reason=form.cleaned_data["reason"]
        )


class ActuatorForm(forms.ModelForm):
    base_url = forms.URLField(assume_scheme="https", max_length=500)
    secret = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Write-only: leave blank to keep the current secret. It is never shown again.",
    )

    manual_types = forms.MultipleChoiceField(
        choices=[(t.key, t.label) for t in TYPES.values() if t.dispatchable],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Types this deployment carries out by hand even though the actuator could: readiness shows "
        "them as manual and the worker leaves them to a person to confirm.",
    )

    class Meta:
        model = Actuator
        fields = (
            "deployment", "base_url", "secret", "connect_timeout_seconds", "read_timeout_seconds", "manual_types",
        )  # fmt: skip


@admin.register(Actuator)
class ActuatorAdmin(admin.ModelAdmin):
    form = ActuatorForm
    list_display = ("deployment", "base_url", "ready", "checked_at", "check_detail")
    readonly_fields = ("ready", "checked_at", "check_detail", "supported_types", "next_check_at")
    actions = ["check_readiness"]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        services.actuator_configure(
            actor=Actor.from_request(request),
            deployment=data["deployment"],
            base_url=data["base_url"],
            secret=data["secret"] or None,
            connect_timeout_seconds=data["connect_timeout_seconds"],
            read_timeout_seconds=data["read_timeout_seconds"],
            manual_types=list(data.get("manual_types") or []),
        )

    @admin.action(description="Check readiness (calls the actuator's /health)")
    def check_readiness(self, request, queryset):
        for actuator in queryset.select_related("deployment"):
            checked = dispatch.actuator_check_readiness(actor=Actor.from_request(request), actuator=actuator)
            level = messages.SUCCESS if checked.ready else messages.ERROR
            self.message_user(request, f"{checked.deployment.slug}: {checked.check_detail}", level)


class VisibleCorrectionsAdmin(ReadOnlyAdmin):
    """Rows of a correction: only those of corrections the user may see (restricted incidents)."""

    def get_queryset(self, request):
        visible = selectors.corrections_visible_to(request.user).values("pk")
        return super().get_queryset(request).filter(correction__in=visible)


@admin.register(Correction)
class CorrectionAdmin(ReadOnlyAdmin):
    list_display = ("id", "type", "state", "tier", "incident", "deployment", "requested_by", "requested_at")
    list_filter = ("state", "tier", "type")
    list_select_related = ("incident", "deployment", "requested_by")
    search_fields = ("incident__ref", "type")

    def get_queryset(self, request):
        return selectors.corrections_visible_to(request.user)


@admin.register(OutboxEntry)
class OutboxEntryAdmin(VisibleCorrectionsAdmin):
    list_display = ("idempotency_key", "action", "created_at", "sent_at", "attempt_count", "done_at")
    search_fields = ("idempotency_key", "correction__incident__ref")


@admin.register(DispatchAttempt)
class DispatchAttemptAdmin(VisibleCorrectionsAdmin):
    list_display = ("correction", "action", "number", "response_status", "outcome", "latency_ms", "started_at")
    list_select_related = ("correction",)
    search_fields = ("correction__incident__ref",)


# The registry's deployment list, with how many corrections are in force on each: incidents may not
# know corrections, so the column is added here, over the registry's admin.
admin.site.unregister(Deployment)


@admin.register(Deployment)
class DeploymentAdmin(RegistryDeploymentAdmin):
    list_display = (*RegistryDeploymentAdmin.list_display, "in_force")

    def get_queryset(self, request):
        in_force = Count("correction_targets", filter=target_in_force_q("correction_targets__"))
        return super().get_queryset(request).annotate(in_force_count=in_force)

    @admin.display(description="corrections in force", ordering="in_force_count")
    def in_force(self, obj) -> int:
        return obj.in_force_count


class DrillScheduleForm(forms.ModelForm):
    class Meta:
        model = DrillSchedule
        fields = ["team", "every_days", "remind_days_before", "active"]


@admin.register(DrillSchedule)
class DrillScheduleAdmin(admin.ModelAdmin):
    """A team's drill schedule; saving goes through drills.services.drill_schedule_save (ledgered)."""

    form = DrillScheduleForm
    list_display = ("team", "every_days", "remind_days_before", "active", "last_reminded_at")

    def has_delete_permission(self, request, obj=None):
        return False  # drills point at their schedule; pause one instead (active)

    def get_readonly_fields(self, request, obj=None):
        return ("team",) if obj is not None else ()

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = drill_services.drill_schedule_save(
            actor=Actor.from_request(request), team=obj.team, every_days=data["every_days"],
            remind_days_before=data["remind_days_before"], active=data["active"],
        )  # fmt: skip
        obj.pk = saved.pk


# Playbooks are written through their pages and API (validated, versioned, ledgered): read only here.
class PlaybookVersionInline(admin.TabularInline):
    model = PlaybookVersion
    fields = ("number", "is_current", "active", "min_severity", "priority", "preauthorised_type",
              "created_by", "created_at", "preauth_approved_by", "preauth_approved_at")  # fmt: skip
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Playbook)
class PlaybookAdmin(ReadOnlyAdmin):
    list_display = ("slug", "title", "created_at")
    search_fields = ("slug", "title")
    inlines = [PlaybookVersionInline]


@admin.register(PlaybookVersion)
class PlaybookVersionAdmin(ReadOnlyAdmin):
    list_display = ("playbook", "number", "is_current", "active", "priority", "preauthorised_type", "created_by")
    list_filter = ("is_current", "active")
    list_select_related = ("playbook", "created_by")
    search_fields = ("playbook__slug",)
