from django.urls import path

from accounts import views, views_otp, views_passkeys, views_sso

urlpatterns = [
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("sso/start/", views_sso.start, name="sso-start"),
    path("sso/callback/", views_sso.callback, name="sso-callback"),
    path("otp/", views_otp.otp_settings, name="otp-settings"),
    path("otp/start/", views_otp.otp_action, {"action": "start"}, name="otp-start"),
    path("otp/confirm/", views_otp.otp_action, {"action": "confirm"}, name="otp-confirm"),
    path("otp/remove/", views_otp.otp_action, {"action": "remove"}, name="otp-remove"),
    path("passkeys/add/begin/", views_passkeys.passkey_add_begin, name="passkey-add-begin"),
    path("passkeys/add/complete/", views_passkeys.passkey_add_complete, name="passkey-add-complete"),
    path("passkeys/challenge/add/", views_passkeys.passkey_challenge, {"purpose": "add"}, name="passkey-challenge-add"),
    path("passkeys/challenge/remove/", views_passkeys.passkey_challenge, {"purpose": "remove"},
         name="passkey-challenge-remove"),
    path("passkeys/<int:pk>/remove/", views_passkeys.passkey_remove, name="passkey-remove"),
]  # fmt: skip
