from django.urls import path

from accounts import views, views_otp

urlpatterns = [
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("otp/", views_otp.otp_settings, name="otp-settings"),
    path("otp/start/", views_otp.otp_action, {"action": "start"}, name="otp-start"),
    path("otp/confirm/", views_otp.otp_action, {"action": "confirm"}, name="otp-confirm"),
    path("otp/remove/", views_otp.otp_action, {"action": "remove"}, name="otp-remove"),
]
