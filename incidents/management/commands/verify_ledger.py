"""Walk the whole ledger chain and say whether it is intact.

    python manage.py verify_ledger

Prints the number of events, the head hash and, on a break, the first bad sequence number and
what is wrong with it; exits with status 1 when the chain is broken (for cron and CI).
"""

import time

from django.core.management.base import BaseCommand, CommandError

from accounts import ledger


class Command(BaseCommand):
    help = "Verify the ledger's hash chain from genesis to head; exit status 1 if it is broken."

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=5000, help="rows fetched per round trip")

    def handle(self, *args, chunk_size: int, **options):
        started = time.perf_counter()
        result = ledger.verify(chunk_size=chunk_size)
        elapsed = time.perf_counter() - started
        if result.ok:
            self.stdout.write(f"events: {result.events}")
            self.stdout.write(f"head hash: {result.head_hash}")
            self.stdout.write(self.style.SUCCESS(f"ledger intact (verified in {elapsed:.1f} s)"))
            return
        self.stdout.write(f"events: {result.events} intact before the break")
        self.stdout.write(f"head hash: {result.head_hash} (last intact event)")
        self.stdout.write(f"first bad seq: {result.first_bad_seq}")
        self.stdout.write(f"problem: {result.problem}")
        raise CommandError(
            f"ledger BROKEN at seq {result.first_bad_seq}: {result.problem} (checked in {elapsed:.1f} s)",
            returncode=1,
        )
