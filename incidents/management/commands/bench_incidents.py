"""`python manage.py bench_incidents --n 1000000`: the incident pages and API at scale.

Needs PostgreSQL (DATABASE_URL). It never touches the configured database: it creates a scratch
database named `<database>_bench_<n>` beside it (pytest-django's test-database machinery),
migrates it, seeds it with server-side SQL (INSERT … SELECT generate_series: a million incidents
in a few minutes on two cores), measures, and drops it unless --keep. With --keep a later run at
the same --n reuses the seeded data (and applies any new migrations to it).

The mix: SEV1–SEV4 at 2/10/38/50 %, mostly closed with ~4 % open, five categories, milestones
spread as responses really go (acknowledged in minutes with a long tail, contained in hours to
days, some never contained, 40 % without an occurred time), 3–5 timeline entries and one ledger
event each, a correction for about one incident in three (seeded by corrections/metrics.py
through the metrics registry; most approved and enforced within minutes, some pending, some
still in force), 2 % restricted with view grants for their reporter and
commander (the bench responder reports some of them), a signal for one incident in ten, and
summaries built from a small vocabulary in which the search term (SEARCH_TERM) is in ~0.5 %.
The seeded ledger events are not hash-chained (the chain is not what is measured here).

Each endpoint is requested `--requests` times through Django's test Client in this process (the
whole middleware, view, template or serializer stack; no HTTP socket, no gunicorn), as a
leadership user and as a responder, after one warm-up request whose queries are counted.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse

from accounts.models import LedgerEvent, LedgerHead, User
from accounts.roles import Role
from incidents import metrics
from incidents.models import (
    AIModel,
    Deployment,
    Incident,
    IncidentCounter,
    IncidentUserObjectPermission,
    Signal,
    TimelineEntry,
)

LEADER, RESPONDER = "bench-leader", "bench-responder"
STAFF = [f"bench-staff-{i}" for i in range(1, 11)]  # reporters and commanders of the seeded incidents
SEARCH_TERM = "exfiltration"
# No collectstatic manifest needed: static URLs are rendered, never served, here.
PLAIN_STATIC = "django.contrib.staticfiles.storage.StaticFilesStorage"
DEPLOYMENTS = ["atlas-api", "atlas-chat", "atlas-enterprise", "orion-api", "orion-chat", "vega-api"]

TITLES = [
    "Jailbreak transfers across system prompts",
    "Classifier bypass with encoded payloads",
    "Tool use reaches internal network",
    "Coordinated account abuse for phishing kits",
    "Model gives stepwise synthesis guidance",
    "Agent attempts to disable its monitoring",
    "Prompt injection through retrieved documents",
    "Voice cloning used for fraud calls",
    "Unexpected persuasion in political queries",
    "Privacy leak of training data snippets",
    "Self-replication attempt in agent sandbox",
    "Rate anomaly on enterprise tier",
]
SENTENCES = [
    "Reported by an external researcher with a reproducible transcript.",
    "Internal monitoring flagged a spike in refusals being bypassed.",
    "The behaviour reproduces on the current version but not the previous one.",
    "Several accounts share the same payment instrument and prompts.",
    "Safeguard thresholds were reviewed and appear too permissive.",
    "The red team confirmed the issue transfers to the chat surface.",
    "Customer success contacted the organisation involved.",
    "Logs were preserved for the security review.",
]


def percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1] if len(values) > 1 else values[0]


def _sql_array(items: list[str]) -> str:
    return "ARRAY[" + ",".join("'" + item.replace("'", "''") + "'" for item in items) + "]"


class Command(BaseCommand):
    help = "Seed N incidents into a scratch PostgreSQL database and time the incident pages and API."

    def add_arguments(self, parser):
        parser.add_argument("--n", type=int, required=True, help="incidents to seed")
        parser.add_argument("--requests", type=int, default=30, help="timed requests per endpoint (default 30)")
        parser.add_argument("--keep", action="store_true", help="keep the scratch database (reused next time)")

    def handle(self, *args, n: int, requests: int, keep: bool, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_incidents needs PostgreSQL (DATABASE_URL=postgres://...).")
        if n < 100 or requests < 2:
            raise CommandError("--n must be at least 100 and --requests at least 2")
        original = connection.settings_dict["NAME"]
        scratch = f"{original}_bench_{n}"
        connection.settings_dict.setdefault("TEST", {})["NAME"] = scratch
        self.stdout.write(f"scratch database {scratch} (the configured database {original} is not touched)")
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=True)
        try:
            if connection.settings_dict["NAME"] != scratch:  # defence: never seed a real database
                raise CommandError(f"refusing to seed {connection.settings_dict['NAME']}: not the scratch database")
            have = Incident.objects.count()
            if have and have < n:
                raise CommandError(f"{scratch} holds {have} incidents from an interrupted run; drop it and retry")
            if not have:
                started = time.perf_counter()
                self._seed(n)
                self.stdout.write(f"seeded {n:,} incidents in {time.perf_counter() - started:.0f} s")
            plain_static = {**settings.STORAGES, "staticfiles": {"BACKEND": PLAIN_STATIC}}
            with connection.cursor() as cursor:  # what autovacuum does after seeding or a migration's backfill
                cursor.execute("VACUUM ANALYZE")
            with override_settings(
                ALLOWED_HOSTS=["testserver"], SECURE_SSL_REDIRECT=False, DEBUG=False, STORAGES=plain_static
            ):
                self._measure(n, requests)
        finally:
            if not keep:
                connection.creation.destroy_test_db(original, verbosity=0, keepdb=False)
                self.stdout.write(f"dropped {scratch}")

    # --- seeding ----------------------------------------------------------------------------------

    def _seed(self, n: int) -> None:
        atlas, _ = AIModel.objects.get_or_create(name="atlas")
        for slug in DEPLOYMENTS:
            Deployment.objects.get_or_create(
                slug=slug, defaults={"name": slug.replace("-", " ").title(), "model": atlas}
            )
        for username, role in [(LEADER, Role.LEADERSHIP), (RESPONDER, Role.RESPONDER)] + [
            (name, Role.INCIDENT_COMMANDER if i % 3 == 0 else Role.RESPONDER) for i, name in enumerate(STAFF)
        ]:
            user, _ = User.objects.get_or_create(username=username)
            user.groups.add(Group.objects.get(name=role))
        staff = list(User.objects.filter(username__in=[RESPONDER, *STAFF]).order_by("id").values_list("id", flat=True))
        deployment_ids = list(Deployment.objects.order_by("id").values_list("id", flat=True))
        view_restricted = Permission.objects.get(codename="view_restricted_incident").pk
        t = {
            model.__name__: model._meta.db_table
            for model in (Incident, TimelineEntry, LedgerEvent, Signal, IncidentUserObjectPermission, IncidentCounter)
        }
        m2m_deployments = Incident.deployments.through._meta.db_table
        m2m_participants = Incident.participants.through._meta.db_table
        staff_arr = "ARRAY[" + ",".join(map(str, staff)) + "]"
        nstaff = len(staff)
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SELECT setseed(0.42)")
            self.stdout.write("  incidents…")
            cur.execute(
                f"""
                INSERT INTO {t["Incident"]} (ref, title, summary, category, risk_domain, severity, status, source,
                    restricted, reporter_id, commander_id, occurred_at, detected_at, reported_at, acknowledged_at,
                    contained_at, resolved_at, closed_at, updated_at, checklist_done, checklist_total, is_drill)
                SELECT 'INC-' || extract(year FROM at)::int || '-'
                           || lpad(rn::text, greatest(4, length(rn::text)), '0'),
                       ({_sql_array(TITLES)})[1 + (r1 * {len(TITLES)})::int % {len(TITLES)}]
                           || ' on ' || ({_sql_array(DEPLOYMENTS)})[1 + g % {len(DEPLOYMENTS)}],
                       ({_sql_array(SENTENCES)})[1 + (r2 * 8)::int % 8] || ' '
                           || ({_sql_array(SENTENCES)})[1 + (r3 * 8)::int % 8] || ' '
                           || CASE WHEN r4 < 0.005
                                   THEN 'Traffic suggests attempted weight exfiltration via the batch API. '
                                   WHEN r4 < 0.15 THEN 'A known jailbreak template was used with minor edits. '
                                   ELSE 'No sign of coordinated activity so far. ' END
                           || 'Affected account acct-' || (g::bigint * 7919 % 100003) || '.',
                       (ARRAY['dangerous_capability','dangerous_behavior','misuse','security','other'])
                           [1 + (r5 * 5)::int % 5],
                       (ARRAY['cbrn','cyber','autonomy','manipulation','ml_rnd','privacy','child_safety','other'])
                           [1 + (r6 * 8)::int % 8],
                       CASE WHEN r7 < 0.02 THEN 'SEV1' WHEN r7 < 0.12 THEN 'SEV2' WHEN r7 < 0.5 THEN 'SEV3'
                            ELSE 'SEV4' END,
                       CASE WHEN r8 < 0.01 THEN 'reported' WHEN r8 < 0.02 THEN 'triaged'
                            WHEN r8 < 0.03 THEN 'responding' WHEN r8 < 0.04 THEN 'contained'
                            WHEN r8 < 0.06 THEN 'resolved' WHEN r8 < 0.07 THEN 'in_review'
                            WHEN r8 < 0.9 THEN 'closed' ELSE 'dismissed' END,
                       (ARRAY['internal_monitoring','user_report','red_team','bug_bounty','external_researcher',
                              'government','press','other'])[1 + (r1 * 1000)::int % 8],
                       g % 50 = 0,
                       ({staff_arr})[1 + g % {nstaff}],
                       CASE WHEN r8 < 0.01 THEN NULL ELSE ({staff_arr})[1 + (g / 3) % {nstaff}] END,
                       CASE WHEN r9 < 0.6 THEN at - (10 + r9 * r9 * 4000) * interval '1 minute' END,
                       at - r10 * r10 * interval '6 hours', at,
                       CASE WHEN r8 >= 0.01 THEN at + (2 + r9 * r9 * 240) * interval '1 minute' END,
                       CASE WHEN r8 >= 0.03 AND r8 < 0.9 AND r10 < 0.8
                            THEN at + (20 + r11 * r11 * 2880) * interval '1 minute' END,
                       CASE WHEN r8 >= 0.04 AND r8 < 0.9
                            THEN at + (1 + r11 * 4 + r10 * r10 * 10) * interval '1 day' END,
                       CASE WHEN r8 >= 0.07 THEN at + (6 + r11 * 4 + r10 * r10 * 30) * interval '1 day' END,
                       at + interval '9 days', 0, 0, false
                FROM (SELECT *, row_number() OVER (PARTITION BY extract(year FROM at) ORDER BY g) AS rn
                      FROM (SELECT g, now() - ({n} - g) * (interval '1825 days' / {n}) - interval '1 minute' AS at,
                                   random() r1, random() r2, random() r3, random() r4, random() r5, random() r6,
                                   random() r7, random() r8, random() r9, random() r10, random() r11
                            FROM generate_series(1, {n}) g) s0) s
                """  # noqa: S608 (table names and constants from code)
            )
            cur.execute(
                f"""INSERT INTO {t["IncidentCounter"]} (year, last)
                    SELECT split_part(ref, '-', 2)::int, count(*) FROM {t["Incident"]} GROUP BY 1"""  # noqa: S608 (table names and constants from code)
            )
            self.stdout.write("  deployments, participants, grants…")
            dep_arr = "ARRAY[" + ",".join(map(str, deployment_ids)) + "]"
            cur.execute(
                f"""INSERT INTO {m2m_deployments} (incident_id, deployment_id)
                    SELECT id, ({dep_arr})[1 + id % {len(deployment_ids)}] FROM {t["Incident"]}
                    UNION ALL
                    SELECT id, ({dep_arr})[1 + (id / 7) % {len(deployment_ids)}] FROM {t["Incident"]}
                    WHERE id % 3 = 0 AND id % {len(deployment_ids)} <> (id / 7) % {len(deployment_ids)}"""  # noqa: S608 (table names and constants from code)
            )
            cur.execute(
                f"""INSERT INTO {m2m_participants} (incident_id, user_id)
                    SELECT id, reporter_id FROM {t["Incident"]}
                    UNION SELECT id, commander_id FROM {t["Incident"]} WHERE commander_id IS NOT NULL"""  # noqa: S608 (table names and constants from code)
            )
            cur.execute(
                f"""INSERT INTO {t["IncidentUserObjectPermission"]} (permission_id, user_id, content_object_id)
                    SELECT {view_restricted}, user_id, incident_id FROM {m2m_participants} p
                    JOIN {t["Incident"]} i ON i.id = p.incident_id WHERE i.restricted"""  # noqa: S608 (table names and constants from code)
            )
            self.stdout.write("  timeline entries…")
            cur.execute(
                f"""INSERT INTO {t["TimelineEntry"]} (incident_id, kind, body, options_considered, rationale,
                        occurred_at, author_id, created_at)
                    SELECT i.id, CASE WHEN k = 3 THEN 'decision' ELSE 'note' END,
                           ({_sql_array(SENTENCES)})[1 + (i.id + k) % 8],
                           CASE WHEN k = 3 THEN 'block accounts; rate limit; do nothing' ELSE '' END,
                           CASE WHEN k = 3 THEN 'Narrowest effective action.' ELSE '' END,
                           i.reported_at + k * interval '1 hour', ({staff_arr})[1 + (i.id + k) % {nstaff}],
                           i.reported_at + k * interval '1 hour'
                    FROM {t["Incident"]} i, generate_series(1, 3 + i.id % 3) k"""  # noqa: S608 (table names and constants from code)
            )
            self.stdout.write("  ledger events, signals…")
            cur.execute(
                f"""INSERT INTO {t["LedgerEvent"]} (seq, at, actor_type, actor_id, actor_name, actor_roles, source,
                        verb, object_type, object_id, incident_ref, before, after, reason, request_id, client_ip,
                        prev_hash, hash)
                    SELECT row_number() OVER (ORDER BY id), reported_at, 'user', reporter_id::text,
                           'bench-staff', '["responder"]', 'web', 'incident.created', 'incident', id::text, ref,
                           NULL, jsonb_build_object('title', title, 'severity', severity), '', '', '',
                           md5((id - 1)::text) || md5((id - 1)::text), md5(id::text) || md5(id::text)
                    FROM {t["Incident"]}"""  # noqa: S608 (table names and constants from code)
            )
            cur.execute(
                f"""INSERT INTO {LedgerHead._meta.db_table} (id, seq, hash)
                    SELECT 1, seq, hash FROM {t["LedgerEvent"]} ORDER BY seq DESC LIMIT 1"""  # noqa: S608 (table names and constants from code)
            )
            cur.execute(
                f"""INSERT INTO {t["Signal"]} (source, title, detail, severity_hint, deployment_id, dedup_key, state,
                        incident_id, occurrences, first_seen_at, last_seen_at, created_by_id, link)
                    SELECT 'internal_monitoring', 'Monitor alert for ' || ref, '', severity, NULL, 'bench-' || id,
                           CASE WHEN status IN ('reported', 'triaged') THEN 'open'
                                WHEN status = 'dismissed' THEN 'dismissed' ELSE 'promoted' END,
                           CASE WHEN status IN ('reported', 'triaged') THEN NULL ELSE id END,
                           1, reported_at, reported_at, NULL, ''
                    FROM {t["Incident"]} WHERE id % 10 = 0"""  # noqa: S608 (table names and constants from code)
            )
            # Other apps' rows the measured pages read (corrections, for the metrics page).
            for group in metrics.registered_groups():
                if group.bench_seed is not None:
                    self.stdout.write(f"  {group.key}…")
                    group.bench_seed(cur)
        with connection.cursor() as cur:
            self.stdout.write("  analyze…")
            cur.execute("ANALYZE")

    # --- measuring --------------------------------------------------------------------------------

    def _measure(self, n: int, requests: int) -> None:
        leader = User.objects.get(username=LEADER)
        responder = User.objects.get(username=RESPONDER)
        seen = Incident.objects.filter(restricted=False).order_by("-id").values_list("ref", flat=True)[:requests]
        refs = list(seen)
        matches = Incident.objects.filter(summary__contains=SEARCH_TERM).count()
        self.stdout.write(
            f"\n{n:,} incidents; search term {SEARCH_TERM!r} in {matches:,}; "
            f"{requests} requests each through django.test.Client (in process, DEBUG off)"
        )
        self.stdout.write(f"{'':<20}{'user':<12}{'p50 ms':>8}{'p95 ms':>8}{'queries':>9}")
        for label, user in (("leadership", leader), ("responder", responder)):
            client = Client()
            client.force_login(user)
            counter = iter(range(10**9))
            detail = lambda c=client, k=counter: c.get(  # noqa: E731
                reverse("incident-detail", args=[refs[next(k) % len(refs)]])
            )
            endpoints: list[tuple[str, Callable[[], object]]] = [
                ("list", lambda c=client: c.get(reverse("incident-list"))),
                ("list ?severity", lambda c=client: c.get(reverse("incident-list"), {"severity": "SEV2"})),
                ("search", lambda c=client: c.get(reverse("incident-list"), {"q": SEARCH_TERM})),
                ("detail", detail),
                ("API list", lambda c=client: c.get("/api/v1/incidents/")),
                ("API create", lambda c=client: c.post("/api/v1/incidents/", self._new_incident(), "application/json")),
                ("dashboard", lambda c=client: c.get(reverse("dashboard"))),
                ("metrics", lambda c=client: c.get(reverse("metrics"))),
                ("metrics CSV", lambda c=client: c.get(reverse("metrics-csv"))),
                ("API metrics", lambda c=client: c.get(reverse("api-metrics"))),
            ]
            for name, call in endpoints:
                with CaptureQueriesContext(connection) as queries:
                    self._check(name, call())
                query_count = len(queries.captured_queries)  # read now: the next request resets the log
                timings = []
                for _ in range(requests):
                    started = time.perf_counter()
                    self._check(name, call())
                    timings.append((time.perf_counter() - started) * 1000)
                self.stdout.write(
                    f"{name:<20}{label:<12}{percentile(timings, 50):8.1f}{percentile(timings, 95):8.1f}{query_count:9d}"
                )

    @staticmethod
    def _new_incident() -> dict:
        return {"title": "Bench incident", "category": "misuse", "risk_domain": "cyber", "severity": "SEV3"}

    @staticmethod
    def _check(name: str, response) -> None:
        if response.status_code not in (200, 201):
            raise CommandError(f"{name}: HTTP {response.status_code}\n{response.content[:500]!r}")
