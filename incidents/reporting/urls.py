from django.urls import path

from incidents.reporting import views

urlpatterns = [
    path("incidents/<ref:ref>/reportability/", views.reportability_detail, name="reportability"),
    path("incidents/<ref:ref>/reportability/assess/", views.reportability_assess, name="reportability-assess"),
    path("deadlines/", views.deadlines, name="deadlines"),
]
