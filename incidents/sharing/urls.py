from django.urls import path

from incidents.sharing import views

urlpatterns = [
    path("incidents/<ref:ref>/shares/", views.share_list, name="share-list"),
    path("incidents/<ref:ref>/shares/<int:share_id>/package.json", views.share_package, name="share-package"),
    path("incidents/<ref:ref>/shares/<int:share_id>/stix.json", views.share_stix, name="share-stix"),
]
