"""Loaded by pytest before Django reads its settings (see `addopts` in pyproject.toml).

Tests run with production settings except for what plain-HTTP local testing needs.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "insecure-test-key-" + "x" * 40)
os.environ.setdefault("FAILSAFE_INSECURE_HTTP", "1")
os.environ.setdefault("FAILSAFE_MANIFEST_STATIC", "0")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
# No persistent connections: a live server's threads would otherwise keep the test database open.
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")
# Each test process counts API throttles on its own, even when REDIS_URL is set.
os.environ.setdefault("FAILSAFE_CACHE_URL", "locmem://")
