"""`python manage.py run_local_slack --port 8200`: the local Slack Web API stand-in as its own process.

Point Failsafe at it with FAILSAFE_SLACK_API_URL=http://127.0.0.1:8200/api/ and the same
FAILSAFE_SLACK_BOT_TOKEN; what Failsafe posts is at GET http://127.0.0.1:8200/_messages.
"""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from incidents.channels.local_slack import DEMO_ROLE_CHANNELS, LocalSlack


class Command(BaseCommand):
    help = (
        "Run a local stand-in for the Slack Web API (auth.test, chat.postMessage, conversations.create, "
        "conversations.invite, conversations.setTopic) for development; GET /_messages lists what was posted."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8200, help="TCP port; 0 picks a free one (default 8200)")
        parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
        parser.add_argument("--token", default="", help="the bot token it accepts (default FAILSAFE_SLACK_BOT_TOKEN)")

    def handle(self, *args, port: int, host: str, token: str, **options):
        token = token or settings.FAILSAFE_SLACK_BOT_TOKEN
        if not token:
            raise CommandError("Give --token or set FAILSAFE_SLACK_BOT_TOKEN: the stand-in checks it like Slack does.")
        slack = LocalSlack(token=token)
        for channel_id, name in DEMO_ROLE_CHANNELS.values():  # seed_demo routes the roles to these
            slack.add_channel(channel_id, name)
        try:
            server = slack.serve(host, port)
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from exc
        bound = server.server_address[1]
        self.stdout.write(f"Local Slack at http://{host}:{bound}/api/ (messages: http://{host}:{bound}/_messages)")
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        stop.wait()
        slack.stop()
