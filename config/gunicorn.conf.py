"""gunicorn settings for the Procfile's `web` process; each comes from the environment.

`PORT` is set per web process by `python -m config.procfile` (and by platforms that run Procfiles).

Prometheus metrics from several workers (accounts.ops): each worker writes its counters to files
in PROMETHEUS_MULTIPROC_DIR and a scrape of any worker sums them. The directory is made fresh here
(in the master, before any worker imports prometheus_client) unless one is given; a worker that
exits is marked dead so its live gauges stop counting.
"""

import os
import shutil
import tempfile

from prometheus_client import multiprocess

# Every interface by default: a web host sits behind the load balancer.
host = os.environ.get("FAILSAFE_WEB_HOST", "0.0.0.0")  # noqa: S104
bind = os.environ.get("GUNICORN_BIND") or f"{host}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# A request still running after this many seconds has its worker killed and restarted.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Recycle each worker after this many requests (0: never), jittered so they do not restart together.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
# Both logs go to stdout/stderr: the process manager keeps them.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="failsafe-prometheus-")
else:
    # Counts from a previous run of this server must not be added to this one's.
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def child_exit(server, worker):
    multiprocess.mark_process_dead(worker.pid)
