from django.urls import path

from incidents.sharing import api

urlpatterns = [
    path("sharing/recipients/", api.RecipientListView.as_view(), name="api-sharing-recipients"),
    path("incidents/<ref:ref>/shares/", api.IncidentShareListView.as_view(), name="api-share-list"),
    path("incidents/<ref:ref>/shares/<int:share_id>/package/", api.SharePackageView.as_view(),
         name="api-share-package"),
    path("incidents/<ref:ref>/shares/<int:share_id>/stix/", api.ShareStixView.as_view(), name="api-share-stix"),
]  # fmt: skip
