"""Every row lock taken in incidents/, in one place and one order (after Saleor's lock_objects).

A transaction that needs several takes them in this order, so two never wait on each other:

    1. the incident            lock_incident
    2. an integration          lock_integration (an inbound webhook: serialises its deliveries)
       then signals            lock_signal, lock_open_signal, lock_open_signals
    3. the year's ref counter  lock_incident_counter (creating an incident)
       or a checklist step      lock_checklist_item
       or a review's rows       lock_review, lock_review_draft, lock_live_review_approvals, lock_follow_up
       or a regulator report    lock_report, then lock_report_draft
       or a chat or webhook row lock_slack_role_channel, lock_slack_identity, lock_webhook_endpoint
       or a page                lock_page (an escalation takes only the page; an acknowledgement
                                the incident first, for its acknowledged_at)
    (apart) an on-call rotation lock_rotation: configuration, never locked with the rows above
       or regulators' clocks    lock_running_clocks, lock_clock (incidents.reporting)
    (apart) a customer          lock_customer_organisation: configuration (its agreements and contacts)
    4. the ledger head         (accounts.ledger.record, always last)

A notification's delivery (lock_delivery) is locked alone, by the worker that sends it, or with the
ledger head after it (a resend).

Other apps that lock an incident with their own rows (corrections: incident, then correction,
then approvals) take the incident first, through lock_incident.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from incidents.models import (
    ChecklistItem,
    Clock,
    CustomerOrganisation,
    Delivery,
    FollowUpAction,
    Incident,
    IncidentCounter,
    Integration,
    Page,
    Report,
    ReportVersion,
    Review,
    ReviewApproval,
    ReviewVersion,
    Rotation,
    RuleVersion,
    Signal,
    SlackIdentity,
    SlackRoleChannel,
    WebhookEndpoint,
)


def lock_incident(pk: int) -> Incident:
    return Incident.objects.select_for_update().get(pk=pk)


def lock_integration(pk: int) -> Integration:
    return Integration.objects.select_for_update().get(pk=pk)


def lock_signal(pk: int, *, with_deployment: bool = False) -> Signal:
    signals = Signal.objects.select_for_update(of=("self",))
    if with_deployment:
        signals = signals.select_related("deployment")
    return signals.get(pk=pk)


def lock_open_signal(*, dedup_key: str, still_open: Q) -> Signal | None:
    """The most recently seen signal with this dedup key matching `still_open`, locked (only the
    signal row: the incident it may have been promoted into is read, not locked)."""
    return (
        Signal.objects.select_for_update(of=("self",))
        .filter(still_open, dedup_key=dedup_key)
        .order_by("-last_seen_at")
        .first()
    )


def lock_open_signals(*, dedup_keys: Iterable[str], still_open: Q) -> dict[str, Signal]:
    """lock_open_signal for many keys in one query (a webhook delivery's alerts): each key's most
    recently seen signal matching `still_open`, with its incident read (not locked). Rows are
    locked in (dedup key, last seen) order."""
    latest: dict[str, Signal] = {}
    signals = (
        Signal.objects.select_for_update(of=("self",))
        .select_related("incident")
        .filter(still_open, dedup_key__in=sorted(set(dedup_keys)))
        .order_by("dedup_key", "-last_seen_at", "-pk")
    )
    for signal in signals:
        latest.setdefault(signal.dedup_key, signal)
    return latest


def lock_incident_counter(year: int) -> IncidentCounter:
    counter, _ = IncidentCounter.objects.select_for_update().get_or_create(year=year)
    return counter


# A post-incident review's rows come after its incident: review, then its draft, then approvals.


def lock_review(incident: Incident) -> Review | None:
    return Review.objects.select_for_update().filter(incident=incident).first()


def lock_review_draft(review: Review) -> ReviewVersion | None:
    return ReviewVersion.objects.select_for_update().filter(review=review, published_at__isnull=True).first()


def lock_live_review_approvals(version: ReviewVersion) -> QuerySet[ReviewApproval]:
    return ReviewApproval.objects.select_for_update().filter(version=version, voided_at__isnull=True)


def lock_follow_up(pk: int) -> FollowUpAction:
    return FollowUpAction.objects.select_for_update().select_related("owner").get(pk=pk)


# A regulator report's rows come after its incident: the report, then its draft.


def lock_report(incident: Incident, regime: str) -> Report | None:
    return Report.objects.select_for_update().filter(incident=incident, regime=regime).first()


def lock_report_draft(report: Report) -> ReportVersion | None:
    return ReportVersion.objects.select_for_update().filter(report=report, submitted_at__isnull=True).first()


# Chat and webhook configuration (incidents.channels.services): one row each, after the incident if any.


def lock_slack_role_channel(role: str) -> SlackRoleChannel | None:
    return SlackRoleChannel.objects.select_for_update().filter(role=role).first()


def lock_slack_identity(user_id: int) -> SlackIdentity | None:
    return SlackIdentity.objects.select_for_update().filter(user_id=user_id).first()


def lock_webhook_endpoint(pk: int) -> WebhookEndpoint:
    return WebhookEndpoint.objects.select_for_update().get(pk=pk)


# On-call (incidents.oncall).


def lock_page(pk: int) -> Page:
    return Page.objects.select_for_update(of=("self",)).select_related("incident").get(pk=pk)


def lock_rotation(pk: int) -> Rotation:
    return Rotation.objects.select_for_update().get(pk=pk)


def lock_delivery(pk: int) -> Delivery:
    return Delivery.objects.select_for_update(of=("self",)).select_related("notification__incident").get(pk=pk)


def lock_checklist_item(*, incident: Incident, item_id: int) -> ChecklistItem | None:
    """One step of this incident's checklist (None if it is another incident's); lock the incident first."""
    return (
        ChecklistItem.objects.select_for_update(of=("self",))
        .select_related("ticked_by")
        .filter(incident=incident, pk=item_id)
        .first()
    )


# Regulators' clocks come after their incident; several in (due_at, id) order.


def lock_running_clocks(incident: Incident, *, regime: str = "") -> list[Clock]:
    clocks = Clock.objects.select_for_update(of=("self",)).filter(incident=incident, state="running")
    if regime:
        clocks = clocks.filter(regime=regime)
    return list(clocks.select_related("rule").order_by("due_at", "id"))


def lock_clock(pk: int) -> Clock:
    return Clock.objects.select_for_update(of=("self",)).select_related("rule").get(pk=pk)


def lock_latest_rule_version(regime: str) -> RuleVersion | None:
    """The newest version of a regime's rule, so two admins never publish the same next number."""
    return RuleVersion.objects.select_for_update().filter(regime=regime).order_by("-version").first()


def lock_customer_organisation(pk: int) -> CustomerOrganisation:
    """Serialises changes to one customer's agreements (so two never overlap)."""
    return CustomerOrganisation.objects.select_for_update().get(pk=pk)
