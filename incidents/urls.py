from django.urls import include, path

from incidents import views, views_preferences

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("incidents/", views.incident_list, name="incident-list"),
    path("incidents/new/", views.incident_new, name="incident-new"),
    path("incidents/<ref:ref>/", views.incident_detail, name="incident-detail"),
    path("incidents/<ref:ref>/entries/", views.incident_add_entry, name="incident-add-entry"),
    path("incidents/<ref:ref>/severity/", views.incident_change_severity, name="incident-severity"),
    path("incidents/<ref:ref>/status/", views.incident_change_status, name="incident-status"),
    path("incidents/<ref:ref>/escalate/", views.incident_escalate, name="incident-escalate"),
    path("incidents/<ref:ref>/details/", views.incident_edit_details, name="incident-edit-details"),
    path("incidents/<ref:ref>/assign/", views.incident_assign, name="incident-assign"),
    path("incidents/<ref:ref>/chat-channel/", views.incident_open_chat_channel, name="incident-chat-channel"),
    path("incidents/<ref:ref>/checklist/<int:item_id>/tick/", views.incident_checklist_tick,
         name="incident-checklist-tick"),
    path("signals/", views.signal_list, name="signal-list"),
    path("signals/<int:pk>/promote/", views.signal_promote, name="signal-promote"),
    path("signals/<int:pk>/dismiss/", views.signal_dismiss, name="signal-dismiss"),
    path("", include("incidents.reviews.urls")),
    path("", include("incidents.reports.urls")),
    path("", include("incidents.oncall.urls")),
    path("", include("incidents.evidence.urls")),
    path("", include("incidents.sharing.urls")),
    path("accounts/notifications/", views_preferences.notification_preferences, name="notification-preferences"),
    path("", include("incidents.reporting.urls")),
]  # fmt: skip
