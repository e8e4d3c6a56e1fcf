#!/usr/bin/env bash
# The production process layout for the load test (README "Production"): gunicorn, two Celery
# workers, beat and the sandbox gateway, on PostgreSQL + Redis with DEBUG off. Ctrl-C (or SIGTERM)
# stops every process it started.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/h_load REDIS_URL=redis://127.0.0.1:6379/7 load/run.sh
#
# Then seed and drive it (see README "Load test"). Logs go to var/load/*.log.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL database}"
: "${REDIS_URL:?set REDIS_URL}"
export DATABASE_URL REDIS_URL
export DJANGO_DEBUG=0
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-load-test-secret-key-not-for-production-0123456789abcdef}"
export DJANGO_ALLOWED_HOSTS="${DJANGO_ALLOWED_HOSTS:-127.0.0.1,localhost}"
export FAILSAFE_INSECURE_HTTP=1   # plain HTTP on the loopback: no TLS proxy in front here
export FAILSAFE_SANDBOX_SECRET="${FAILSAFE_SANDBOX_SECRET:-load-test-sandbox-secret-0123456789abcdef}"
# Monitoring posts far more than the default per-integration rate during the test.
export FAILSAFE_INTEGRATION_RATE="${FAILSAFE_INTEGRATION_RATE:-100000/min}"
export FAILSAFE_LOG_LEVEL="${FAILSAFE_LOG_LEVEL:-WARNING}"
# No mail server here: deliveries "send" to a backend that drops them (the worker path still runs).
export DJANGO_EMAIL_BACKEND="${DJANGO_EMAIL_BACKEND:-django.core.mail.backends.dummy.EmailBackend}"

PORT="${PORT:-8000}"
GATEWAY_PORT="${GATEWAY_PORT:-8100}"
WEB_WORKERS="${WEB_WORKERS:-4}"
WEB_THREADS="${WEB_THREADS:-2}"
LOGS=var/load
mkdir -p "$LOGS"
PY=.venv/bin/python

$PY manage.py migrate --no-input >/dev/null
$PY manage.py collectstatic --no-input >/dev/null

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait
}
trap stop INT TERM EXIT

.venv/bin/gunicorn config.wsgi --bind "127.0.0.1:$PORT" --workers "$WEB_WORKERS" --threads "$WEB_THREADS" \
  --access-logfile - >"$LOGS/web.log" 2>&1 &
pids+=($!)
for n in 1 2; do
  .venv/bin/celery -A config worker -l warning -Q dispatch,notify,sweeps,default -n "load$n@%h" --concurrency 2 \
    >"$LOGS/worker$n.log" 2>&1 &
  pids+=($!)
done
.venv/bin/celery -A config beat -l warning --schedule "$LOGS/beat-schedule" >"$LOGS/beat.log" 2>&1 &
pids+=($!)
$PY manage.py run_sandbox_gateway --port "$GATEWAY_PORT" --state-dir var/load/sandbox >"$LOGS/gateway.log" 2>&1 &
pids+=($!)

echo "web http://127.0.0.1:$PORT (gunicorn $WEB_WORKERS workers x $WEB_THREADS threads), 2 workers, beat, gateway :$GATEWAY_PORT; logs in $LOGS/"
wait -n "${pids[@]}" || true
echo "a process stopped; stopping the rest" >&2
