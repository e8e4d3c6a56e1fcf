"""GET /api/v1/metrics/: the metrics page's numbers as JSON (the same cells as its CSV export)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from accounts.api.base import ApiView
from config.api import HasAnyRole, error_responses
from config.errors import DomainError
from incidents.metrics.forms import MetricsFilterForm
from incidents.metrics.selectors import MetricsReport, metrics_for
from incidents.models import Category, Severity


class MetricDefinitionSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    formula = serializers.CharField(
        help_text="end − start; a row missing either, or with end before start, is left out"
    )
    meaning = serializers.CharField()


class MetricGroupSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="incidents, corrections")
    title = serializers.CharField()
    month_basis = serializers.CharField(help_text="Which timestamp places a row in a month and in the date range.")
    metrics = MetricDefinitionSerializer(many=True)


class MetricCellSerializer(serializers.Serializer):
    group = serializers.CharField()
    metric = serializers.CharField()
    severity = serializers.CharField(help_text='SEV1–SEV4, or "all"')
    month = serializers.CharField(help_text='YYYY-MM (UTC), or "all" for the whole range')
    n = serializers.IntegerField(help_text="rows with both milestones recorded")
    p50_seconds = serializers.FloatField(allow_null=True, help_text="median (percentile_cont 0.5); null when n is 0")
    p90_seconds = serializers.FloatField(allow_null=True, help_text="90th percentile (percentile_cont 0.9)")


class MetricFiltersSerializer(serializers.Serializer):
    since = serializers.DateField()
    until = serializers.DateField()
    severity = serializers.CharField(allow_blank=True)
    category = serializers.CharField(allow_blank=True)


class MetricsSerializer(serializers.Serializer):
    filters = MetricFiltersSerializer()
    groups = MetricGroupSerializer(many=True)
    cells = MetricCellSerializer(many=True)


def metrics_data(report: MetricsReport) -> dict:
    return {
        "filters": report.filters.as_dict(),
        "groups": [
            {
                "key": g.group.key,
                "title": g.group.title,
                "month_basis": g.group.month_basis,
                "metrics": [
                    {"key": m.key, "label": m.label, "formula": m.formula, "meaning": m.meaning}
                    for m in g.group.metrics
                ],
            }
            for g in report.groups
        ],
        "cells": [
            {
                "group": row.group,
                "metric": row.metric,
                "severity": row.severity,
                "month": row.month,
                "n": row.cell.n,
                "p50_seconds": row.cell.p50,
                "p90_seconds": row.cell.p90,
            }
            for row in report.rows()
        ],
    }


class MetricsView(ApiView):
    permission_classes = [HasAnyRole]

    @extend_schema(
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATE, description="UTC, inclusive; default: 11 months ago, 1st"),
            OpenApiParameter("until", OpenApiTypes.DATE, description="UTC, inclusive; default: today"),
            OpenApiParameter("severity", OpenApiTypes.STR, enum=Severity.values),
            OpenApiParameter("category", OpenApiTypes.STR, enum=Category.values),
        ],
        responses={200: MetricsSerializer, **error_responses(400, 403)},
        tags=["metrics"],
    )
    def get(self, request):
        """Response metrics over the incidents you may see: p50/p90 and n per group, metric,
        severity and month (UTC), plus "all" rows. Dismissed incidents and drills are not counted."""
        form = MetricsFilterForm(request.query_params or None)
        filters = form.to_filters()
        if filters is None:
            errors = {field: list(messages) for field, messages in form.errors.items()}
            raise DomainError("Invalid filters.", fields=errors)
        return Response(metrics_data(metrics_for(user=request.user, filters=filters)))
