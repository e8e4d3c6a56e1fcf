"""Sign-in and sign-out pages (Django's auth views, declared public)."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm

from accounts import sso
from accounts.access import public


class SignInForm(AuthenticationForm):
    """Django's form; with local passwords switched off, its refusal says where to sign in instead
    (the same words whoever tries, so it tells nobody which usernames are break-glass)."""

    def get_invalid_login_error(self):
        error = super().get_invalid_login_error()
        if not sso.local_password_allowed(None):
            error.message = (
                "Password sign-in is kept for break-glass administrators. "
                f"Everyone else signs in with {sso.provider_name()}."
            )
        return error


class SignInView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            sso_enabled=sso.enabled(),
            sso_provider_name=sso.provider_name(),
            local_passwords=sso.local_password_allowed(None),
            **kwargs,
        )


# Public: nobody is signed in yet.
login = public(SignInView.as_view())
# Public too: anyone signed in may sign out, even an account without a role. POST only (CSRF-protected).
logout = public(auth_views.LogoutView.as_view())
