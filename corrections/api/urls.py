from django.urls import path

from corrections.api import views
from corrections.customers import api as notices
from corrections.drills import api as drills
from corrections.playbooks import api as playbooks

urlpatterns = [
    path("correction-types/", views.CorrectionTypeListView.as_view(), name="api-correction-types"),
    path("incidents/<ref:ref>/corrections/", views.IncidentCorrectionListView.as_view(),
         name="api-incident-corrections"),
    path("corrections/<int:pk>/", views.CorrectionDetailView.as_view(), name="api-correction"),
    path("corrections/<int:pk>/approve/", views.CorrectionApproveView.as_view(), name="api-correction-approve"),
    path("corrections/<int:pk>/reject/", views.CorrectionRejectView.as_view(), name="api-correction-reject"),
    path("corrections/<int:pk>/cancel/", views.CorrectionCancelView.as_view(), name="api-correction-cancel"),
    path("corrections/<int:pk>/lift/", views.CorrectionLiftView.as_view(), name="api-correction-lift"),
    path("corrections/<int:pk>/lift/approve/", views.CorrectionLiftApproveView.as_view(),
         name="api-correction-lift-approve"),
    path("corrections/<int:pk>/lift/reject/", views.CorrectionLiftRejectView.as_view(),
         name="api-correction-lift-reject"),
    path("corrections/<int:pk>/retry/", views.CorrectionRetryView.as_view(), name="api-correction-retry"),
    path("corrections/<int:pk>/confirm/", views.CorrectionConfirmView.as_view(), name="api-correction-confirm"),
    path("corrections/<int:pk>/targets/confirm/", views.CorrectionTargetConfirmView.as_view(),
         name="api-correction-target-confirm"),
    path("in-force/", views.InForceListView.as_view(), name="api-in-force"),
    path("readiness/", views.ReadinessListView.as_view(), name="api-readiness"),
    path("playbooks/", playbooks.PlaybookListView.as_view(), name="api-playbook-list"),
    path("playbooks/<int:playbook_id>/", playbooks.PlaybookDetailView.as_view(), name="api-playbook"),
    path("playbooks/<int:playbook_id>/versions/", playbooks.PlaybookVersionCreateView.as_view(),
         name="api-playbook-versions"),
    path("playbooks/<int:playbook_id>/versions/<int:number>/approve/", playbooks.PlaybookPreauthApproveView.as_view(),
         name="api-playbook-approve"),
    path("incidents/<ref:ref>/playbook/", playbooks.IncidentPlaybookView.as_view(), name="api-incident-playbook"),
    path("approvals/pending/", views.PendingApprovalListView.as_view(), name="api-approvals-pending"),
    path("corrections/<int:pk>/notices/", notices.CorrectionNoticeListView.as_view(), name="api-correction-notices"),
    path("notices/<int:notice_id>/", notices.NoticeDetailView.as_view(), name="api-notice"),
    path("notices/<int:notice_id>/send/", notices.NoticeSendView.as_view(), name="api-notice-send"),
    path("drills/", drills.DrillListView.as_view(), name="api-drills"),
    path("drills/reports/<int:report_id>/", drills.DrillReportView.as_view(), name="api-drill-report"),
    path("incidents/<ref:ref>/drill-report/", drills.DrillReportMakeView.as_view(), name="api-drill-report-make"),
]  # fmt: skip
