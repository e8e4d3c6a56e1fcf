"""Correction phases on the metrics page (incidents.metrics): request → approved → enforced → lifted."""

from __future__ import annotations

import json

from django.db.models import QuerySet

from accounts.models import User
from corrections.models import ApprovalPolicy, Correction
from incidents import metrics
from incidents.models import AIModel, Deployment, Incident
from incidents.selectors import visible_through_q

CORRECTION_METRICS = (
    metrics.Metric(
        key="approve",
        label="Request to approval",
        start="requested_at",
        end="approved_at",
        formula="approved − requested",
        meaning="Sign-off: from the request to its last required approval (pre-authorised ones: none).",
    ),
    metrics.Metric(
        key="enforce",
        label="Approval to enforcement",
        start="approved_at",
        end="activated_at",
        formula="enforced − approved",
        meaning="Dispatch: from approval to the correction in force at the edge (or confirmed by hand).",
    ),
    metrics.Metric(
        key="request_to_enforce",
        label="Request to enforcement",
        start="requested_at",
        end="activated_at",
        formula="enforced − requested",
        meaning="The whole path from asking for a correction to having it in force.",
    ),
    metrics.Metric(
        key="in_force",
        label="Enforcement to lift",
        start="activated_at",
        end="lifted_at",
        formula="lifted − enforced",
        meaning="How long a correction stayed in force before it was lifted or expired and was lifted.",
    ),
)


def corrections_counted_for(user: User) -> QuerySet[Correction]:
    """The corrections of incidents the user may see: corrections_visible_to's rule, through the join."""
    return Correction.objects.filter(visible_through_q(user, path="incident"))


def seed_for_benchmark(cursor) -> None:
    """bench_incidents: about one correction for every three seeded incidents, with phase times
    spread as sign-off and dispatch really are (most within minutes, a long tail). As in a real
    history, only open incidents still have corrections pending or in force; the rest were lifted."""
    table, incidents = Correction._meta.db_table, Incident._meta.db_table
    policy = ApprovalPolicy.objects.get(tier=2, is_current=True)
    model = AIModel.objects.order_by("id").first()
    deployment = Deployment.objects.filter(model=model).order_by("id").first()
    cursor.execute(
        f"""
        INSERT INTO {table} (incident_id, type, deployment_id, model_id, params, rationale, duration_minutes,
            state, tier, policy_id, policy_snapshot, content_hash, generation, requested_by_id, requested_at,
            approved_at, activated_at, lifted_at, failure, failed_action, break_glass,
            break_glass_justification, updated_at, notice_explanation, evidence_override)
        SELECT id, 'restrict_use_case', %s, %s, '{{"use_cases": ["bio_research"]}}', 'Bench correction.', NULL,
               CASE WHEN NOT open THEN 'lifted' WHEN r2 < 0.05 THEN 'pending_approval' WHEN r2 < 0.3 THEN 'active'
                    ELSE 'lifted' END,
               2, %s, %s, md5(id::text), 1, reporter_id, requested,
               CASE WHEN r2 >= 0.05 OR NOT open THEN requested + (30 + r3 * r3 * 7200) * interval '1 second' END,
               CASE WHEN r2 >= 0.05 OR NOT open THEN requested + (60 + r3 * r3 * 7200 + r4 * 300) * interval '1 second'
                    END,
               CASE WHEN r2 >= 0.3 OR NOT open THEN requested + (1 + r4 * 10) * interval '1 day' END,
               '', '', false, '', requested, '', ''
        FROM (SELECT id, reporter_id, reported_at + (5 + random() * 120) * interval '1 minute' AS requested,
                     random() r2, random() r3, random() r4,
                     status IN ('reported', 'triaged', 'responding', 'contained') AS open
              FROM {incidents} WHERE id %% 3 = 0 AND status <> 'dismissed') s
        """,  # noqa: S608 (table names from code; values are parameters)
        [deployment.pk if deployment else None, model.pk, policy.pk, json.dumps(policy.snapshot().as_dict())],
    )


def register() -> None:
    metrics.register_group(
        metrics.MetricGroup(
            key="corrections",
            title="Corrections",
            visible=corrections_counted_for,
            incident_path="incident",
            month_field="requested_at",
            month_basis=(
                "the month (UTC) in which the correction was requested; severity and category are its incident's"
            ),
            metrics=CORRECTION_METRICS,
            order=10,
            bench_seed=seed_for_benchmark,
        )
    )
