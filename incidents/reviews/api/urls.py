from django.urls import path

from incidents.reviews.api import views

urlpatterns = [
    path("reviews/", views.ReviewListView.as_view(), name="api-review-list"),
    path("incidents/<ref:ref>/review/", views.ReviewDetailView.as_view(), name="api-review-detail"),
    path("incidents/<ref:ref>/review/approve/", views.ReviewApproveView.as_view(), name="api-review-approve"),
    path("incidents/<ref:ref>/review/publish/", views.ReviewPublishView.as_view(), name="api-review-publish"),
    path("incidents/<ref:ref>/review/amend/", views.ReviewAmendView.as_view(), name="api-review-amend"),
    path("incidents/<ref:ref>/review/markdown/", views.ReviewMarkdownView.as_view(), name="api-review-markdown"),
    path(
        "incidents/<ref:ref>/review/follow-ups/",
        views.IncidentFollowUpListView.as_view(),
        name="api-review-follow-ups",
    ),
    path("follow-ups/", views.FollowUpListView.as_view(), name="api-follow-up-list"),
    path("follow-ups/<int:pk>/", views.FollowUpDetailView.as_view(), name="api-follow-up-detail"),
]
