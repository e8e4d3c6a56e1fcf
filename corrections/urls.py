from django.urls import include, path

from corrections import views
from corrections.customers import views as notices

urlpatterns = [
    path("incidents/<ref:ref>/corrections/new/", views.correction_new, name="correction-new"),
    path("incidents/<ref:ref>/corrections/status/", views.incident_corrections_status,
         name="incident-corrections-status"),
    path("corrections/<int:pk>/", views.correction_detail, name="correction-detail"),
    path("corrections/<int:pk>/status/", views.correction_status, name="correction-status"),
    path("corrections/<int:pk>/approve/", views.correction_approve, name="correction-approve"),
    path("corrections/<int:pk>/approve/passkey-challenge/", views.correction_passkey_challenge,
         name="correction-passkey-challenge"),
    path("corrections/<int:pk>/reject/", views.correction_reject, name="correction-reject"),
    path("corrections/<int:pk>/cancel/", views.correction_cancel, name="correction-cancel"),
    path("corrections/<int:pk>/lift/", views.correction_lift, name="correction-lift"),
    path("corrections/<int:pk>/lift/approve/", views.correction_lift_approve, name="correction-lift-approve"),
    path("corrections/<int:pk>/lift/reject/", views.correction_lift_reject, name="correction-lift-reject"),
    path("corrections/<int:pk>/retry/", views.correction_retry, name="correction-retry"),
    path("corrections/<int:pk>/confirm/", views.correction_confirm, name="correction-confirm"),
    path("corrections/<int:pk>/targets/confirm/", views.correction_target_confirm,
         name="correction-target-confirm"),
    path("corrections/<int:pk>/notices/", notices.correction_notices, name="correction-notices"),
    path("notices/<int:notice_id>/edit/", notices.notice_edit, name="notice-edit"),
    path("notices/<int:notice_id>/send/", notices.notice_send, name="notice-send"),
    path("in-force/", views.in_force, name="in-force"),
    path("readiness/", views.readiness_matrix, name="readiness"),
    path("approvals/", views.approval_inbox, name="approval-inbox"),
    path("", include("corrections.drills.urls")),
    path("", include("corrections.playbooks.urls")),
]  # fmt: skip
