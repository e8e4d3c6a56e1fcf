from django.urls import path

from incidents.oncall.api import views

urlpatterns = [
    path("oncall/", views.OnCallNowView.as_view(), name="api-oncall-now"),
    path("oncall/rotations/", views.RotationListView.as_view(), name="api-rotation-list"),
    path("oncall/rotations/<int:rotation_id>/", views.RotationDetailView.as_view(), name="api-rotation-detail"),
    path("oncall/rotations/<int:rotation_id>/overrides/", views.OverrideListView.as_view(), name="api-override-list"),
    path("pages/<int:page_id>/", views.PageDetailView.as_view(), name="api-page-detail"),
    path("pages/<int:page_id>/acknowledge/", views.PageAcknowledgeView.as_view(), name="api-page-acknowledge"),
]
