"""Deployment corrections: approval policies, requests, approvals and the outbox (DESIGN §3–§5)."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from accounts.outbox import OutboxRow
from corrections.policy import PolicySnapshot
from incidents.models import AIModel, CustomerOrganisation, Deployment, Incident, Notification, Status


class ApprovalPolicy(models.Model):
    """Who may request a tier's corrections and who must sign off. Versioned: an edit is a new row.

    `requirements` is a list of {"roles": [...], "count": N}; requirements are AND-ed and every
    approval counts towards one requirement only, so "1 leadership and 1 commander" means two
    distinct people. A request carries a snapshot of the version in force when it was submitted.
    """

    tier = models.PositiveSmallIntegerField()
    version = models.PositiveIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    requester_roles = models.JSONField(default=list)
    requirements = models.JSONField(default=list)
    pending_ttl_minutes = models.PositiveIntegerField(default=240)
    execution_window_minutes = models.PositiveIntegerField(default=60)
    requires_second_factor = models.BooleanField(default=False)
    requires_typed_confirmation = models.BooleanField(default=False)
    break_glass_roles = models.JSONField(default=list)
    sev1_commander_may_break_glass = models.BooleanField(default=False)
    ratification_hours = models.PositiveIntegerField(default=24)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")

    class Meta:
        ordering = ["tier", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["tier", "version"], name="policy_tier_version_unique"),
            models.UniqueConstraint(fields=["tier"], condition=Q(is_current=True), name="one_current_policy_per_tier"),
            models.CheckConstraint(condition=Q(tier__gte=1, tier__lte=4), name="policy_tier_1_to_4"),
        ]
        verbose_name_plural = "approval policies"

    def __str__(self) -> str:
        return f"tier {self.tier} v{self.version}"

    def snapshot(self) -> PolicySnapshot:
        return PolicySnapshot(
            policy_id=self.pk,
            tier=self.tier,
            version=self.version,
            requester_roles=tuple(self.requester_roles),
            requirements=tuple(dict(r) for r in self.requirements),
            pending_ttl_minutes=self.pending_ttl_minutes,
            execution_window_minutes=self.execution_window_minutes,
            requires_second_factor=self.requires_second_factor,
            requires_typed_confirmation=self.requires_typed_confirmation,
            break_glass_roles=tuple(self.break_glass_roles),
            sev1_commander_may_break_glass=self.sev1_commander_may_break_glass,
            ratification_hours=self.ratification_hours,
        )


class State(models.TextChoices):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved"
    QUEUED = "queued"
    APPLYING = "applying"
    ACTIVE = "active"
    PARTLY_ACTIVE = "partly_active", "Partly in force"
    LIFTING = "lifting"
    LIFTED = "lifted"
    EXPIRED = "expired"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    LAPSED = "lapsed"
    FAILED = "failed"


# The correction lifecycle (DESIGN §4). corrections.services is the only writer of `state`.
TRANSITIONS: dict[str, set[str]] = {
    State.DRAFT: {State.PENDING_APPROVAL, State.APPROVED, State.CANCELLED},
    State.PENDING_APPROVAL: {State.APPROVED, State.REJECTED, State.CANCELLED, State.LAPSED},
    State.APPROVED: {State.QUEUED, State.ACTIVE, State.CANCELLED, State.LAPSED},
    # queued → lapsed: the worker refuses to apply a correction whose incident has closed.
    State.QUEUED: {State.APPLYING, State.FAILED, State.LAPSED},
    State.APPLYING: {State.ACTIVE, State.PARTLY_ACTIVE, State.FAILED, State.QUEUED},
    State.ACTIVE: {State.LIFTING, State.EXPIRED},
    # Applied wherever it could be; the rest waits for people to confirm manual steps.
    State.PARTLY_ACTIVE: {State.ACTIVE, State.LIFTING, State.EXPIRED},
    State.LIFTING: {State.LIFTED, State.FAILED},
    State.EXPIRED: {State.LIFTED, State.LIFTING, State.FAILED},
    State.FAILED: {State.QUEUED, State.LIFTING},
    State.LIFTED: set(),
    State.REJECTED: set(),
    State.CANCELLED: set(),
    State.LAPSED: set(),
}
PENDING_STATES = (State.DRAFT, State.PENDING_APPROVAL)
# Nothing is requested, approved or applied on an incident in these statuses (DESIGN §4, "Closing").
CLOSED_INCIDENT = (Status.CLOSED, Status.DISMISSED)
LIVE_STATES = (
    State.APPROVED, State.QUEUED, State.APPLYING, State.ACTIVE, State.PARTLY_ACTIVE, State.LIFTING, State.EXPIRED
)  # fmt: skip
IN_FORCE_STATES = (State.ACTIVE, State.PARTLY_ACTIVE)
TERMINAL_STATES = (State.LIFTED, State.REJECTED, State.CANCELLED, State.LAPSED)
# A break-glass correction can be ratified once it ran, whatever happened since.
RATIFIABLE_STATES = tuple(
    s
    for s in State.values
    if s not in (State.DRAFT, State.PENDING_APPROVAL, State.REJECTED, State.CANCELLED, State.LAPSED)
)


def needs_ratification(correction) -> bool:
    return correction.break_glass and correction.ratified_at is None and correction.state in RATIFIABLE_STATES


class Correction(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="corrections")
    type = models.CharField(max_length=32)
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    model = models.ForeignKey(AIModel, on_delete=models.PROTECT, related_name="+")
    params = models.JSONField(default=dict)
    rationale = models.TextField(max_length=20000)
    duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=State, default=State.DRAFT)
    tier = models.PositiveSmallIntegerField()
    policy = models.ForeignKey(ApprovalPolicy, on_delete=models.PROTECT, related_name="+")
    policy_snapshot = models.JSONField(default=dict)
    content_hash = models.CharField(max_length=64)
    generation = models.PositiveIntegerField(default=0, help_text="Fencing token: bumped for every dispatch.")

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    pending_until = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    execute_by = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    failure = models.TextField(blank=True)
    failed_action = models.CharField(max_length=8, blank=True, help_text="apply or lift: what a retry repeats.")

    break_glass = models.BooleanField(default=False)
    break_glass_justification = models.TextField(max_length=20000, blank=True)
    ratification_due_at = models.DateTimeField(null=True, blank=True)
    ratified_at = models.DateTimeField(null=True, blank=True)

    # Set when a leadership-approved playbook pre-authorised this request to tier 1 (policy.preauthorised_by).
    playbook_version = models.ForeignKey(
        "PlaybookVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="preauthorised_corrections"
    )

    # Why the customers' notice could not be given (corrections.customers): required before a correction
    # that breaks an agreement is approved; given on the request or on an approval, and ledgered.
    notice_explanation = models.TextField(max_length=20000, blank=True)
    # The evidence gate (corrections.evidence_gate): the snapshot chosen, or why it went ahead without.
    evidence = models.ForeignKey(
        "incidents.Evidence", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    evidence_override = models.TextField(max_length=20000, blank=True)

    manual_confirmed_at = models.DateTimeField(null=True, blank=True)
    manual_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["state", "pending_until"]),
            models.Index(fields=["state", "expires_at"]),
            models.Index(fields=["break_glass", "ratified_at"]),
            # The metrics page's correction phases (corrections/metrics.py): index-only by request time.
            models.Index(
                fields=["requested_at"],
                include=["incident", "approved_at", "activated_at", "lifted_at"],
                name="correction_metrics",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.type} ({self.state})"

    @property
    def target_name(self) -> str:
        return self.deployment.slug if self.deployment_id else self.model.name

    @property
    def dry_run(self) -> bool:
        """A drill's correction (fixed: a drill is one from its creation): actuators record it, enforce nothing."""
        return bool(self.incident.is_drill)

    @property
    def policy_at_request(self) -> PolicySnapshot:
        """The policy this request is held to: the version in force when it was made."""
        return PolicySnapshot.from_dict(self.policy_snapshot)


class TargetState(models.TextChoices):
    """One deployment's part of a correction (DESIGN §4: each target is tracked on its own)."""

    PENDING = "pending"
    APPLYING = "applying"
    ACTIVE = "active"
    FAILED = "failed"
    MANUAL_PENDING = "manual_pending", "Manual step pending"
    MANUAL_DONE = "manual_done", "Confirmed by hand"
    LIFTING = "lifting"
    LIFTED = "lifted"


class CorrectionTarget(models.Model):
    """One deployment a correction acts on, with its own progress.

    Written when the correction is requested: its deployment, or (model-wide types) every active
    deployment of the model at that time. `manual` marks a target that has no actuator: a person
    carries it out (and lifts it) and confirms it here.
    """

    correction = models.ForeignKey(Correction, on_delete=models.PROTECT, related_name="targets")
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="correction_targets")
    state = models.CharField(max_length=16, choices=TargetState, default=TargetState.PENDING)
    manual = models.BooleanField(default=False)
    manual_reason = models.CharField(max_length=300, blank=True)
    failure = models.CharField(max_length=1000, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    confirm_note = models.TextField(max_length=20000, blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["correction", "deployment"], name="one_target_per_deployment"),
        ]
        indexes = [models.Index(fields=["state"])]

    def __str__(self) -> str:
        return f"{self.correction_id}@{self.deployment_id} ({self.state})"


class CorrectionEditor(models.Model):
    """Someone who changed what a correction will run: like its requester, they may not sign it off.

    Written in the edit's transaction; one row per person however often they edit.
    """

    correction = models.ForeignKey(Correction, on_delete=models.PROTECT, related_name="editors")
    editor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    first_edited_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["first_edited_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["correction", "editor"], name="one_editor_row_each"),
        ]

    def __str__(self) -> str:
        return f"{self.editor_id} edited {self.correction_id}"


class Approval(models.Model):
    """One person's decision on a correction, bound to the hash of exactly what will run."""

    class Decision(models.TextChoices):
        APPROVE = "approve"
        REJECT = "reject"

    correction = models.ForeignKey(Correction, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Copied from the correction so the database itself refuses self-approval.
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=8, choices=Decision.choices)
    counted_as = models.CharField(max_length=32, blank=True, help_text="The role this approval fills.")
    comment = models.TextField(max_length=20000, blank=True)
    content_hash = models.CharField(max_length=64)
    second_factor_verified = models.BooleanField(default=False)
    ratifies_break_glass = models.BooleanField(default=False)
    voided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["correction", "approver"], condition=Q(voided_at__isnull=True), name="one_live_approval_each"
            ),
            models.CheckConstraint(condition=~Q(approver=F("requester")), name="no_self_approval"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} by {self.approver_id} on {self.correction_id}"


class LiftRequest(models.Model):
    """Asking to lift a tier 3–4 correction before it expires: lifting restores exposure, so one
    leadership approval, from someone other than who asked, is needed (DESIGN §4).

    Bound to a hash of the lift (which correction, which content, which generation, why); lapses
    after the correction's time to live like a request. Its approval starts the lift through the outbox.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Awaiting approval"
        APPROVED = "approved"
        REJECTED = "rejected"
        LAPSED = "lapsed"
        SUPERSEDED = "superseded", "Superseded (the correction ended first)"

    correction = models.ForeignKey(Correction, on_delete=models.PROTECT, related_name="lift_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(max_length=20000)
    content_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=12, choices=State, default=State.PENDING)
    requested_at = models.DateTimeField(auto_now_add=True)
    pending_until = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(max_length=20000, blank=True)

    class Meta:
        ordering = ["requested_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["correction"], condition=Q(state="pending"), name="one_pending_lift_each"),
            # As for approvals: the database itself refuses a lift decided by whoever asked for it.
            models.CheckConstraint(condition=~Q(decided_by=F("requested_by")), name="no_self_decided_lift"),
        ]
        indexes = [models.Index(fields=["state", "pending_until"])]

    def __str__(self) -> str:
        return f"lift of {self.correction_id} ({self.state})"


class OutboxEntry(OutboxRow):
    """A dispatch to make, written in the same transaction as the state change that needs it."""

    class Action(models.TextChoices):
        APPLY = "apply"
        LIFT = "lift"

    correction = models.ForeignKey(Correction, on_delete=models.PROTECT, related_name="outbox")
    action = models.CharField(max_length=8, choices=Action.choices)
    generation = models.PositiveIntegerField()
    idempotency_key = models.CharField(max_length=100, unique=True)
    # created_at, sent_at, the lease, attempts, retry budget and done_at: accounts.outbox.OutboxRow

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["done_at", "sent_at"])]
        verbose_name_plural = "outbox entries"

    def __str__(self) -> str:
        return self.idempotency_key


class Actuator(models.Model):
    """How Failsafe reaches one deployment's control plane (the actuator HTTP contract).

    The secret signs every request; it is write-only in the admin and never logged.
    """

    class Kind(models.TextChoices):
        HTTP = "http", "HTTP actuator contract"

    deployment = models.OneToOneField(Deployment, on_delete=models.PROTECT, related_name="actuator")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.HTTP)
    base_url = models.URLField(max_length=500, help_text="e.g. https://control.example.com/failsafe")
    secret = models.CharField(max_length=200, help_text="Shared HMAC secret; never shown again once saved.")
    connect_timeout_seconds = models.FloatField(default=2.0)
    read_timeout_seconds = models.FloatField(default=10.0)
    checked_at = models.DateTimeField(null=True, blank=True)
    ready = models.BooleanField(default=False)
    check_detail = models.CharField(max_length=500, blank=True)
    # What the last passing GET /health said it can apply; null: it did not say (every dispatched type).
    supported_types = models.JSONField(null=True, blank=True)
    # Types this deployment carries out by hand even though the actuator could (an admin's choice).
    manual_types = models.JSONField(default=list, blank=True)
    # The beat claims a check by moving this forward, so two beats never check one actuator twice.
    next_check_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["deployment__slug"]

    def __str__(self) -> str:
        return f"{self.deployment.slug} → {self.base_url}"


class ActuatorCheck(models.Model):
    """One readiness check of an actuator (GET /health): a short history, the newest few kept."""

    actuator = models.ForeignKey(Actuator, on_delete=models.CASCADE, related_name="checks")
    checked_at = models.DateTimeField()
    ok = models.BooleanField()
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    supported_types = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-checked_at", "-id"]
        indexes = [models.Index(fields=["actuator", "-checked_at"])]

    def __str__(self) -> str:
        return f"{self.actuator_id} at {self.checked_at:%Y-%m-%d %H:%M:%S}: {'ok' if self.ok else self.detail}"


class DispatchAttempt(models.Model):
    """One call to an actuator: what was sent, what came back, how long it took."""

    class Outcome(models.TextChoices):
        OK = "ok"
        TRANSIENT = "transient", "Transient error"
        PERMANENT = "permanent", "Permanent error"

    correction = models.ForeignKey(Correction, on_delete=models.PROTECT, related_name="attempts")
    outbox_entry = models.ForeignKey(OutboxEntry, on_delete=models.PROTECT, related_name="attempts")
    target = models.ForeignKey(
        CorrectionTarget, on_delete=models.PROTECT, null=True, blank=True, related_name="attempts"
    )
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=8)  # apply, lift, status
    number = models.PositiveIntegerField(help_text="1 for the first attempt of this outbox entry")
    method = models.CharField(max_length=8)
    url = models.CharField(max_length=1000)
    request_body = models.JSONField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    error = models.CharField(max_length=1000, blank=True)
    started_at = models.DateTimeField()

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} #{self.number} for {self.correction_id}: {self.outcome}"


# --- playbooks (corrections.playbooks, DESIGN §8a) -------------------------------------------------


class Playbook(models.Model):
    """A named playbook; what it says lives in its versions, the newest of which is current."""

    slug = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class PlaybookVersion(models.Model):
    """One immutable version of a playbook: every edit writes a new row (and a ledger event).

    Matchers (empty list: any), escalation criteria, checklist steps and recommended corrections are
    validated JSON (corrections.playbooks.content reads them). `preauthorised_type` names one
    recommended correction that, once leadership approves this version, runs at tier 1 on matching
    incidents; the database itself refuses an approval by the version's author.
    """

    playbook = models.ForeignKey(Playbook, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    is_current = models.BooleanField(default=True)
    active = models.BooleanField(default=True, help_text="Inactive: kept, but matches no incident.")
    categories = models.JSONField(default=list)
    risk_domains = models.JSONField(default=list)
    min_severity = models.CharField(max_length=4, default="SEV4")
    priority = models.PositiveSmallIntegerField(default=100)
    escalation_criteria = models.JSONField(default=list)
    steps = models.JSONField(default=list)
    recommendations = models.JSONField(default=list)
    preauthorised_type = models.CharField(max_length=32, blank=True)
    note = models.TextField(max_length=20000, blank=True, help_text="Why this version.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    preauth_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    preauth_approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["playbook", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["playbook", "number"], name="playbook_version_unique"),
            models.UniqueConstraint(
                fields=["playbook"], condition=Q(is_current=True), name="one_current_version_per_playbook"
            ),
            models.CheckConstraint(condition=~Q(preauth_approved_by=F("created_by")), name="no_self_approved_playbook"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"{self.playbook.slug} v{self.number}"

    @property
    def preauthorised(self) -> bool:
        """Pre-authorisation in effect: named, and approved by leadership."""
        return bool(self.preauthorised_type) and self.preauth_approved_at is not None


class IncidentPlaybook(models.Model):
    """A playbook version attached to an incident when it matched (on creation or escalation)."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="playbooks")
    version = models.ForeignKey(PlaybookVersion, on_delete=models.PROTECT, related_name="incidents")
    trigger = models.CharField(max_length=16, help_text="created, escalated, changed (re-matched) or drill")
    attached_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-attached_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "version"], name="one_attachment_per_version"),
        ]

    def __str__(self) -> str:
        return f"{self.version_id} on {self.incident_id}"


# --- Drills (DESIGN §8a; corrections/drills/) ---------------------------------------------------


class DrillSchedule(models.Model):
    """How often one team rehearses; beat reminds the incident commanders when its next drill is due."""

    team = models.CharField(max_length=100, unique=True, help_text="e.g. Safety on-call")
    every_days = models.PositiveIntegerField(default=90)
    remind_days_before = models.PositiveIntegerField(default=7, help_text="Start reminding this many days before.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_reminded_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["team"]

    def __str__(self) -> str:
        return f"{self.team}: every {self.every_days} days"


class Drill(models.Model):
    """One rehearsal: an incident created as a drill (Incident.is_drill), and what it was started with."""

    incident = models.OneToOneField(Incident, on_delete=models.PROTECT, related_name="drill")
    schedule = models.ForeignKey(DrillSchedule, on_delete=models.PROTECT, null=True, blank=True, related_name="drills")
    playbook_version = models.ForeignKey(
        PlaybookVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="drills",
        help_text="The playbook version the drill was started from (attached to its incident).",
    )  # fmt: skip
    scenario = models.JSONField(default=dict, help_text="What the drill was started with, as given.")
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"drill {self.incident_id}"


class DrillReport(models.Model):
    """A kept, immutable snapshot of how long each phase of a drill took and who was slowest in it.

    Made when the drill's incident closes (beat) or on demand; never changed (the service only
    creates; on PostgreSQL a trigger refuses UPDATE and DELETE, migration 0009_drills)."""

    class Trigger(models.TextChoices):
        CLOSED = "closed", "When the drill closed"
        ON_DEMAND = "on_demand", "On demand"

    drill = models.ForeignKey(Drill, on_delete=models.PROTECT, related_name="reports")
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    made_at = models.DateTimeField()
    made_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    phases = models.JSONField(default=list, help_text="Each phase: key, label, started_at, ended_at, seconds, who.")
    summary = models.JSONField(default=dict, help_text="The incident as it stood: ref, title, severity, status.")

    class Meta:
        ordering = ["-made_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["drill"], condition=Q(trigger="closed"), name="one_closing_report_per_drill"
            ),
        ]

    def __str__(self) -> str:
        return f"report {self.pk} of drill {self.drill_id}"


class NoticeState(models.TextChoices):
    DRAFT = "draft"
    SENT = "sent", "Sent (handed to the outbox)"


class CustomerNotice(models.Model):
    """What one customer is told about one correction (issue 13 §5), drafted when it is requested.

    `term` is the agreement's term for the correction's type as it stood when drafted ({} when the
    customer never accepted the type); corrections.customers.checks reads it to flag the notice. Once
    sent, `notification` holds the rows delivered to the contacts (their delivery state and time).
    """

    correction = models.ForeignKey(Correction, on_delete=models.PROTECT, related_name="notices")
    organisation = models.ForeignKey(CustomerOrganisation, on_delete=models.PROTECT, related_name="+")
    agreement = models.ForeignKey("incidents.Agreement", on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+")  # fmt: skip
    term = models.JSONField(default=dict, blank=True)
    subject = models.CharField(max_length=300)
    body = models.TextField(max_length=20000)
    state = models.CharField(max_length=16, choices=NoticeState, default=NoticeState.DRAFT)
    recipients = models.JSONField(default=list, blank=True, help_text="The contacts' addresses it was sent to.")
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    edited_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="+")  # fmt: skip
    sent_at = models.DateTimeField(null=True, blank=True)
    notification = models.ForeignKey(Notification, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["correction_id", "organisation__name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["correction", "organisation"], name="one_notice_per_customer"),
        ]

    def __str__(self) -> str:
        return f"notice of correction {self.correction_id} to {self.organisation_id}"
