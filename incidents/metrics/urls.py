from django.urls import path

from incidents.metrics import views

urlpatterns = [
    path("", views.metrics, name="metrics"),
    path("export.csv", views.metrics_csv, name="metrics-csv"),
]
