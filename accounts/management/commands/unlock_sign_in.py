"""Clear a sign-in lockout from the command line, recorded on the ledger like the admin action.

python manage.py unlock_sign_in --by admin --username riley
python manage.py unlock_sign_in --by admin --address 203.0.113.7 --reason "office NAT, reported by riley"
"""

from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.actor import Actor
from accounts.models import User
from config.errors import DomainError


class Command(BaseCommand):
    help = "Clear the sign-in lockout of a username and/or a client address (an audited admin action)."

    def add_arguments(self, parser):
        parser.add_argument("--by", required=True, help="username of the administrator doing this (on the ledger)")
        parser.add_argument("--username", default="", help="unlock this username, from every address")
        parser.add_argument("--address", default="", help="unlock this client address, for every username")
        parser.add_argument("--reason", default="", help="why, for the ledger")

    def handle(self, *args, by: str, username: str, address: str, reason: str, **options):
        admin = User.objects.filter(username=by, is_active=True).first()
        if admin is None:
            raise CommandError(f"No active user {by!r}.")
        try:
            forgiven = services.lockout_clear(
                actor=Actor.command(admin, "unlock_sign_in"), username=username, ip_address=address, reason=reason
            )
        except DomainError as error:
            raise CommandError(error.message) from error
        self.stdout.write(self.style.SUCCESS(f"Sign-in unlocked; {forgiven} failed attempt(s) forgiven."))
