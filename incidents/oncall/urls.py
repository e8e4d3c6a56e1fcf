from django.urls import path

from incidents.oncall import views

urlpatterns = [
    path("oncall/", views.rotation_list, name="oncall-list"),
    path("oncall/new/", views.rotation_new, name="oncall-new"),
    path("oncall/<int:rotation_id>/edit/", views.rotation_edit, name="oncall-edit"),
    path("oncall/<int:rotation_id>/overrides/", views.override_add, name="oncall-override-add"),
    path("pages/<int:page_id>/", views.page_detail, name="page-detail"),
    path("pages/<int:page_id>/acknowledge/", views.page_acknowledge, name="page-acknowledge"),
]
