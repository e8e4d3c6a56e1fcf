"""Measure the ledger's two heavy reads: verification and the streamed JSONL export.

    python manage.py bench_ledger [--events 1000000]

With --events, first tops the ledger up to that many events (seed_ledger). Then: verifies the
chain in this process and times it; exports it through the real API view in a fresh child
process (so its peak memory is the export's, not the seeding's) and reports time, bytes and
peak RSS. Use a scratch database: the seeded events can never be deleted (append-only).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import resource
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from accounts import ledger
from accounts.models import LedgerHead, User
from accounts.roles import Role

BENCH_USER = "bench-leadership"


def _peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, because Linux carries ru_maxrss across exec
    (a child would report its parent's peak); ru_maxrss where /proc is missing."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class Command(BaseCommand):
    help = "Time ledger verification and the streamed JSONL export; report events/s and the export's peak RSS."

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=0, help="first seed the ledger up to this many events")
        parser.add_argument("--export-child", choices=["jsonl", "csv"], help=argparse_hidden())

    def handle(self, *args, events: int, export_child: str | None, **options):
        if export_child:
            self._export(export_child)
            return
        head = LedgerHead.objects.filter(id=1).first()
        have = head.seq if head else 0
        if events > have:
            self.stdout.write(f"seeding {events - have} events (have {have})…")
            call_command("seed_ledger", events=events - have, stdout=self.stdout)

        started = time.perf_counter()
        result = ledger.verify()
        seconds = time.perf_counter() - started
        if not result.ok:
            raise CommandError(f"the chain is broken at seq {result.first_bad_seq}: {result.problem}")
        self.stdout.write(
            f"verify: {result.events} events in {seconds:.1f} s ({result.events / seconds:,.0f} events/s), "
            f"head {result.head_hash}"
        )
        stream, hashing = _floor()
        floor = stream + hashing
        self.stdout.write(
            f"floor: {floor:.1f} s (streaming the same rows {stream:.1f} s + SHA-256 over the same bytes "
            f"{hashing:.1f} s); verify / floor = {seconds / floor:.2f}"
        )
        for kind in ("jsonl", "csv"):
            child = subprocess.run(
                [sys.executable, "manage.py", "bench_ledger", "--export-child", kind],
                capture_output=True,
                text=True,
                check=False,
                cwd=settings.BASE_DIR,
                env=os.environ.copy(),
            )
            if child.returncode != 0:
                raise CommandError(f"export child failed:\n{child.stderr}")
            figures = json.loads(child.stdout.strip().splitlines()[-1])
            self.stdout.write(
                f"export {kind}: {figures['events']} events, {figures['bytes'] / 1e6:,.0f} MB in "
                f"{figures['seconds']:.1f} s ({figures['events'] / figures['seconds']:,.0f} events/s), "
                f"peak RSS {figures['peak_rss_mb']:.0f} MB (process at start {figures['start_rss_mb']:.0f} MB), "
                f"verification ok={figures['verified_ok']}"
            )

    def _export(self, kind: str) -> None:
        """In the child: stream the export through the API view, counting bytes, keeping nothing."""
        from rest_framework.test import APIRequestFactory, force_authenticate

        from incidents.api.audit import AuditExportCsvView, AuditExportJsonlView

        user, _ = User.objects.get_or_create(username=BENCH_USER)
        user.groups.add(Group.objects.get(name=Role.LEADERSHIP))
        user = User.objects.get(pk=user.pk)
        view = (AuditExportJsonlView if kind == "jsonl" else AuditExportCsvView).as_view()
        request = APIRequestFactory().get(f"/api/v1/audit/export.{kind}")
        force_authenticate(request, user=user)
        start_rss = _peak_rss_mb()
        started = time.perf_counter()
        response = view(request)
        size, last = 0, b""
        for chunk in response.streaming_content:
            size += len(chunk)
            last = chunk
        seconds = time.perf_counter() - started
        tail = last.decode().rstrip("\n").splitlines()[-1]
        if kind == "jsonl":
            trailer = json.loads(tail)
            verified_ok, exported = trailer["ok"], trailer["exported_events"]
        else:
            note = next(csv.reader([tail]))[-1]  # "ok; N events verified; K exported"
            verified_ok, exported = note.startswith("ok;"), int(note.rsplit("; ", 1)[1].split(" ")[0])
        figures = {
            "events": exported,
            "bytes": size,
            "seconds": seconds,
            "peak_rss_mb": _peak_rss_mb(),
            "start_rss_mb": start_rss,
            "verified_ok": verified_ok,
        }
        self.stdout.write(json.dumps(figures))


def _floor(chunk_size: int = 5000) -> tuple[float, float]:
    """What verification cannot go below, done the plain way: stream the rows verify reads (one
    after the other, no prefetch) and, separately, SHA-256 over exactly the bytes it hashes (built
    outside the timer)."""
    rows = ledger.chain_rows()
    started = time.perf_counter()
    for _ in rows.iterator(chunk_size=chunk_size):
        pass
    stream = time.perf_counter() - started
    check, hashing, chunk = ledger.ChainCheck(), 0.0, []

    def hash_chunk() -> float:
        data = [row[ledger._PREV].encode() + b"\n" + check.canonical(row) for row in chunk]
        began = time.perf_counter()
        for item in data:
            hashlib.sha256(item).hexdigest()
        return time.perf_counter() - began

    for row in rows.iterator(chunk_size=chunk_size):
        chunk.append(row)
        if len(chunk) == chunk_size:
            hashing += hash_chunk()
            chunk = []
    hashing += hash_chunk()
    return stream, hashing


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS
