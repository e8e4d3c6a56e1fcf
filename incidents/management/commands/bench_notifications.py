"""`python manage.py bench_notifications --n 1000`: N notifications enqueued at once, all delivered.

Starts a local SMTP server (aiosmtpd) and the local Slack stand-in (incidents.channels.local_slack),
both in this process on real sockets, writes N notifications in one transaction (one recipient
each, who gets it by email and as a Slack DM: two deliveries per notification, through notify()
and its one recipient filter), and measures from the start of that transaction until every
delivery of this run is sent:

  --worker   by a real Celery worker process (its own broker: REDIS_URL, or the filesystem one);
             the commit hands each delivery to the broker as in production
  default    by the worker's task body in a pool of threads in this process (--threads)

Prints deliveries per second, total seconds, the count per channel and what each local server
received. `--no-slack`: email only. Use a scratch database.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connection, transaction

from accounts.models import User
from accounts.roles import Role
from incidents import delivery, notifications
from incidents.channels.local_slack import LocalSlack
from incidents.localsmtp import LocalSmtp
from incidents.models import Delivery, DeliveryState, Event, NotificationPreference, SlackIdentity

SLACK_TOKEN = "xoxb-failsafe-bench"


class Command(BaseCommand):
    help = (
        "Benchmark notification delivery: N notifications enqueued at once, delivered to a local SMTP server "
        "and the local Slack stand-in."
    )

    def add_arguments(self, parser):
        parser.add_argument("--n", type=int, default=1000, help="notifications (default 1000)")
        parser.add_argument("--threads", type=int, default=8, help="pool size without --worker (default 8)")
        parser.add_argument("--worker", action="store_true", help="deliver with a real Celery worker process")
        parser.add_argument(
            "--concurrency", type=int, default=8, help="the worker's concurrency (default 8: it waits on sockets)"
        )
        parser.add_argument("--pool", default="prefork", help="the worker's pool: prefork (default) or threads")
        parser.add_argument("--timeout", type=float, default=120, help="give up after this many seconds")
        parser.add_argument("--no-slack", action="store_true", help="email only (one delivery per notification)")

    def handle(self, *args, n, threads, worker, concurrency, pool, timeout, no_slack, **options):
        if n < 1:
            raise CommandError("--n must be at least 1")
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command at INFO
        smtp = LocalSmtp().start()
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
        slack = None if no_slack else LocalSlack(token=SLACK_TOKEN)
        if slack is not None:
            slack.serve()
            settings.FAILSAFE_SLACK_API_URL, settings.FAILSAFE_SLACK_BOT_TOKEN = slack.url, SLACK_TOKEN
        child = None
        expected = n if no_slack else 2 * n
        try:
            if worker:
                child = self._start_worker(smtp.port, slack.url if slack else "", concurrency, pool)
            users = self._users(n, slack=not no_slack)
            started = time.perf_counter()
            ids = self._enqueue(users, sends=worker)
            enqueued = time.perf_counter() - started
            if len(ids) != expected:
                raise CommandError(f"{len(ids)} deliveries written, {expected} expected")
            if not worker:
                self._pool(ids, threads)
            self._wait(ids, expected, timeout, started)
            elapsed = time.perf_counter() - started
        finally:
            if child is not None:
                child.terminate()
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()
            smtp.stop()
            if slack is not None:
                slack.stop()
        per_channel = Counter(
            Delivery.objects.filter(pk__in=ids, state=DeliveryState.SENT).values_list("channel", flat=True)
        )
        how = f"a Celery worker ({pool} pool, concurrency {concurrency})" if worker else f"a pool of {threads} threads"
        self.stdout.write(f"{n} notifications enqueued in one commit, delivered by {how}")
        self.stdout.write(f"  deliveries: {expected} ({'email' if no_slack else 'one email + one Slack DM'} each)")
        self.stdout.write(f"  total: {elapsed:.2f} s   throughput: {expected / elapsed:.0f} deliveries/s")
        self.stdout.write(f"  of which writing the {n} notifications (one transaction): {enqueued:.2f} s")
        self.stdout.write("  per channel: " + ", ".join(f"{c} {k}" for c, k in sorted(per_channel.items())))
        received = f"SMTP server {smtp.count}" + (f", Slack stand-in {len(slack.messages)}" if slack else "")
        self.stdout.write(f"  received: {received} (more if an earlier run left deliveries queued)")

    def _users(self, n: int, *, slack: bool) -> list[User]:
        """N recipients: every event by email and, with `slack`, as a Slack DM (bench users are reused)."""
        group = Group.objects.get(name=Role.RESPONDER)
        existing = {u.username: u for u in User.objects.filter(username__startswith="bench-notify-")}
        missing = [f"bench-notify-{i:05d}" for i in range(n) if f"bench-notify-{i:05d}" not in existing]
        User.objects.bulk_create([User(username=name, email=f"{name}@bench.test") for name in missing])
        users = list(User.objects.filter(username__startswith="bench-notify-").order_by("username")[:n])
        group.user_set.add(*users)
        NotificationPreference.objects.filter(user__in=users).delete()  # the defaults: everything by email
        SlackIdentity.objects.filter(user__in=users).delete()
        if slack:
            NotificationPreference.objects.bulk_create(
                NotificationPreference(user=u, email_events=Event.values, slack_events=Event.values) for u in users
            )
            SlackIdentity.objects.bulk_create(SlackIdentity(user=u, member_id=f"U0BENCH{u.pk:08d}") for u in users)
        return users

    def _enqueue(self, users: list[User], *, sends: bool) -> list[int]:
        before = Delivery.objects.order_by("-id").values_list("id", flat=True).first() or 0
        send = notifications.send
        if not sends:  # the pool delivers them; the broker is not part of this measurement
            notifications.send = lambda ids: 0
        try:
            with transaction.atomic():  # at once: notify_many, the batch path of notify()
                notifications.notify_many(
                    notifications.Notice(incident=None, users=[user], event=Event.GENERAL, subject=f"Bench {i}",
                                         body=f"Benchmark notification {i}.")
                    for i, user in enumerate(users)
                )  # fmt: skip
        finally:
            notifications.send = send
        return list(Delivery.objects.filter(id__gt=before).order_by("id").values_list("id", flat=True))

    def _pool(self, ids: list[int], threads: int) -> None:
        def deliver(pk: int) -> str:
            try:
                return delivery.delivery_deliver(delivery_id=pk).result
            finally:
                close_old_connections()

        with ThreadPoolExecutor(max_workers=threads) as pool:
            results = Counter(pool.map(deliver, ids))
        if set(results) != {"sent"}:
            self.stderr.write(f"outcomes: {dict(results)}")

    def _wait(self, ids: list[int], n: int, timeout: float, started: float) -> None:
        """Until every delivery of this run is sent (earlier runs' leftovers in the queue do not count)."""
        while (sent := Delivery.objects.filter(pk__in=ids, state=DeliveryState.SENT).count()) < n:
            if time.perf_counter() - started > timeout:
                states = Counter(Delivery.objects.filter(pk__in=ids).values_list("state", flat=True))
                raise CommandError(f"only {sent} of {n} delivered after {timeout:.0f} s: {dict(states)}")
            time.sleep(0.1)

    def _start_worker(self, port: int, slack_url: str, concurrency: int, pool: str) -> subprocess.Popen:
        if connection.vendor == "sqlite":
            raise CommandError("--worker needs PostgreSQL (DATABASE_URL): SQLite serialises the writers.")
        env = {**os.environ, "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
               "DJANGO_EMAIL_HOST": "127.0.0.1", "DJANGO_EMAIL_PORT": str(port),
               "FAILSAFE_SLACK_API_URL": slack_url,
               "FAILSAFE_SLACK_BOT_TOKEN": SLACK_TOKEN if slack_url else ""}  # fmt: skip
        log = Path(tempfile.mkstemp(prefix="failsafe-bench-notify-", suffix=".log")[1])
        child = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "warning", "-Q", "notify",
             "--concurrency", str(concurrency), "--pool", pool, "--without-gossip", "--without-mingle",
             "-n", f"bench-notify-{os.getpid()}@%h"],
            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=settings.BASE_DIR,
        )  # fmt: skip
        from config.celery import app

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise CommandError("the worker exited:\n" + log.read_text())
            if app.control.ping(timeout=0.5):
                return child
        child.terminate()
        raise CommandError("the worker did not start:\n" + log.read_text())
