"""Sign-in and sign-out pages (Django's auth views, declared public)."""

from django.contrib.auth import views as auth_views

from accounts.access import public

# Public: nobody is signed in yet.
login = public(auth_views.LoginView.as_view(template_name="accounts/login.html", redirect_authenticated_user=True))
# Public too: anyone signed in may sign out, even an account without a role. POST only (CSRF-protected).
logout = public(auth_views.LogoutView.as_view())
