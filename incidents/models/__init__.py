from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils import timezone
from guardian.models import UserObjectPermissionBase

# --- Registry: models, versions, deployments -------------------------------------------------


class AIModel(models.Model):
    """A frontier model the developer serves (e.g. `atlas`)."""

    name = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "model"

    def __str__(self) -> str:
        return self.name


class ModelVersion(models.Model):
    model = models.ForeignKey(AIModel, on_delete=models.PROTECT, related_name="versions")
    name = models.SlugField(max_length=64, unique=True)
    released_at = models.DateTimeField(default=timezone.now)
    is_current = models.BooleanField(default=False)

    class Meta:
        ordering = ["model__name", "-released_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["model"], condition=models.Q(is_current=True), name="one_current_version_per_model"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Deployment(models.Model):
    """One way a model is served: an API, a chat product, a region."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    model = models.ForeignKey(AIModel, on_delete=models.PROTECT, related_name="deployments")
    surface = models.CharField(max_length=64, blank=True, help_text="e.g. api, chat, enterprise")
    region = models.CharField(max_length=64, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class CustomerAccount(models.Model):
    """A downstream account (user, API key or organisation) that corrections can target."""

    class Tier(models.TextChoices):
        FREE = "free"
        STANDARD = "standard"
        VERIFIED = "verified", "Identity-verified"
        ENTERPRISE = "enterprise"

    account_id = models.SlugField(max_length=64, unique=True, help_text="e.g. acct-alice")
    name = models.CharField(max_length=200, blank=True)
    organisation = models.CharField(max_length=200, blank=True)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.STANDARD)
    # The customer it belongs to, whose agreement a correction on this account is checked against.
    customer = models.ForeignKey(
        "incidents.CustomerOrganisation", on_delete=models.PROTECT, null=True, blank=True, related_name="accounts"
    )

    class Meta:
        ordering = ["account_id"]

    def __str__(self) -> str:
        return self.account_id


# --- Incidents --------------------------------------------------------------------------------


class Severity(models.TextChoices):
    SEV1 = "SEV1", "SEV1 — catastrophic"
    SEV2 = "SEV2", "SEV2 — critical"
    SEV3 = "SEV3", "SEV3 — serious"
    SEV4 = "SEV4", "SEV4 — limited"


SEVERITY_DEFINITIONS = {
    Severity.SEV1: "Catastrophic harm is plausible or under way (e.g. mass-casualty uplift, loss of weights).",
    Severity.SEV2: "Serious harm to people or systems is likely without action; a dangerous capability is exposed.",
    Severity.SEV3: "Harmful behaviour or misuse confined to some users or features; no imminent serious harm.",
    Severity.SEV4: "A minor or suspected issue to look into; no harm observed.",
}
# Lower number = more severe; used for ordering and "raise only" checks.
SEVERITY_RANK = {Severity.SEV1: 1, Severity.SEV2: 2, Severity.SEV3: 3, Severity.SEV4: 4}


class Status(models.TextChoices):
    REPORTED = "reported"
    TRIAGED = "triaged"
    RESPONDING = "responding"
    CONTAINED = "contained"
    RESOLVED = "resolved"
    IN_REVIEW = "in_review", "In review"
    CLOSED = "closed"
    DISMISSED = "dismissed"


OPEN_STATUSES = (Status.REPORTED, Status.TRIAGED, Status.RESPONDING, Status.CONTAINED)

# The incident lifecycle (DESIGN §4); enforced by incidents.services.incident_change_status.
STATUS_TRANSITIONS = {
    Status.REPORTED: {Status.TRIAGED, Status.RESPONDING, Status.DISMISSED},
    Status.TRIAGED: {Status.RESPONDING, Status.CONTAINED, Status.DISMISSED},
    Status.RESPONDING: {Status.CONTAINED, Status.RESOLVED},
    Status.CONTAINED: {Status.RESPONDING, Status.RESOLVED},
    Status.RESOLVED: {Status.RESPONDING, Status.IN_REVIEW, Status.CLOSED},
    Status.IN_REVIEW: {Status.RESOLVED, Status.CLOSED},
    # Reopening: the response resumes (new evidence, a recurrence), so it goes back to responding,
    # where corrections can be requested and decided again; resolving and closing are then re-earned.
    Status.CLOSED: {Status.RESPONDING},
    Status.DISMISSED: {Status.TRIAGED},
}

# Which milestone column a status stamps the first time it is reached.
STATUS_MILESTONES = {
    Status.TRIAGED: "acknowledged_at",
    Status.RESPONDING: "acknowledged_at",
    Status.CONTAINED: "contained_at",
    Status.RESOLVED: "resolved_at",
    Status.CLOSED: "closed_at",
    Status.DISMISSED: "closed_at",
}


class Category(models.TextChoices):
    DANGEROUS_CAPABILITY = "dangerous_capability", "Dangerous capability"
    DANGEROUS_BEHAVIOR = "dangerous_behavior", "Dangerous behaviour"
    MISUSE = "misuse", "Misuse"
    SECURITY = "security", "Security (e.g. weight theft)"
    OTHER = "other", "Other"


class RiskDomain(models.TextChoices):
    CBRN = "cbrn", "CBRN"
    CYBER = "cyber", "Cyber"
    AUTONOMY = "autonomy", "Autonomy"
    MANIPULATION = "manipulation", "Manipulation"
    ML_RND = "ml_rnd", "ML R&D"
    PRIVACY = "privacy", "Privacy"
    CHILD_SAFETY = "child_safety", "Child safety"
    OTHER = "other", "Other"


class Source(models.TextChoices):
    INTERNAL_MONITORING = "internal_monitoring", "Internal monitoring"
    USER_REPORT = "user_report", "User report"
    RED_TEAM = "red_team", "Red team"
    BUG_BOUNTY = "bug_bounty", "Bug bounty"
    EXTERNAL_RESEARCHER = "external_researcher", "External researcher"
    GOVERNMENT = "government", "Government"
    PRESS = "press", "Press"
    OTHER = "other", "Other"


class IncidentCounter(models.Model):
    """Per-year sequence behind refs like INC-2026-0001; locked while a ref is taken."""

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class Incident(models.Model):
    ref = models.CharField(max_length=20, unique=True, editable=False)
    title = models.CharField(max_length=200)
    summary = models.TextField(max_length=20000, blank=True)
    category = models.CharField(max_length=32, choices=Category)
    risk_domain = models.CharField(max_length=32, choices=RiskDomain)
    severity = models.CharField(max_length=4, choices=Severity)
    status = models.CharField(max_length=16, choices=Status, default=Status.REPORTED)
    source = models.CharField(max_length=32, choices=Source, default=Source.OTHER)
    deployments = models.ManyToManyField(Deployment, related_name="incidents", blank=True)
    restricted = models.BooleanField(
        default=False, help_text="Details are themselves hazardous: visible only to people granted it."
    )
    # A rehearsal (DESIGN §8a): set when it is created, never changed. Drills run the real sign-off
    # and dispatch (with dry_run at the actuator) but stay out of metrics and everything meant for
    # regulators and customers (incidents.drills).
    is_drill = models.BooleanField(default=False, editable=False)

    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reported_incidents", null=True
    )
    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="commanded_incidents", null=True, blank=True
    )
    participants = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="incidents", blank=True)

    # Milestones (DESIGN §4). reported_at is when Failsafe first heard of it.
    occurred_at = models.DateTimeField(null=True, blank=True)
    detected_at = models.DateTimeField(null=True, blank=True)
    reported_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    contained_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Title (weight A) and summary (B), stemmed as English. On PostgreSQL a trigger keeps it
    # current and a GIN index serves search (migration 0004); elsewhere it stays empty and
    # search falls back to substrings.
    search_vector = SearchVectorField(null=True, editable=False)
    # The checklist's progress, kept beside the rows it counts (under the incident's lock) so the
    # list shows "3/7" without a query per row.
    checklist_total = models.PositiveSmallIntegerField(default=0)
    checklist_done = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["severity", "-reported_at"]
        indexes = [
            models.Index(fields=["status", "severity"]),
            models.Index(fields=["-updated_at"]),
            # The list's order, so a page is an index walk that stops after 25 rows.
            models.Index(fields=["severity", "-reported_at", "-id"], name="incident_list_order"),
            # The few restricted rows, for the "granted to me" half of visibility.
            models.Index(fields=["id"], condition=models.Q(restricted=True), name="incident_restricted"),
            # The dashboard: open incidents by severity, most recently changed first.
            models.Index(
                fields=["severity", "-updated_at"],
                include=["restricted", "id"],
                condition=models.Q(status__in=[s.value for s in OPEN_STATUSES]),
                name="incident_open",
            ),
            # The metrics page (incidents.metrics): the reported-at range with every column it
            # reads, so at 100,000 incidents it is an index-only scan of a year, not the table.
            models.Index(
                fields=["reported_at"],
                include=[
                    "severity",
                    "status",
                    "category",
                    "restricted",
                    "is_drill",
                    "id",
                    "occurred_at",
                    "detected_at",
                    "acknowledged_at",
                    "contained_at",
                    "resolved_at",
                    "closed_at",
                ],
                name="incident_metrics",
            ),
        ]
        permissions = [("view_restricted_incident", "Can view this restricted incident")]

    def __str__(self) -> str:
        return f"{self.ref} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def severity_definition(self) -> str:
        return SEVERITY_DEFINITIONS[self.severity]

    @property
    def allowed_next_statuses(self) -> list[str]:
        return sorted(STATUS_TRANSITIONS[self.status], key=list(Status).index)


class IncidentUserObjectPermission(UserObjectPermissionBase):
    """Direct foreign key for guardian grants, so visibility filters with a join, not a cast."""

    content_object = models.ForeignKey(Incident, on_delete=models.CASCADE)


class ClosingException(models.Model):
    """A commander's reasoned decision to close (or dismiss) an incident despite what stood in the way.

    `overrode` keeps what the checks of incidents.closing found at that moment, as the ledger does.
    """

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="closing_exceptions")
    status = models.CharField(max_length=16, choices=Status, help_text="The status it allowed.")
    reason = models.TextField(max_length=20000)
    overrode = models.JSONField(default=list)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["recorded_at", "id"]

    def __str__(self) -> str:
        return f"exception to close {self.incident_id}"


class ChecklistItem(models.Model):
    """One step of a checklist copied onto an incident (from a playbook: `source` says which version).

    The text is copied, not referenced: a later edit of the playbook never changes an incident's
    list. Ticked once, by a named person, at a time (ledgered, so it is on the timeline).
    """

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="checklist")
    position = models.PositiveSmallIntegerField()
    text = models.CharField(max_length=300)
    source = models.CharField(max_length=120, help_text="Where the step came from, e.g. playbook cbrn-uplift v2.")
    ticked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    ticked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "position"], name="checklist_position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.incident_id} #{self.position}: {self.text[:40]}"

    @property
    def done(self) -> bool:
        return self.ticked_at is not None


class TimelineEntry(models.Model):
    """A human entry on an incident's timeline: a note or a decision."""

    class Kind(models.TextChoices):
        NOTE = "note"
        DECISION = "decision"

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    body = models.TextField(max_length=20000)
    options_considered = models.TextField(max_length=20000, blank=True)
    rationale = models.TextField(max_length=20000, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now, help_text="May be backdated.")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        verbose_name_plural = "timeline entries"

    def __str__(self) -> str:
        return f"{self.kind} on {self.incident_id}"


class Signal(models.Model):
    """Something a monitor, a person or an outsider reported; may become an incident."""

    class State(models.TextChoices):
        OPEN = "open"
        PROMOTED = "promoted"
        DISMISSED = "dismissed"

    source = models.CharField(max_length=32, choices=Source)
    title = models.CharField(max_length=200)
    detail = models.TextField(max_length=20000, blank=True)
    severity_hint = models.CharField(max_length=4, choices=Severity, blank=True)
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    dedup_key = models.CharField(max_length=200, blank=True, db_index=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, null=True, blank=True, related_name="signals")
    occurrences = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    # From a monitoring integration (incidents.integrations): which one, when the alert started
    # firing (a new start is a new occurrence), when its monitor said it resolved, and its link.
    integration = models.ForeignKey(
        "incidents.Integration", on_delete=models.PROTECT, null=True, blank=True, related_name="signals"
    )
    alert_started_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    link = models.CharField(max_length=2000, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]
        # The dashboard's count and the signals page's default tab: the few open ones.
        indexes = [models.Index(fields=["-last_seen_at"], condition=models.Q(state="open"), name="signal_open")]

    def __str__(self) -> str:
        return self.title


# Chat and webhook routing (incidents.channels) and post-incident reviews (incidents.reviews) keep
# their models beside these, one module each.
from incidents.models.chat import (  # noqa: E402, F401
    EVENT_NAMES,
    IncidentChatChannel,
    SlackIdentity,
    SlackRoleChannel,
    WebhookEndpoint,
)

# Customer organisations, agreements and contacts (issue 13 §5).
from incidents.models.customers import Agreement, Contact, CustomerOrganisation, Timing  # noqa: E402, F401

# Evidence files and information sharing (issue 13 §4, §6).
from incidents.models.evidence import Evidence, EvidenceKind  # noqa: E402, F401

# Inbound monitoring integrations (incidents.integrations) and reminders sent once.
from incidents.models.integrations import Integration, IntegrationKind, SentReminder  # noqa: E402, F401

# Notifications as data (issue 11: a notification, its deliveries, each person's preferences).
from incidents.models.notifications import (  # noqa: E402, F401
    Delivery,
    DeliveryState,
    Event,
    Notification,
    NotificationPreference,
)

# On-call rotations and pages (incidents.oncall), one module beside these.
from incidents.models.oncall import (  # noqa: E402, F401
    Override,
    Page,
    PageRecipient,
    Rotation,
    RotationMember,
    Shift,
)

# Reportability to regulators and their clocks (incidents.reporting).
from incidents.models.reporting import (  # noqa: E402, F401
    Assessment,
    Clock,
    ClockReminder,
    RuleVersion,
)

# Regulator reports (incidents.reports): versioned, frozen once submitted.
from incidents.models.reports import Regime, Report, ReportChannel, ReportKind, ReportVersion  # noqa: E402, F401
from incidents.models.reviews import (  # noqa: E402, F401
    FollowUpAction,
    FollowUpStatus,
    Review,
    ReviewApproval,
    ReviewVersion,
)
from incidents.models.sharing import RecipientKind, Share, SharingRecipient, Tlp  # noqa: E402, F401
