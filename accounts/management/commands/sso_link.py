"""Link an existing account to its identity-provider subject, so it signs in through single sign-on.

python manage.py sso_link --by admin --username riley --subject 00u1a2b3c4 [--issuer https://idp.example/]

Single sign-on never takes over an account by matching a username or email address; an admin
links it here, and the link is recorded on the ledger.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts import sso
from accounts.actor import Actor
from accounts.models import User
from accounts.roles import Role


class Command(BaseCommand):
    help = "Link an account to an identity-provider subject (`sub`), recorded on the ledger."

    def add_arguments(self, parser):
        parser.add_argument("--by", required=True, help="username of the administrator doing this (on the ledger)")
        parser.add_argument("--username", required=True, help="the Failsafe account to link")
        parser.add_argument("--subject", required=True, help="the provider's `sub` for that person")
        parser.add_argument("--issuer", default="", help="defaults to FAILSAFE_OIDC_ISSUER")

    def handle(self, *args, by: str, username: str, subject: str, issuer: str, **options):
        admin = User.objects.filter(username=by, is_active=True).first()
        if admin is None or not (admin.is_superuser or admin.has_role(Role.ADMIN)):
            raise CommandError(f"{by!r} is not an active administrator.")
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        issuer = (issuer or settings.FAILSAFE_OIDC_ISSUER).rstrip("/")
        if not issuer or not subject.strip():
            raise CommandError("Give --subject, and --issuer unless FAILSAFE_OIDC_ISSUER is set.")
        try:
            sso.sso_identity_link(actor=Actor.command(admin, "sso_link"), user=user, issuer=issuer, subject=subject)
        except sso.SsoRefused as refusal:
            raise CommandError(refusal.message) from refusal
        self.stdout.write(self.style.SUCCESS(f"{username} now signs in as {subject} at {issuer}."))
