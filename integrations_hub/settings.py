"""Settings for Integrations Hub, read from the environment.

With no configuration at all the hub runs on SQLite in ./data and a Celery broker
kept in files under ./data/broker, so `make run` needs no server. Set
DATABASE_URL=postgres://... and CELERY_BROKER_URL=redis://... for production.
"""

from __future__ import annotations

import os
from pathlib import Path

from kombu import Queue

from integrations_hub.env import (
    ImproperlyConfiguredSetting,
    check_broker_url,
    env_bool,
    env_int,
    env_int_list,
    env_list,
    env_str,
    parse_database_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("HUB_DATA_DIR", str(BASE_DIR / "data")))

DEBUG = env_bool("DEBUG", False)
# Without SECRET_KEY a random key is made once and kept in the data folder, so a local install is
# never signed with a key published in the source. Several web servers must share one: set it.
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    _key_file = DATA_DIR / "secret.key"
    if not _key_file.exists():
        import secrets as _secrets

        DATA_DIR.mkdir(parents=True, exist_ok=True)
        _key_file.write_text(_secrets.token_urlsafe(64))
        _key_file.chmod(0o600)
    SECRET_KEY = _key_file.read_text().strip()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_celery_beat",
    "rest_framework",
    # The OpenAPI schema (/api/schema/) and Swagger UI (/api/docs/) with its assets served locally.
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "integrations_hub.accounts",
    "integrations_hub.health",
    "integrations_hub.audit",
    "connectors",
    "workflows",
    "workflows.sync",
    "integrations_hub.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "integrations_hub.urls"
WSGI_APPLICATION = "integrations_hub.wsgi.application"

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
                "integrations_hub.accounts.context_processors.team",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": parse_database_url("DATABASE_URL", DATABASE_URL)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "hub.sqlite3"),
            # WAL lets the web server, worker and beat read while one of them writes.
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- Celery -----------------------------------------------------------------
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = check_broker_url("CELERY_BROKER_URL", env_str("CELERY_BROKER_URL", "filesystem://"))
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded broker: messages are files in one folder shared by web, worker and beat.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Longer than the longest task, so a late-acknowledged task is not redelivered while it still runs.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 7200)}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULER = "integrations_hub.health.heartbeats:HeartbeatScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Two queues, so a long backfill cannot starve real-time work: `realtime` carries webhook and file event
# processing, the sweep that hands due events on, and alerts; `bulk` carries polls, scheduled and manual
# runs, replays and pruning. Anything not routed goes to `celery`. Declaring the queues means a worker
# started without -Q consumes all three (the one-worker layout keeps working); production runs a
# `-Q realtime` worker and a `-Q bulk,celery` worker (docs/operations.md).
CELERY_TASK_QUEUES = [Queue("realtime"), Queue("bulk"), Queue("celery")]
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "workflows.process_webhook_events": {"queue": "realtime"},
    "workflows.sweep": {"queue": "realtime"},
    "workflows.send_incident_alert": {"queue": "realtime"},
    "workflows.poll_workflow": {"queue": "bulk"},
    "workflows.execute_run": {"queue": "bulk"},
    "workflows.prune_runs": {"queue": "bulk"},
    # Two-way sync (workflows/sync/tasks.py): a reviewer's decision and alerts are waited for by a
    # person; polls and runs are the long work.
    "sync.apply_review": {"queue": "realtime"},
    "sync.send_incident_alert": {"queue": "realtime"},
    "sync.poll_sync": {"queue": "bulk"},
    "sync.execute_run": {"queue": "bulk"},
}

# --- Secrets ----------------------------------------------------------------
# Comma-separated Fernet keys, newest first. The first encrypts; all decrypt (rotation).
HUB_ENCRYPTION_KEYS = env_list("HUB_ENCRYPTION_KEYS", [])
HUB_ENCRYPTION_KEY_FILE = Path(env_str("HUB_ENCRYPTION_KEY_FILE", str(DATA_DIR / "encryption.key")))

# --- Outbound HTTP ----------------------------------------------------------
HUB_HTTP_TIMEOUT_SECONDS = env_int("HUB_HTTP_TIMEOUT_SECONDS", 30, minimum=1)
HUB_HTTP_MAX_RETRIES = env_int("HUB_HTTP_MAX_RETRIES", 4)
# Hosts that may resolve to loopback/private addresses. None by default: a URL a user types never reaches
# this machine or the private network unless an administrator lists its host here. `make run` (the demo,
# whose sandboxes listen on loopback) sets 127.0.0.1,localhost for its own processes.
HUB_HTTP_ALLOWED_PRIVATE_HOSTS = env_list("HUB_HTTP_ALLOWED_PRIVATE_HOSTS", [])
# Where the per-connection request budgets (rate-limit governor) live, so every worker process draws
# from the same one. Defaults to the broker when that is Redis; empty means each process keeps its own,
# which is right for the embedded single-worker demo (filesystem:// or memory:// broker).
HUB_RATE_LIMIT_REDIS_URL = env_str(
    "HUB_RATE_LIMIT_REDIS_URL",
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "",
)

# A cache every web and worker process shares: API throttle budgets, the per-URL webhook limit's
# fallback and the webhook drain guard. A Redis URL; empty keeps one in-memory cache per process, which
# is right for a single web process (the demo) and means per-process budgets when there are several.
HUB_CACHE_URL = env_str("HUB_CACHE_URL", "")
if HUB_CACHE_URL:
    if not HUB_CACHE_URL.startswith(("redis://", "rediss://")):
        raise ImproperlyConfiguredSetting(
            f"HUB_CACHE_URL must start with redis:// or rediss://, got {HUB_CACHE_URL!r}"
        )
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": HUB_CACHE_URL,
            "KEY_PREFIX": "hub",
        }
    }

# --- OAuth apps ("Connect with ...") ----------------------------------------
# One app per provider, registered with the external system: HUB_OAUTH_<KIND>_CLIENT_ID and
# _CLIENT_SECRET, optionally _AUTHORIZE_URL, _TOKEN_URL (default: the system's real endpoints, e.g. to
# use the sandbox's instead) and _SCOPES (space-separated). The secret is an installation secret, so
# it lives in the environment and never in a connection row. See docs/connectors.md.
_OAUTH_PARTS = {"CLIENT_ID", "CLIENT_SECRET", "AUTHORIZE_URL", "TOKEN_URL", "SCOPES"}
HUB_OAUTH_APPS: dict[str, dict[str, str]] = {}
for _name, _value in sorted(os.environ.items()):
    if _name.startswith("HUB_OAUTH_") and _value.strip():
        for _part in _OAUTH_PARTS:
            _kind = _name[len("HUB_OAUTH_") : -len(_part) - 1]
            if _name.endswith("_" + _part) and _kind:
                HUB_OAUTH_APPS.setdefault(_kind.lower(), {})[_part.lower()] = _value.strip()

# The PostgreSQL-table connector refuses to point at the hub's own database unless this is on.
HUB_PG_CONNECTOR_ALLOW_HUB_DATABASE = env_bool("HUB_PG_CONNECTOR_ALLOW_HUB_DATABASE", False)
# Largest CSV a user may upload to the CSV-file connector.
HUB_CSV_MAX_UPLOAD_BYTES = env_int("HUB_CSV_MAX_UPLOAD_BYTES", 50 * 1024 * 1024, minimum=1024)

# --- Runs -------------------------------------------------------------------
HUB_DEFAULT_POLL_SECONDS = env_int("HUB_DEFAULT_POLL_SECONDS", 60, minimum=5)
HUB_RUN_RECORDS_PAGE_SIZE = env_int("HUB_RUN_RECORDS_PAGE_SIZE", 50, minimum=1)
# Seconds to wait before each retry of a webhook event whose write failed transiently.
HUB_RETRY_SCHEDULE_SECONDS = env_int_list("HUB_RETRY_SCHEDULE_SECONDS", [60, 600, 1800, 10800])
# Deliveries one webhook URL accepts per minute (a workflow may set its own; 0: no limit). Beyond it the
# sender gets 429 with Retry-After and delivers again later.
HUB_WEBHOOK_RATE_PER_MINUTE = env_int("HUB_WEBHOOK_RATE_PER_MINUTE", 6000, minimum=0)
# --- Email (incident alerts) ------------------------------------------------
# With EMAIL_HOST set, alerts go out by SMTP; without it they are written to the log (the demo).
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "integrations-hub@localhost")
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend",
)

# A running run whose worker has not reported progress for this long is taken as lost: it is marked
# failed and its unrecorded work is picked up by the next run.
HUB_STALE_RUN_SECONDS = env_int("HUB_STALE_RUN_SECONDS", 600, minimum=5)
# Runs (and their per-record outcomes) older than this are pruned by a periodic task.
HUB_RUN_RETENTION_DAYS = env_int("HUB_RUN_RETENTION_DAYS", 30, minimum=1)
# A worker or beat that has not reported for this long is shown as down by /healthz.
HUB_HEARTBEAT_STALE_SECONDS = env_int("HUB_HEARTBEAT_STALE_SECONDS", 120, minimum=10)
# Before each run the schemas of the objects it maps are refreshed when older than this, so a mapped field
# that was deleted or retyped pauses the workflow instead of failing every record (schema drift). Shorter
# catches drift sooner at the cost of one schema request per object per run.
HUB_SCHEMA_MAX_AGE_SECONDS = env_int("HUB_SCHEMA_MAX_AGE_SECONDS", 600, minimum=0)

# --- Metrics ----------------------------------------------------------------
# GET /metrics (Prometheus text format). Set a token and Prometheus must send `Authorization: Bearer
# <token>`; empty leaves the endpoint open to whoever can reach it (keep it off the public internet).
HUB_METRICS_TOKEN = env_str("HUB_METRICS_TOKEN", "")
# Where each process of this host (web, workers) keeps its histogram samples, so /metrics served by one
# web process includes what a worker process observed. prometheus_client picks its multiprocess mode
# from this variable when it is first imported, so it is put into the environment here, before
# anything imports it. Clear the folder when the whole host's hub restarts (docs/operations.md).
PROMETHEUS_MULTIPROC_DIR = Path(env_str("PROMETHEUS_MULTIPROC_DIR", str(DATA_DIR / "metrics")))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(PROMETHEUS_MULTIPROC_DIR)

# --- Logging ----------------------------------------------------------------
# plain: one readable line (the default, for `make run`); json: one JSON object per line for a log
# shipper (the Docker image sets it). Both carry the run_id and workflow_id of the run being executed.
LOG_FORMAT = env_str("LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfiguredSetting(f"LOG_FORMAT must be plain or json, got {LOG_FORMAT!r}")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "()": "integrations_hub.logging.PlainFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {"()": "integrations_hub.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}


def api_throttle_rate(name: str, default: str) -> str | None:
    """An API request budget from the environment: "120/minute" (as DRF reads it), or "off" for none."""
    raw = env_str(name, default).strip().lower()
    if raw in {"off", "none", "0"}:
        return None
    count, _, period = raw.partition("/")
    if not count.isdigit() or int(count) < 1 or period not in {"second", "minute", "hour", "day"}:
        raise ImproperlyConfiguredSetting(
            f"{name} must be a number of requests per second, minute, hour or day (e.g. 120/minute), "
            f"or off; got {raw!r}"
        )
    return f"{int(count)}/{period}"


# The REST API (/api/v1/, integrations_hub/api/). Token first: its WWW-Authenticate header makes an
# anonymous request a 401 rather than a 403. Sessions work too (with CSRF on unsafe methods).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "integrations_hub.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["integrations_hub.api.permissions.TeamRole"],
    # JSON in and out only: one body format to document, validate and fuzz.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "integrations_hub.api.pagination.ApiPagination",
    "PAGE_SIZE": 25,
    "EXCEPTION_HANDLER": "integrations_hub.api.problems.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "integrations_hub.api.schema.ApiAutoSchema",
    # Request budgets (integrations_hub/api/throttling.py): per user across all their tokens and sessions,
    # and per address for requests without credentials. "N/second|minute|hour|day", or "off".
    "DEFAULT_THROTTLE_CLASSES": [
        "integrations_hub.api.throttling.UserThrottle",
        "integrations_hub.api.throttling.AnonThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": api_throttle_rate("HUB_API_THROTTLE_USER", "1200/minute"),
        "anon": api_throttle_rate("HUB_API_THROTTLE_ANON", "120/minute"),
    },
    # How many proxies in front of the hub append to X-Forwarded-For. 0: the address is the peer's own
    # (DRF's default, None, would trust a header any client can write, and so any budget could be dodged).
    "NUM_PROXIES": env_int("HUB_API_NUM_PROXIES", 0),
}

# --- Security headers and cookies -------------------------------------------
# HUB_HTTPS=true when the hub is served over HTTPS (directly or behind a proxy that sets
# X-Forwarded-Proto): cookies become Secure, HTTP is redirected and HSTS is sent.
HUB_HTTPS = env_bool("HUB_HTTPS", False)
SESSION_COOKIE_HTTPONLY = True
# The pages send the CSRF token from the template (HTMX header), so scripts never need the cookie.
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("HUB_SECURE_COOKIES", HUB_HTTPS)
SECURE_SSL_REDIRECT = HUB_HTTPS and env_bool("HUB_SSL_REDIRECT", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HUB_HTTPS else None
SECURE_HSTS_SECONDS = env_int("HUB_HSTS_SECONDS", 31_536_000 if HUB_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HUB_HTTPS
SECURE_HSTS_PRELOAD = HUB_HTTPS and env_bool("HUB_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Prometheus scrapes each web process directly on the internal network, as health checks do.
SECURE_REDIRECT_EXEMPT += [r"^metrics$"]
