"""Operators' endpoints (accounts.ops), mounted at the site root by config/urls.py."""

from django.urls import path

from accounts import ops

urlpatterns = [
    path("healthz", ops.healthz, name="ops-healthz"),
    path("readyz", ops.readyz, name="ops-readyz"),
    path("-/metrics", ops.metrics, name="ops-metrics"),
]
