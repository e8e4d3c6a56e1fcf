"""gunicorn settings for the Procfile's `web` process; each comes from the environment.

`PORT` is set per web process by `python -m config.procfile` (and by platforms that run Procfiles).
"""

import os

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
