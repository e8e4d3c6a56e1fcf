from django.urls import path

from incidents.reporting.api import views

urlpatterns = [
    path("incidents/<ref:ref>/reportability/", views.ReportabilityView.as_view(), name="api-reportability"),
    path("deadlines/", views.DeadlineListView.as_view(), name="api-deadline-list"),
    path("rule-versions/", views.RuleVersionListView.as_view(), name="api-rule-version-list"),
]
