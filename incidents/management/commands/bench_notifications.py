"""`python manage.py bench_notifications --n 1000`: N notifications enqueued at once, all delivered.

Starts a local SMTP server (aiosmtpd, in this process), writes N notifications (one recipient
each, by email) in one transaction, and measures from that commit until the SMTP server holds
all N messages:

  --worker   by a real Celery worker process (its own broker: REDIS_URL, or the filesystem one);
             the commit hands each delivery to the broker as in production
  default    by the worker's task body in a pool of threads in this process (--threads)

Prints deliveries per second, total seconds, and the count per channel. Use a scratch database.
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
from incidents.localsmtp import LocalSmtp
from incidents.models import Delivery, DeliveryState, Event, NotificationPreference


class Command(BaseCommand):
    help = "Benchmark notification delivery: N notifications enqueued at once, delivered to a local SMTP server."

    def add_arguments(self, parser):
        parser.add_argument("--n", type=int, default=1000, help="notifications (default 1000)")
        parser.add_argument("--threads", type=int, default=8, help="pool size without --worker (default 8)")
        parser.add_argument("--worker", action="store_true", help="deliver with a real Celery worker process")
        parser.add_argument("--concurrency", type=int, default=4, help="the worker's concurrency (default 4)")
        parser.add_argument("--pool", default="prefork", help="the worker's pool: prefork (default) or threads")
        parser.add_argument("--timeout", type=float, default=120, help="give up after this many seconds")

    def handle(self, *args, n, threads, worker, concurrency, pool, timeout, **options):
        if n < 1:
            raise CommandError("--n must be at least 1")
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command at INFO
        smtp = LocalSmtp().start()
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
        child = None
        try:
            if worker:
                child = self._start_worker(smtp.port, concurrency, pool)
            users = self._users(n)
            started = time.perf_counter()
            ids = self._enqueue(users, sends=worker)
            enqueued = time.perf_counter() - started
            if not worker:
                self._pool(ids, threads)
            self._wait(smtp, ids, n, timeout, started)
            elapsed = time.perf_counter() - started
        finally:
            if child is not None:
                child.terminate()
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()
            smtp.stop()
        per_channel = Counter(
            Delivery.objects.filter(pk__in=ids, state=DeliveryState.SENT).values_list("channel", flat=True)
        )
        how = f"a Celery worker ({pool} pool, concurrency {concurrency})" if worker else f"a pool of {threads} threads"
        self.stdout.write(f"{n} notifications enqueued in one commit, delivered by {how}")
        self.stdout.write(f"  total: {elapsed:.2f} s   throughput: {n / elapsed:.0f} deliveries/s")
        self.stdout.write(f"  of which writing the {n} notifications (one transaction): {enqueued:.2f} s")
        self.stdout.write("  per channel: " + ", ".join(f"{c} {k}" for c, k in sorted(per_channel.items())))
        self.stdout.write(f"  SMTP server received: {smtp.count} (more if an earlier run left deliveries queued)")

    def _users(self, n: int) -> list[User]:
        """N recipients with every event by email (bench users are reused across runs)."""
        group = Group.objects.get(name=Role.RESPONDER)
        existing = {u.username: u for u in User.objects.filter(username__startswith="bench-notify-")}
        missing = [f"bench-notify-{i:05d}" for i in range(n) if f"bench-notify-{i:05d}" not in existing]
        User.objects.bulk_create([User(username=name, email=f"{name}@bench.test") for name in missing])
        users = list(User.objects.filter(username__startswith="bench-notify-").order_by("username")[:n])
        group.user_set.add(*users)
        NotificationPreference.objects.filter(user__in=users).delete()  # the defaults: everything by email
        return users

    def _enqueue(self, users: list[User], *, sends: bool) -> list[int]:
        before = Delivery.objects.order_by("-id").values_list("id", flat=True).first() or 0
        send = notifications.send
        if not sends:  # the pool delivers them; the broker is not part of this measurement
            notifications.send = lambda ids: 0
        try:
            with transaction.atomic():
                for i, user in enumerate(users):
                    notifications.notify(incident=None, users=[user], event=Event.GENERAL,
                                         subject=f"Bench {i}", body=f"Benchmark notification {i}.")  # fmt: skip
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

    def _wait(self, smtp: LocalSmtp, ids: list[int], n: int, timeout: float, started: float) -> None:
        """Until every delivery of this run is sent (earlier runs' leftovers in the queue do not count)."""
        while (sent := Delivery.objects.filter(pk__in=ids, state=DeliveryState.SENT).count()) < n:
            if time.perf_counter() - started > timeout:
                states = Counter(Delivery.objects.filter(pk__in=ids).values_list("state", flat=True))
                raise CommandError(f"only {sent} of {n} delivered after {timeout:.0f} s: {dict(states)}")
            time.sleep(0.1)

    def _start_worker(self, port: int, concurrency: int, pool: str) -> subprocess.Popen:
        if connection.vendor == "sqlite":
            raise CommandError("--worker needs PostgreSQL (DATABASE_URL): SQLite serialises the writers.")
        env = {**os.environ, "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
               "DJANGO_EMAIL_HOST": "127.0.0.1", "DJANGO_EMAIL_PORT": str(port)}  # fmt: skip
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
