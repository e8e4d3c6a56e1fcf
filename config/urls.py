from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from config.docs import ApiDocsView

urlpatterns = [
    path("", include("incidents.urls")),
    path("", include("corrections.urls")),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("accounts.api.urls")),
    path("api/v1/", include("incidents.api.urls")),
    path("api/v1/", include("corrections.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
]

# Auditor pages and audit API (issue 5).
urlpatterns += [
    path("audit/", include("incidents.audit.urls")),
    path("api/v1/audit/", include("incidents.api.audit_urls")),
]

# Response metrics (issue 10, point 6).
urlpatterns += [
    path("metrics/", include("incidents.metrics.urls")),
]

# An address under /api/ that no route matches answers JSON like every other API error.
handler404 = "config.api.not_found"

# Health, readiness and Prometheus metrics for operators (issue 14): not the product's /metrics/ pages.
urlpatterns += [
    path("", include("accounts.ops_urls")),
]
