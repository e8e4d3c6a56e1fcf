from django.urls import path

from incidents.reviews import views

urlpatterns = [
    path("incidents/<ref:ref>/review/", views.review_detail, name="review-detail"),
    path("incidents/<ref:ref>/review/start/", views.review_start, name="review-start"),
    path("incidents/<ref:ref>/review/edit/", views.review_edit, name="review-edit"),
    path("incidents/<ref:ref>/review/approve/", views.review_approve, name="review-approve"),
    path("incidents/<ref:ref>/review/publish/", views.review_publish, name="review-publish"),
    path("incidents/<ref:ref>/review/amend/", views.review_amend, name="review-amend"),
    path("incidents/<ref:ref>/review/follow-ups/", views.follow_up_add, name="review-follow-up-add"),
    path("incidents/<ref:ref>/review/follow-ups/<int:pk>/", views.follow_up_edit, name="review-follow-up-edit"),
    path("incidents/<ref:ref>/review/markdown/", views.review_markdown, name="review-markdown"),
    path("incidents/<ref:ref>/review/print/", views.review_print, name="review-print"),
]
