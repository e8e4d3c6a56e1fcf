"""Append a realistic, correctly chained run of ledger events, fast (benchmarks, demos).

    python manage.py seed_ledger --events 1000000

Continues from the current head, so the chain stays valid; creates the incidents the events
describe (so the audit pages can show them) and moves the head row at the end, all in one
transaction with the head locked. On PostgreSQL rows go in with COPY; elsewhere bulk_create.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from accounts import ledger
from accounts.events import AccountEvent
from accounts.models import LedgerEvent
from incidents.events import IncidentEvent
from incidents.models import (
    STATUS_TRANSITIONS,
    Category,
    Incident,
    IncidentCounter,
    RiskDomain,
    Severity,
    Source,
    Status,
)

ACTORS = (
    ("r.okafor", ["responder"]),
    ("m.lindqvist", ["responder"]),
    ("s.haddad", ["responder"]),
    ("j.nakamura", ["responder"]),
    ("p.alvarez", ["responder"]),
    ("t.mensah", ["responder"]),
    ("c.dubois", ["incident_commander"]),
    ("a.kowalski", ["incident_commander"]),
    ("n.iyer", ["incident_commander", "responder"]),
    ("l.fischer", ["leadership"]),
    ("e.wright", ["leadership"]),
    ("d.osei", ["admin"]),
)
COMMANDERS = [name for name, roles in ACTORS if {"incident_commander", "leadership"} & set(roles)]
SIGNAL_TITLES = (
    "Classifier alert: elevated bio-uplift refusals bypassed",
    "Abuse report: API key sharing exploit kits",
    "Bug bounty: system prompt extraction via tool output",
    "Researcher: self-exfiltration attempt in agent sandbox",
    "Press enquiry about voice cloning misuse",
    "Rate anomaly on enterprise tier",
)
NOTES = (
    "Reproduced on atlas-chat with the reported transcript.",
    "Customer success contacted the affected organisation.",
    "Classifier thresholds reviewed; false-positive rate acceptable.",
    "Logs exported for the security team.",
    "Red team confirms the jailbreak transfers to atlas-api.",
)
DECISIONS = (
    ("Block the implicated accounts", "block accounts; rate limit tier; do nothing", "Narrowest effective action."),
    ("Disable tool use on atlas-chat", "disable tool use; tighten safeguard", "Exploit needs tool use."),
    ("Roll back atlas-api to atlas-1.9", "rollback; pause deployment", "1.9 does not show the behaviour."),
    ("Notify the regulator within 72h", "report now; wait for triage", "Likely reportable under SB 53."),
)


class Command(BaseCommand):
    help = "Append N realistic, correctly hash-chained ledger events (and their incidents), fast."

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, required=True, help="how many events to append")
        parser.add_argument("--batch", type=int, default=10_000, help="rows per insert batch")
        parser.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable chain")

    def handle(self, *args, events: int, batch: int, seed: int | None, **options):
        if events < 1:
            raise CommandError("--events must be at least 1.")
        started = time.perf_counter()
        with transaction.atomic():
            head = ledger.lock_head()
            last = LedgerEvent.objects.filter(seq=head.seq).values_list("at", flat=True).first()
            story = Story(random.Random(seed), events, last)
            writer = CopyWriter() if connection.vendor == "postgresql" else BulkWriter()
            prev_hash, seq, rows = head.hash, head.seq, []
            for fields in story.events(first_seq=head.seq + 1):
                digest = ledger.chain_hash(prev_hash, fields)
                rows.append({**fields, "prev_hash": prev_hash, "hash": digest})
                prev_hash, seq = digest, fields["seq"]
                if len(rows) >= batch:
                    writer.write(rows)
                    rows = []
            writer.write(rows)
            writer.close()
            Incident.objects.bulk_create(story.incidents.values(), batch_size=1000)
            IncidentCounter.objects.update_or_create(year=story.year, defaults={"last": story.counter})
            head.seq, head.hash = seq, prev_hash
            head.save(update_fields=["seq", "hash"])
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"appended {events} events (seq {seq - events + 1}..{seq}) and {len(story.incidents)} incidents "
            f"in {elapsed:.1f} s ({events / elapsed:,.0f} events/s); head {prev_hash}"
        )


class CopyWriter:
    """PostgreSQL COPY: an order of magnitude faster than INSERT for a million rows."""

    COLUMNS = (*ledger.HASHED_FIELDS, "prev_hash", "hash")
    JSON = {"actor_roles", "before", "after"}

    def __init__(self):
        self._cursor = connection.cursor()
        columns = ", ".join(connection.ops.quote_name(c) for c in self.COLUMNS)
        self._copy_cm = self._cursor.cursor.copy(f"COPY {LedgerEvent._meta.db_table} ({columns}) FROM STDIN")
        self._copy = self._copy_cm.__enter__()

    def write(self, rows: list[dict[str, Any]]) -> None:
        from psycopg.types.json import Jsonb

        for row in rows:
            self._copy.write_row(
                [Jsonb(row[c]) if c in self.JSON and row[c] is not None else row[c] for c in self.COLUMNS]
            )

    def close(self) -> None:
        self._copy_cm.__exit__(None, None, None)
        self._cursor.close()


class BulkWriter:
    def write(self, rows: list[dict[str, Any]]) -> None:
        LedgerEvent.objects.bulk_create([LedgerEvent(**row) for row in rows], batch_size=1000)

    def close(self) -> None:
        pass


class Story:
    """Incidents that open, get triaged, noted, decided, escalated and closed; signals; admin changes."""

    def __init__(self, rnd: random.Random, count: int, last_at: datetime | None):
        self.rnd = rnd
        self.count = count
        now = timezone.now().replace(microsecond=0)
        # About two seconds apart, ending near now, never before the current head.
        self.at = max(now - timedelta(seconds=2 * count), last_at or now - timedelta(seconds=2 * count))
        self.year = now.year
        self.counter = (IncidentCounter.objects.filter(year=self.year).values_list("last", flat=True).first()) or 0
        self.incidents: dict[str, Incident] = {}
        self.open: list[str] = []

    def events(self, *, first_seq: int) -> Iterator[dict[str, Any]]:
        for seq in range(first_seq, first_seq + self.count):
            self.at += timedelta(microseconds=self.rnd.randrange(1, 4_000_000))
            yield self._event(seq)

    def _event(self, seq: int) -> dict[str, Any]:
        roll = self.rnd.random()
        if not self.open or roll < 0.02:
            return self._created(seq)
        if roll < 0.10:
            return self._signal(seq)
        if roll < 0.11:
            name, roles = self.rnd.choice(ACTORS)
            before = {"user": name, "roles": sorted(roles)}
            after = {"user": name, "roles": sorted({*roles, "responder"})}
            admin = ("d.osei", ["admin"])
            return self._base(seq, admin, AccountEvent.ROLES_CHANGED, "accounts.user", "", before, after, reason="rota")
        return self._incident_step(seq, self.rnd.choice(self.open))

    def _base(self, seq, actor, verb, object_type, incident_ref, before, after, *, object_id="", reason=""):
        name, roles = actor
        source = self.rnd.choices(("web", "api", "task", "command"), (60, 25, 10, 5))[0] if roles else "task"
        return {
            "seq": seq,
            "at": self.at,
            "actor_type": "system" if not roles else "token" if source == "api" else "user",
            "actor_id": str(1000 + ACTORS.index(actor)) if roles else "",
            "actor_name": name,
            "actor_roles": roles,
            "source": source,
            "verb": str(verb),
            "object_type": object_type,
            "object_id": object_id or str(self.rnd.randrange(1, 10**6)),
            "incident_ref": incident_ref,
            "before": before,
            "after": after,
            "reason": reason,
            "request_id": uuid.UUID(int=self.rnd.getrandbits(128)).hex,
            "client_ip": f"10.{self.rnd.randrange(256)}.{self.rnd.randrange(256)}.{self.rnd.randrange(1, 255)}",
        }

    def _created(self, seq: int) -> dict[str, Any]:
        self.counter += 1
        ref = f"INC-{self.year}-{self.counter:04d}"
        title = self.rnd.choice(SIGNAL_TITLES)
        incident = Incident(
            ref=ref,
            title=title,
            summary="Seeded for load and audit testing.",
            category=self.rnd.choice(Category.values),
            risk_domain=self.rnd.choice(RiskDomain.values),
            severity=self.rnd.choices(Severity.values, (2, 10, 40, 48))[0],
            source=self.rnd.choice(Source.values),
            restricted=self.rnd.random() < 0.03,
            reported_at=self.at,
            detected_at=self.at,
        )
        self.incidents[ref] = incident
        self.open.append(ref)
        if len(self.open) > 200:
            self.open.pop(0)
        after = {
            "ref": ref, "title": title, "summary": incident.summary, "category": incident.category,
            "risk_domain": incident.risk_domain, "severity": incident.severity, "status": "reported",
            "source": incident.source, "restricted": incident.restricted, "deployments": ["atlas-api"],
        }  # fmt: skip
        actor = self.rnd.choice(ACTORS[:6])
        return self._base(seq, actor, IncidentEvent.CREATED, "incidents.incident", ref, None, after, object_id=ref)

    def _signal(self, seq: int) -> dict[str, Any]:
        verb = self.rnd.choice((IncidentEvent.SIGNAL_RECEIVED, IncidentEvent.SIGNAL_FOLDED))
        after = {"title": self.rnd.choice(SIGNAL_TITLES), "source": self.rnd.choice(Source.values)}
        if verb == IncidentEvent.SIGNAL_FOLDED:
            after["occurrences"] = self.rnd.randrange(2, 50)
        return self._base(seq, ("monitor", []), verb, "incidents.signal", "", None, after)

    def _incident_step(self, seq: int, ref: str) -> dict[str, Any]:
        incident = self.incidents.get(ref)
        actor = self.rnd.choice(ACTORS)
        kind = self.rnd.choices(("note", "decision", "severity", "status", "assign", "escalate"), (40, 10, 8, 30, 7, 5))
        kind = kind[0]
        if kind == "note" or incident is None:
            after = {"kind": "note", "body": self.rnd.choice(NOTES), "options_considered": "", "rationale": ""}
            return self._base(seq, actor, IncidentEvent.NOTE_ADDED, "incidents.timelineentry", ref, None, after)
        if kind == "decision":
            body, options, rationale = self.rnd.choice(DECISIONS)
            after = {"kind": "decision", "body": body, "options_considered": options, "rationale": rationale}
            return self._base(seq, actor, IncidentEvent.DECISION_RECORDED, "incidents.timelineentry", ref, None, after)
        if kind == "severity":
            before = incident.severity
            incident.severity = self.rnd.choice(Severity.values)
            return self._base(seq, actor, IncidentEvent.SEVERITY_CHANGED, "incidents.incident", ref,
                              {"severity": before}, {"severity": incident.severity},
                              object_id=ref, reason="New evidence from triage.")  # fmt: skip
        if kind == "assign":
            commander = self.rnd.choice(COMMANDERS)
            return self._base(seq, actor, IncidentEvent.ASSIGNED, "incidents.incident", ref,
                              {"commander": None}, {"commander": commander, "participants_added": [actor[0]]},
                              object_id=ref)  # fmt: skip
        if kind == "escalate":
            return self._base(seq, actor, IncidentEvent.ESCALATED, "incidents.incident", ref,
                              {"severity": incident.severity},
                              {"severity": incident.severity, "called_in": "leadership", "paged": ["l.fischer"]},
                              object_id=ref, reason="Containment is not holding.")  # fmt: skip
        allowed = sorted(STATUS_TRANSITIONS[incident.status])
        if not allowed:
            self.open.remove(ref)
            return self._signal(seq)
        before, incident.status = incident.status, self.rnd.choice(allowed)
        if incident.status in (Status.CLOSED, Status.DISMISSED) and ref in self.open:
            self.open.remove(ref)
        return self._base(seq, actor, IncidentEvent.STATUS_CHANGED, "incidents.incident", ref,
                          {"status": before}, {"status": incident.status},
                          object_id=ref, reason="Per the incident commander.")  # fmt: skip
