from django.urls import path

from corrections.drills import views

urlpatterns = [
    path("drills/", views.drill_list, name="drill-list"),
    path("drills/reports/<int:report_id>/", views.drill_report_detail, name="drill-report"),
    path("incidents/<ref:ref>/drill-report/", views.drill_report_make, name="drill-report-make"),
]
