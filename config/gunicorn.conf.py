"""gunicorn settings (`gunicorn -c config/gunicorn.conf.py config.wsgi`).

Prometheus metrics from several workers (accounts.ops): each worker writes its counters to files
in PROMETHEUS_MULTIPROC_DIR and a scrape of any worker sums them. The directory is made fresh here
(in the master, before any worker imports prometheus_client) unless one is given; a worker that
exits is marked dead so its live gauges stop counting.
"""

import os
import shutil
import tempfile

from prometheus_client import multiprocess

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="failsafe-prometheus-")
else:
    # Counts from a previous run of this server must not be added to this one's.
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def child_exit(server, worker):
    multiprocess.mark_process_dead(worker.pid)
