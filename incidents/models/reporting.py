"""Reportability to regulators and the clocks it starts (DESIGN §8). Imported by incidents.models.

- RuleVersion: one regime's deadlines as data, versioned with an effective date. Rows are never
  edited: a change is a new version. A clock uses the version in force at its start milestone.
- Assessment: per incident × regime, applies / does not apply / not yet known, with the deciding
  facts, the milestone times and a reason. Append-only: a revision is a new row with a reason.
- Clock: one deadline (initial, intermediate or final report) with the rule version, milestone and
  due time it was computed from, frozen when it starts. Overdue is a running clock past its due time.
- ClockReminder: a reminder sent for a clock, once per mark (unique), so two beats never send twice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Regime(models.TextChoices):
    EU_AI_ACT_ART73 = "eu_ai_act_art73", "EU AI Act Art. 73 (high-risk systems)"
    EU_GPAI_CODE = "eu_gpai_code", "EU GPAI code of practice (systemic-risk models)"
    CA_SB53 = "ca_sb53", "California SB 53"
    NY_RAISE = "ny_raise", "New York RAISE Act"


class Milestone(models.TextChoices):
    """The moments a regime's clock counts from; each is a column of Assessment (`<value>_at`)."""

    AWARE = "aware", "Became aware of the serious incident"
    MODEL_INVOLVEMENT = "model_involvement", "Became aware of the model's involvement"
    DISCOVERED = "discovered", "Discovered the critical safety incident"
    DETERMINED = "determined", "Determined that a safety incident occurred"


MILESTONE_FIELDS = tuple(f"{m.value}_at" for m in Milestone)


class RuleVersion(models.Model):
    regime = models.CharField(max_length=32, choices=Regime)
    version = models.PositiveIntegerField()
    effective_from = models.DateTimeField(help_text="Applies to incidents whose start milestone is at or after this.")
    starts_from = models.CharField(max_length=32, choices=Milestone)
    # {"<fact>": "P2D", ..., "default": "P15D"}: the shortest path whose fact is true wins.
    deadlines = models.JSONField()
    intermediate_every = models.CharField(max_length=32, blank=True, help_text="ISO 8601 duration, e.g. P28D.")
    final_after_resolution = models.CharField(max_length=32, blank=True, help_text="ISO 8601 duration, e.g. P60D.")
    source = models.TextField(blank=True, help_text="Where the rule comes from, and how sure it is.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["regime", "version"]
        constraints = [
            models.UniqueConstraint(fields=["regime", "version"], name="rule_version_once"),
            models.UniqueConstraint(fields=["regime", "effective_from"], name="rule_effective_once"),
        ]

    def __str__(self) -> str:
        return f"{self.regime} v{self.version}"


class Decision(models.TextChoices):
    APPLIES = "applies", "Applies"
    DOES_NOT_APPLY = "does_not_apply", "Does not apply"
    UNKNOWN = "unknown", "Not yet known"


class Assessment(models.Model):
    incident = models.ForeignKey("incidents.Incident", on_delete=models.PROTECT, related_name="assessments")
    regime = models.CharField(max_length=32, choices=Regime)
    number = models.PositiveIntegerField(help_text="1 for the first assessment of this regime, then each revision.")
    decision = models.CharField(max_length=16, choices=Decision)
    reason = models.TextField(max_length=20000, blank=True)
    # The deciding facts, {fact: bool}, for this regime's facts only (incidents.reporting.rules.REGIME_FACTS).
    facts = models.JSONField(default=dict, blank=True)
    aware_at = models.DateTimeField(null=True, blank=True)
    model_involvement_at = models.DateTimeField(null=True, blank=True)
    discovered_at = models.DateTimeField(null=True, blank=True)
    determined_at = models.DateTimeField(null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["incident", "regime", "number"]
        constraints = [models.UniqueConstraint(fields=["incident", "regime", "number"], name="assessment_number_once")]

    def __str__(self) -> str:
        return f"{self.regime} #{self.number} of {self.incident_id}: {self.decision}"

    def milestone(self, name: str):
        return getattr(self, f"{name}_at")


class ClockKind(models.TextChoices):
    INITIAL = "initial", "Initial report"
    INTERMEDIATE = "intermediate", "Intermediate report"
    FINAL = "final", "Final report"


class ClockState(models.TextChoices):
    RUNNING = "running"
    MET = "met"
    STOPPED = "stopped"


class Clock(models.Model):
    incident = models.ForeignKey("incidents.Incident", on_delete=models.PROTECT, related_name="clocks")
    regime = models.CharField(max_length=32, choices=Regime)
    kind = models.CharField(max_length=16, choices=ClockKind, default=ClockKind.INITIAL)
    sequence = models.PositiveIntegerField(default=1, help_text="The intermediate report's number.")
    assessment = models.ForeignKey(Assessment, on_delete=models.PROTECT, related_name="clocks")
    rule = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="clocks")
    start_milestone = models.CharField(max_length=32, help_text="What it counts from, e.g. aware or resolution.")
    started_from = models.DateTimeField()
    path = models.CharField(max_length=64, help_text="The rule's path that set the duration, e.g. death or default.")
    duration = models.CharField(max_length=32)
    due_at = models.DateTimeField()
    state = models.CharField(max_length=16, choices=ClockState, default=ClockState.RUNNING)
    met_at = models.DateTimeField(null=True, blank=True)
    met_by = models.CharField(max_length=200, blank=True, help_text="The report that met it, as the caller names it.")
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            # The deadlines page and the reminder sweep: running clocks, earliest due first.
            models.Index(fields=["due_at", "id"], condition=Q(state="running"), name="clock_running_due"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "regime", "kind", "sequence"],
                condition=Q(state="running"),
                name="one_running_clock_per_deadline",
            )
        ]

    def __str__(self) -> str:
        return f"{self.regime} {self.kind} for {self.incident_id}, due {self.due_at:%Y-%m-%d %H:%M}"

    def is_overdue(self, now=None) -> bool:
        return self.state == ClockState.RUNNING and self.due_at <= (now or timezone.now())

    @property
    def display_state(self) -> str:
        return "overdue" if self.is_overdue() else self.state


class ReminderMark(models.TextChoices):
    HALF = "half", "50 % of the time gone"
    EIGHTY = "eighty", "80 % of the time gone"
    DAY_BEFORE = "day_before", "24 hours before it is due"


class ClockReminder(models.Model):
    clock = models.ForeignKey(Clock, on_delete=models.PROTECT, related_name="reminders")
    mark = models.CharField(max_length=16, choices=ReminderMark)
    sent_at = models.DateTimeField(default=timezone.now)
    notified = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["sent_at", "id"]
        constraints = [models.UniqueConstraint(fields=["clock", "mark"], name="clock_reminder_once")]

    def __str__(self) -> str:
        return f"{self.mark} reminder of clock {self.clock_id}"
