"""Failsafe settings: one module, configured by the environment.

With DJANGO_SECRET_KEY set, production settings are the default; without it, a local
development checkout. The test suite sets what it needs (a key, plain HTTP) through environment
variables, never by editing this file. See README "Configuration".
"""

import ipaddress
import json
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("FAILSAFE_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_json(name: str) -> dict | None:
    """A JSON object from the environment, or None when unset."""
    raw = os.environ.get(name, "")
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} must be a JSON object: {error}") from None
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{name} must be a JSON object.")
    return value


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
# No secret key means a development checkout: debug on, local host names only (so a server
# that forgot its key refuses every real host name). Production sets DJANGO_SECRET_KEY.
DEBUG = env_bool("DJANGO_DEBUG", not SECRET_KEY)
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "insecure-development-key-never-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp_webauthn",
    "csp",
    "accounts",
    "incidents",
    "corrections",
    "axes",
]

# Flash messages live in the server-side session, never in a cookie: a secret shown once (a new
# webhook's signing secret) must not travel back to the browser as readable cookie data.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Below WhiteNoise, so static files (served above) get neither the CSP nor no-store.
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.TimeZoneMiddleware",
    "accounts.middleware.NoStoreWhenSignedInMiddleware",
    "accounts.middleware.LoginRequiredMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.middleware.RequestIdMiddleware",
    # Below RequestIdMiddleware and authentication: binds their request id and user for every log line.
    "accounts.logs.RequestLogMiddleware",
    "accounts.ops.MetricsMiddleware",
    # Last, as django-axes asks: it turns a sign-in refused for lockout into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.roles",
                "corrections.context_processors.approval_inbox",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'failsafe.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A web process, a worker and beat share one file: wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses every password check (page, API token) while the username or address is locked out.
    "axes.backends.AxesStandaloneBackend",
    # Passwords, unless FAILSAFE_LOCAL_PASSWORDS=0 leaves them to the break-glass accounts only.
    "accounts.backends.PasswordBackend",
    # Single sign-on (OpenID Connect): only ever answers the callback of a sign-in started here.
    "accounts.backends.OidcBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Single sign-on through the organisation's OpenID Connect provider (accounts.sso; README
# "Single sign-on"). Off unless FAILSAFE_OIDC_CLIENT_ID is set. Endpoints come from the issuer's
# discovery document unless each is given.
FAILSAFE_OIDC_CLIENT_ID = os.environ.get("FAILSAFE_OIDC_CLIENT_ID", "")
FAILSAFE_OIDC_CLIENT_SECRET = os.environ.get("FAILSAFE_OIDC_CLIENT_SECRET", "")
FAILSAFE_OIDC_ISSUER = os.environ.get("FAILSAFE_OIDC_ISSUER", "").rstrip("/")
FAILSAFE_OIDC_AUTHORIZATION_ENDPOINT = os.environ.get("FAILSAFE_OIDC_AUTHORIZATION_ENDPOINT", "")
FAILSAFE_OIDC_TOKEN_ENDPOINT = os.environ.get("FAILSAFE_OIDC_TOKEN_ENDPOINT", "")
FAILSAFE_OIDC_USERINFO_ENDPOINT = os.environ.get("FAILSAFE_OIDC_USERINFO_ENDPOINT", "")
FAILSAFE_OIDC_JWKS_ENDPOINT = os.environ.get("FAILSAFE_OIDC_JWKS_ENDPOINT", "")
FAILSAFE_OIDC_PROVIDER_NAME = os.environ.get("FAILSAFE_OIDC_PROVIDER_NAME", "") or "single sign-on"
FAILSAFE_OIDC_SCOPES = os.environ.get("FAILSAFE_OIDC_SCOPES", "") or "openid email profile"
FAILSAFE_OIDC_SIGN_ALGO = os.environ.get("FAILSAFE_OIDC_SIGN_ALGO", "") or "RS256"
FAILSAFE_OIDC_TIMEOUT = float(os.environ.get("FAILSAFE_OIDC_TIMEOUT", "") or 10)
FAILSAFE_OIDC_USERNAME_CLAIM = os.environ.get("FAILSAFE_OIDC_USERNAME_CLAIM", "") or "preferred_username"
FAILSAFE_OIDC_ROLES_CLAIM = os.environ.get("FAILSAFE_OIDC_ROLES_CLAIM", "") or "groups"
# "claim value=role,...": e.g. "ai-safety-oncall=responder,ai-safety-execs=leadership" (checked at start).
FAILSAFE_OIDC_ROLE_MAP = os.environ.get("FAILSAFE_OIDC_ROLE_MAP", "")
# A claim value that is itself a role name ("auditor") gives that role, unless switched off.
FAILSAFE_OIDC_ROLE_NAMES = env_bool("FAILSAFE_OIDC_ROLE_NAMES", True)
# Whom a person without a role should ask, shown on the "no role" page.
FAILSAFE_OIDC_CONTACT = os.environ.get("FAILSAFE_OIDC_CONTACT", "") or "your Failsafe administrator"
# FAILSAFE_LOCAL_PASSWORDS=0: passwords only for the break-glass usernames (enforced in the backend).
FAILSAFE_LOCAL_PASSWORDS = env_bool("FAILSAFE_LOCAL_PASSWORDS", True)
FAILSAFE_BREAK_GLASS_USERS = env_list("FAILSAFE_BREAK_GLASS_USERS")
if not FAILSAFE_LOCAL_PASSWORDS and not (FAILSAFE_OIDC_CLIENT_ID or FAILSAFE_BREAK_GLASS_USERS):
    raise ImproperlyConfigured("FAILSAFE_LOCAL_PASSWORDS=0 needs single sign-on or FAILSAFE_BREAK_GLASS_USERS.")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and env_bool("FAILSAFE_MANIFEST_STATIC", True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
    # Evidence files (incidents.evidence): a local directory by default; any storage class by
    # configuration, e.g. S3-compatible through django-storages ("storages.backends.s3.S3Storage",
    # with its options as JSON: bucket_name, endpoint_url, ...). Never served by URL: only through
    # the app's download views, which check who may see the incident.
    "evidence": {
        "BACKEND": os.environ.get("FAILSAFE_EVIDENCE_STORAGE", "django.core.files.storage.FileSystemStorage"),
        "OPTIONS": env_json("FAILSAFE_EVIDENCE_STORAGE_OPTIONS")
        or {"location": os.environ.get("FAILSAFE_EVIDENCE_DIR", str(VAR_DIR / "evidence"))},
    },
}
# The largest evidence file accepted, in bytes (default 25 MB). Set the proxy's body limit above it.
FAILSAFE_EVIDENCE_MAX_BYTES = int(os.environ.get("FAILSAFE_EVIDENCE_MAX_BYTES", "") or 25 * 1024 * 1024)
# How a shared package names its sender (incidents.sharing): the STIX identity and the JSON's `from`.
FAILSAFE_ORGANISATION_NAME = os.environ.get("FAILSAFE_ORGANISATION_NAME", "") or "Failsafe operator"

# Security. Plain-HTTP local use (tests, `make run`) sets FAILSAFE_INSECURE_HTTP=1.
INSECURE_HTTP = env_bool("FAILSAFE_INSECURE_HTTP", DEBUG)
SECURE_SSL_REDIRECT = not INSECURE_HTTP
SESSION_COOKIE_SECURE = not INSECURE_HTTP
CSRF_COOKIE_SECURE = not INSECURE_HTTP
SECURE_HSTS_SECONDS = 0 if INSECURE_HTTP else int(os.environ.get("DJANGO_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not INSECURE_HTTP
SECURE_HSTS_PRELOAD = not INSECURE_HTTP
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_PROXY", False) else None
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# How many proxies in front of us each append the address they saw to X-Forwarded-For
# (accounts/client.py). 0 trusts only REMOTE_ADDR; a TLS-terminating proxy (DJANGO_BEHIND_PROXY)
# is one hop unless said otherwise, so clients behind it are not all one address.
FAILSAFE_TRUSTED_PROXY_COUNT = int(
    os.environ.get("FAILSAFE_TRUSTED_PROXY_COUNT", "") or ("1" if SECURE_PROXY_SSL_HEADER else "0")
)
if FAILSAFE_TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("FAILSAFE_TRUSTED_PROXY_COUNT must be 0 or more.")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 12 * 60 * 60
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp 4): only our own scripts, styles and images; no inline
# script, style or event handler anywhere (tests/test_security_headers.py greps the templates).
# The API docs page alone adds data: images (config/docs.py says why).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

EMAIL_BACKEND = os.environ.get(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("DJANGO_EMAIL_PORT", "25"))
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "failsafe@localhost")
# A hung mail server must not hold a worker (or its delivery's lease) for ever.
EMAIL_TIMEOUT = float(os.environ.get("DJANGO_EMAIL_TIMEOUT", "10"))
FAILSAFE_BASE_URL = os.environ.get("FAILSAFE_BASE_URL", "http://127.0.0.1:8000")


def _webauthn_defaults(base_url: str) -> tuple[str, str]:
    """The relying-party id and origin a base URL implies. WebAuthn needs a domain, so a base URL on
    an IP address (make run's 127.0.0.1) means localhost, which browsers treat as secure."""
    parts = urlsplit(base_url)
    host = parts.hostname or "localhost"
    try:
        ipaddress.ip_address(host)
        host = "localhost"
    except ValueError:
        pass
    return host, f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


# Passkeys (accounts.passkeys, django-otp-webauthn): the relying party and the origins its assertions may come from.
FAILSAFE_WEBAUTHN_RP_ID = os.environ.get("FAILSAFE_WEBAUTHN_RP_ID") or _webauthn_defaults(FAILSAFE_BASE_URL)[0]
FAILSAFE_WEBAUTHN_ORIGINS = env_list("FAILSAFE_WEBAUTHN_ORIGINS") or [_webauthn_defaults(FAILSAFE_BASE_URL)[1]]
OTP_WEBAUTHN_RP_ID = FAILSAFE_WEBAUTHN_RP_ID
OTP_WEBAUTHN_RP_NAME = "Failsafe"
OTP_WEBAUTHN_ALLOWED_ORIGINS = FAILSAFE_WEBAUTHN_ORIGINS
# A passkey here is a second factor for one decision, never a way to sign in.
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
OTP_WEBAUTHN_TIMEOUT_SECONDS = int(os.environ.get("FAILSAFE_WEBAUTHN_TIMEOUT_SECONDS", "300"))

# Slack (incidents.channels.slack): without a bot token the channel is off and says so.
FAILSAFE_SLACK_API_URL = os.environ.get("FAILSAFE_SLACK_API_URL", "https://slack.com/api/")
FAILSAFE_SLACK_BOT_TOKEN = os.environ.get("FAILSAFE_SLACK_BOT_TOKEN", "")
FAILSAFE_SLACK_TIMEOUT = float(os.environ.get("FAILSAFE_SLACK_TIMEOUT", "10"))
# Outgoing webhooks (incidents.channels.webhooks): seconds to connect, seconds to read the answer.
FAILSAFE_WEBHOOK_CONNECT_TIMEOUT = float(os.environ.get("FAILSAFE_WEBHOOK_CONNECT_TIMEOUT", "3"))
FAILSAFE_WEBHOOK_READ_TIMEOUT = float(os.environ.get("FAILSAFE_WEBHOOK_READ_TIMEOUT", "10"))
# Endpoints must use https unless this is on (a development checkout, or a receiver on a private network).
FAILSAFE_WEBHOOK_ALLOW_HTTP = env_bool("FAILSAFE_WEBHOOK_ALLOW_HTTP", DEBUG)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "accounts.api.base.FailsafeAutoSchema",  # documents Idempotency-Key on POSTs
    "DEFAULT_PAGINATION_CLASS": "config.api.PageNumberPagination",  # a page that does not exist is a 400
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
    # A ?format= naming no representation the endpoint has is a 400 naming `format`, not DRF's 404.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "config.api.ContentNegotiation",
    # DRF's own throttles read the same hop of X-Forwarded-For as accounts.client.client_ip.
    "NUM_PROXIES": FAILSAFE_TRUSTED_PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Failsafe API",
    "DESCRIPTION": "Incident response and deployment corrections for frontier AI models.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "ENUM_NAME_OVERRIDES": {
        "CorrectionStateEnum": "corrections.models.State",
        "SignalStateEnum": "incidents.models.Signal.State",
        # Reviews brought a second `status` and `kind`: these keep the existing names as they were.
        "StatusEnum": "incidents.models.Status",
        "KindEnum": "incidents.models.TimelineEntry.Kind",
        "FollowUpStatusEnum": "incidents.models.reviews.FollowUpStatus",
        "ExcerptKindEnum": ["event", "entry"],
        "ReadinessHealthEnum": "corrections.readiness.HEALTH_STATES",
        "ReadinessModeEnum": "corrections.readiness.MODES",
        "NotificationEventEnum": "incidents.models.notifications.Event",
        "IntegrationKindEnum": "incidents.models.integrations.IntegrationKind",
        # A severity or blank: `severity_hint` and an integration's `default_severity_hint`.
        "SeverityHintEnum": ["SEV1", "SEV2", "SEV3", "SEV4", ""],
        # Reportability brought a second `decision` (the approvals' keeps its name).
        "DecisionEnum": "corrections.models.Approval.Decision",
        "AssessmentDecisionEnum": "incidents.models.reporting.Decision",
        # Regulator reports: a version's kind (with blank, when starting one: the initial report).
        "ReportKindEnum": "incidents.models.reports.ReportKind",
    },
    # Swagger UI's assets come from the pinned drf-spectacular-sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Sign-in lockout (django-axes): too many failures for a username, or from an address, lock both the
# password check (sign-in page, API token) and the second factor until the cool-off has passed.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one locks
AXES_FAILURE_LIMIT = int(os.environ.get("FAILSAFE_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("FAILSAFE_LOGIN_COOLOFF_MINUTES", "15")))
if AXES_FAILURE_LIMIT < 1 or AXES_COOLOFF_TIME.total_seconds() <= 0:
    raise ImproperlyConfigured("FAILSAFE_LOGIN_FAILURE_LIMIT and FAILSAFE_LOGIN_COOLOFF_MINUTES must be positive.")
AXES_CLIENT_IP_CALLABLE = "accounts.client.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# A success forgives only that username's password failures from that address (accounts.lockout);
# axes's own reset would also forgive the address's failures for other usernames.
AXES_RESET_ON_SUCCESS = False
# Attempts while locked out are refused without moving the time we told the person to come back.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# accounts.admin registers the lockout tables read-only, with an audited unlock.
AXES_ENABLE_ADMIN = False

# The cache holds API throttle counts; on Redis they are shared by every web process.
CACHE_URL = os.environ.get("FAILSAFE_CACHE_URL", os.environ.get("REDIS_URL", ""))
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    if CACHE_URL.startswith(("redis://", "rediss://"))
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# Celery. Production: REDIS_URL. `make run`: a filesystem broker that needs no server.
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        data_folder_in=str(_broker_dir / "queue"),
        data_folder_out=str(_broker_dir / "queue"),
        processed_folder=str(_broker_dir / "processed"),
        control_folder=str(_broker_dir / "control"),
        store_processed=False,
    )
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
# Workers log through LOGGING (accounts.logs: JSON with the task id bound), not Celery's own handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Beat on Redis (production) keeps its schedule in Redis under a lock (celery-redbeat): a second beat
# started by mistake waits for the lock instead of sending every task twice, and takes over within
# FAILSAFE_BEAT_LOCK_SECONDS if the first dies; a Redis outage does not stop it (config/beat.py).
# `make run` (filesystem broker) keeps the file scheduler.
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BEAT_SCHEDULER = "config.beat:LockedScheduler"
    CELERY_REDBEAT_REDIS_URL = CELERY_BROKER_URL
    CELERY_REDBEAT_REDIS_OPTIONS: dict[str, object] = {}
    CELERY_REDBEAT_KEY_PREFIX = "failsafe:redbeat"
    CELERY_REDBEAT_LOCK_TIMEOUT = int(os.environ.get("FAILSAFE_BEAT_LOCK_SECONDS", "30"))
    if CELERY_REDBEAT_LOCK_TIMEOUT < 3:
        raise ImproperlyConfigured("FAILSAFE_BEAT_LOCK_SECONDS must be at least 3.")
    # The lock holder renews the lock, and a waiting beat retries it, at least this often.
    CELERY_BEAT_MAX_LOOP_INTERVAL = min(5, CELERY_REDBEAT_LOCK_TIMEOUT // 3)
# Fail fast when the broker is down: the outbox keeps the work and the relay resends it.
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Every task is routed by name; tests/corrections/test_tasks.py fails on one that is not.
CELERY_TASK_ROUTES = {
    "corrections.dispatch_outbox_entry": {"queue": "dispatch"},
    "corrections.relay_outbox": {"queue": "sweeps"},
    "corrections.sweep_expired": {"queue": "sweeps"},
    "corrections.sweep_deadlines": {"queue": "sweeps"},
    "corrections.check_readiness": {"queue": "sweeps"},
    "accounts.purge_idempotency_records": {"queue": "sweeps"},
    "incidents.escalate_pages": {"queue": "sweeps"},
    "incidents.deliver_notification": {"queue": "notify"},
    "incidents.relay_deliveries": {"queue": "sweeps"},
    "corrections.send_reminders": {"queue": "sweeps"},
    "incidents.send_reminders": {"queue": "sweeps"},
    "corrections.sweep_drills": {"queue": "sweeps"},
    "incidents.sweep_clocks": {"queue": "sweeps"},
}
# Readiness (DESIGN §8a): every actuator's GET /health is checked this often by beat; a result older
# than FAILSAFE_READINESS_STALE_AFTER intervals is stale (shown amber, warned about like a failure).
FAILSAFE_READINESS_INTERVAL_SECONDS = float(os.environ.get("FAILSAFE_READINESS_INTERVAL_SECONDS", "60"))
FAILSAFE_READINESS_STALE_AFTER = float(os.environ.get("FAILSAFE_READINESS_STALE_AFTER", "3"))
# Expiry and time-to-live are swept by beat, never scheduled as far-future ETA tasks.
CELERY_BEAT_SCHEDULE = {
    "relay-outbox": {"task": "corrections.relay_outbox", "schedule": 2.0},
    "sweep-expired": {"task": "corrections.sweep_expired", "schedule": 5.0},
    "sweep-deadlines": {"task": "corrections.sweep_deadlines", "schedule": 30.0},
    # Often enough that each actuator is checked once per interval (a claim stops a second check).
    "check-readiness": {
        "task": "corrections.check_readiness",
        "schedule": min(5.0, FAILSAFE_READINESS_INTERVAL_SECONDS),
    },
    "purge-idempotency-records": {"task": "accounts.purge_idempotency_records", "schedule": 3600.0},
    "escalate-pages": {"task": "incidents.escalate_pages", "schedule": 5.0},
    "relay-deliveries": {"task": "incidents.relay_deliveries", "schedule": 5.0},
    # Each reminder is sent once whatever the period (incidents.reminders); a minute is precise enough.
    "send-correction-reminders": {"task": "corrections.send_reminders", "schedule": 60.0},
    "send-follow-up-reminders": {"task": "incidents.send_reminders", "schedule": 300.0},
    # Drill reports of closed drills, and reminders when a team's next drill is due (once a day each).
    "sweep-drills": {"task": "corrections.sweep_drills", "schedule": 60.0},
    # Regulators' clocks: final-report clocks on resolution, reminders at 50 %, 80 % and 24 h before.
    "sweep-clocks": {"task": "incidents.sweep_clocks", "schedule": 60.0},
}
# Inbound monitoring integrations: deliveries allowed per integration (DRF rate, e.g. 120/min).
FAILSAFE_INTEGRATION_RATE = os.environ.get("FAILSAFE_INTEGRATION_RATE", "120/min")
# Transient actuator errors are retried for a time, not a number of attempts, so a control plane
# restarting for a few seconds never fails a correction; the backoff cap bounds how long a
# recovered actuator waits to be noticed. The attempt cap is only a safety net.
FAILSAFE_DISPATCH_RETRY_SECONDS = float(os.environ.get("FAILSAFE_DISPATCH_RETRY_SECONDS", "120"))
FAILSAFE_DISPATCH_BACKOFF_BASE = float(os.environ.get("FAILSAFE_DISPATCH_BACKOFF_BASE", "0.5"))
FAILSAFE_DISPATCH_BACKOFF_CAP = float(os.environ.get("FAILSAFE_DISPATCH_BACKOFF_CAP", "15"))
FAILSAFE_DISPATCH_ATTEMPT_CAP = int(os.environ.get("FAILSAFE_DISPATCH_ATTEMPT_CAP", "500"))
FAILSAFE_DISPATCH_LEASE_SECONDS = int(os.environ.get("FAILSAFE_DISPATCH_LEASE_SECONDS", "30"))
FAILSAFE_OUTBOX_RESEND_AFTER = int(os.environ.get("FAILSAFE_OUTBOX_RESEND_AFTER", "10"))
# Paging: an unacknowledged page goes to the next person on call after this many seconds, then to
# the whole role (beat checks every 5 s, so a short value works for tests and drills).
FAILSAFE_PAGE_ACK_SECONDS = float(os.environ.get("FAILSAFE_PAGE_ACK_SECONDS", "300"))
if FAILSAFE_PAGE_ACK_SECONDS <= 0:
    raise ImproperlyConfigured("FAILSAFE_PAGE_ACK_SECONDS must be positive.")
# Notifications (incidents.delivery): a mail server that is down for hours still gets the message.
FAILSAFE_NOTIFY_RETRY_SECONDS = float(os.environ.get("FAILSAFE_NOTIFY_RETRY_SECONDS", str(6 * 3600)))
FAILSAFE_NOTIFY_BACKOFF_BASE = float(os.environ.get("FAILSAFE_NOTIFY_BACKOFF_BASE", "2"))
FAILSAFE_NOTIFY_BACKOFF_CAP = float(os.environ.get("FAILSAFE_NOTIFY_BACKOFF_CAP", "300"))
FAILSAFE_NOTIFY_LEASE_SECONDS = int(os.environ.get("FAILSAFE_NOTIFY_LEASE_SECONDS", "60"))

# Logs (accounts.logs): JSON lines with request id, user, incident and Celery task id bound; a
# readable console line in a development checkout. FAILSAFE_LOG_JSON switches either way.
FAILSAFE_LOG_JSON = env_bool("FAILSAFE_LOG_JSON", not DEBUG)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"structured": {"()": "accounts.logs.formatter", "json": FAILSAFE_LOG_JSON}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": os.environ.get("FAILSAFE_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Health, readiness and metrics (accounts.ops, README "Operations"): /healthz, /readyz, /-/metrics.
# Open to a bearer token or to addresses in the allow-list (comma-separated CIDRs); with neither,
# loopback only in a development checkout and nobody in production.
FAILSAFE_OPS_TOKEN = os.environ.get("FAILSAFE_OPS_TOKEN", "")
FAILSAFE_OPS_ALLOW = env_list("FAILSAFE_OPS_ALLOW")
# /readyz fails when the oldest unfinished dispatch or pending notification is older than this
# many seconds (0: reported, never failing).
FAILSAFE_READY_OUTBOX_MAX_AGE = float(os.environ.get("FAILSAFE_READY_OUTBOX_MAX_AGE", "") or 600)
FAILSAFE_READY_NOTIFY_MAX_AGE = float(os.environ.get("FAILSAFE_READY_NOTIFY_MAX_AGE", "") or 3600)
