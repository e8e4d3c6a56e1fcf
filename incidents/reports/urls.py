from django.urls import path

from incidents.reports import views

BASE = "incidents/<ref:ref>/reports/"

urlpatterns = [
    path(BASE, views.report_list, name="report-list"),
    path(f"{BASE}<regime:regime>/", views.report_detail, name="report-detail"),
    path(f"{BASE}<regime:regime>/edit/", views.report_edit, name="report-edit"),
    path(f"{BASE}<regime:regime>/submit/", views.report_submit, name="report-submit"),
    path(f"{BASE}<regime:regime>/versions/<int:number>/print/", views.report_print, name="report-print"),
    path(f"{BASE}<regime:regime>/versions/<int:number>/pdf/", views.report_pdf, name="report-pdf"),
    path(f"{BASE}<regime:regime>/versions/<int:number>/json/", views.report_json, name="report-json"),
]
