from django.urls import path

from corrections.playbooks import views

urlpatterns = [
    path("playbooks/", views.playbook_list, name="playbook-list"),
    path("playbooks/new/", views.playbook_new, name="playbook-new"),
    path("playbooks/<int:playbook_id>/", views.playbook_detail, name="playbook-detail"),
    path("playbooks/<int:playbook_id>/versions/new/", views.playbook_version_new, name="playbook-version-new"),
    path("playbooks/<int:playbook_id>/versions/<int:number>/approve/", views.playbook_preauth_approve,
         name="playbook-preauth-approve"),
]  # fmt: skip
