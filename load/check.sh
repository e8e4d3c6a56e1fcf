#!/usr/bin/env bash
# After a locust run: what the database holds for that run's alerts (their fingerprints start with
# the run id the locustfile printed). Compare with the receipts' counts it printed:
#   signals            = created
#   sum of occurrences = created + folded + reopened
#   ledger events      = created + folded + reopened + resolved   (unchanged and ignored write nothing)
#   keys with >1 open signal must be 0 (dedup exact under concurrency)
#   usage: DATABASE_URL=postgres://... load/check.sh <run id>
set -euo pipefail
: "${DATABASE_URL:?set DATABASE_URL}"
run="${1:?give the run id the locustfile printed}"
[[ "$run" =~ ^[0-9a-f]{8}$ ]] || { echo "a run id is 8 hex digits" >&2; exit 2; }
psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -P pager=off <<SQL
SELECT count(*) AS signals, sum(occurrences) AS occurrences, count(DISTINCT dedup_key) AS distinct_keys,
       count(*) FILTER (WHERE resolved_at IS NOT NULL) AS resolved_now
  FROM incidents_signal WHERE dedup_key LIKE '%:${run}-%';
SELECT verb, count(*) FROM incidents_ledgerevent
 WHERE object_type = 'incidents.signal'
   AND object_id::bigint IN (SELECT id FROM incidents_signal WHERE dedup_key LIKE '%:${run}-%')
 GROUP BY verb ORDER BY verb;
SELECT count(*) AS keys_with_two_open_signals FROM (
  SELECT dedup_key FROM incidents_signal WHERE dedup_key LIKE '%:${run}-%' AND state = 'open'
   GROUP BY dedup_key HAVING count(*) > 1) AS twice;
SQL
