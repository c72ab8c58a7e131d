"""Settings, all from the environment, with embedded defaults that run on one
machine with nothing else installed (SQLite, django-q2's ORM broker, local git).

Scale-out is environment only: DATABASE_URL=postgres://..., REDIS_URL=redis://...
"""

import secrets
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
DATA_DIR = Path(env.str("PATCHGATE_DATA_DIR", default=str(BASE_DIR / "var")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

# Off unless asked for: `make run` asks for it (local use only: its pages list every URL).
DEBUG = env.bool("DEBUG", default=False)


def _dev_secret_key() -> str:
    """A key generated once per checkout, so sessions survive restarts in development."""
    key_file = DATA_DIR / "dev_secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
PUBLIC_URL = env.str("PUBLIC_URL", default=f"http://127.0.0.1:{env.int('PORT', default=8000)}").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PUBLIC_URL])

# A service that answers only this machine's names may use a key generated into DATA_DIR;
# one that answers any other host fails closed without SECRET_KEY.
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not set(ALLOWED_HOSTS) <= {"127.0.0.1", "localhost", "testserver", "::1", "[::1]"}:
        raise ImproperlyConfigured("SECRET_KEY must be set when ALLOWED_HOSTS names a host beyond this machine.")
    SECRET_KEY = _dev_secret_key()

# Served over HTTPS by a TLS proxy in front (PUBLIC_URL https://...): secure cookies, HSTS,
# plain HTTP redirected, and the proxy's X-Forwarded-Proto and X-Forwarded-For trusted.
# Every one can be turned off from the environment.
HTTPS = PUBLIC_URL.startswith("https://")
BEHIND_TLS_PROXY = env.bool("BEHIND_TLS_PROXY", default=HTTPS)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=HTTPS)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS)

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
    "django_q",
    "axes",
    "promotions",
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
    "promotions.security.AdminContentSecurityPolicyMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

# Brute-force protection of the admin login and the reports' HTTP Basic (django-axes): after
# LOGIN_FAILURE_LIMIT failures a username is refused from that address for LOGIN_COOLOFF_MINUTES.
# Attempts are rows in the database (shown in the admin), so any cache backend will do.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # failures only: a script's Basic auth would log every call
AXES_CLIENT_IP_CALLABLE = "promotions.security.client_ip"
AXES_VERBOSE = False  # no banner in every command's log; failures and lockouts are still logged

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'patchgate.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker processes share one file: WAL lets readers run beside the
    # writer, IMMEDIATE takes the write lock up front instead of failing mid-way.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test_patchgate.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# The hot statements (a key, a status document, a lane's queue, a submission, the
# engine's status changes) as server-side prepared statements (promotions.prepared).
# Off behind a transaction-mode pooler that cannot keep them (PgBouncer before 1.21,
# or without max_prepared_statements).
PREPARED_STATEMENTS = env.bool("PREPARED_STATEMENTS", default=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # Shared by the web and worker processes through the database, so throttling
    # counts stay right with several processes.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "patchgate_cache"}}

Q_CLUSTER = {
    "name": "patchgate",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT_SECONDS", default=300),
    # A task whose worker died is handed out again after `retry` seconds; the
    # promotion engine is idempotent (lane lease + Promotion-Id trailers).
    "retry": env.int("Q_RETRY_SECONDS", default=360),
    "max_attempts": 5,
    "ack_failures": True,
    "catch_up": False,
    # The ORM broker looks for new tasks this often (Redis hands them over at once).
    "poll": env.float("Q_POLL_SECONDS", default=0.02),
    "save_limit": 1000,
    "label": "Task queue",
    "log_level": env.str("LOG_LEVEL", default="INFO"),  # its own logger follows the service's level
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["promotions.auth.PodKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["promotions.permissions.IsPod"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["promotions.api.parsers.BoundedJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "promotions.api.negotiation.JsonFirstNegotiation",
    "DEFAULT_THROTTLE_CLASSES": ["promotions.throttling.PodRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "promotions.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Patchgate",
    "DESCRIPTION": "Promote whole files into a Git repository as one safe commit per batch.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Swagger UI from the installed sidecar package: /api/docs/ needs no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # As a custom GPT's Actions editor imports it: 3.1, pod operations only, servers = PUBLIC_URL.
    "OAS_VERSION": "3.1.0",
    "ENUM_NAME_OVERRIDES": {
        "PromotionStatusEnum": "promotions.models.Promotion.Status",
        "FileStatusEnum": "promotions.models.FileChange.Status",
        "PromotionModeEnum": "promotions.models.Promotion.Mode",
        "FileModeEnum": "promotions.models.FileChange.Mode",
        "FileReadModeEnum": "promotions.api.serializers.FILE_READ_MODES",
        "FileTypeEnum": "promotions.api.serializers.FILE_TYPES",
    },
    "PREPROCESSING_HOOKS": ["promotions.api.schema.pod_operations_only"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "promotions.api.schema.public_server"],
}

# Where the `local` backend keeps its bare repositories.
LOCAL_REPOS_DIR = Path(env.str("LOCAL_REPOS_DIR", default=str(DATA_DIR / "repos")))
COMMIT_EMAIL_DOMAIN = env.str("COMMIT_EMAIL_DOMAIN", default="pods.patchgate.invalid")

# GitHub: a token or a GitHub App; never stored in the database.
GITHUB_API_URL = env.str("GITHUB_API_URL", default="https://api.github.com")
GITHUB_WEB_URL = env.str("GITHUB_WEB_URL", default="")
GITHUB_TOKEN = env.str("GITHUB_TOKEN", default="")
GITHUB_APP_ID = env.str("GITHUB_APP_ID", default="")
GITHUB_APP_PRIVATE_KEY = env.str("GITHUB_APP_PRIVATE_KEY", default="")
GITHUB_APP_INSTALLATION_ID = env.str("GITHUB_APP_INSTALLATION_ID", default="")
GITHUB_TIMEOUT_SECONDS = env.float("GITHUB_TIMEOUT_SECONDS", default=15)
# Writes per credential (token or App installation) GitHub allows, as N/SECONDS windows shared by
# every process (promotions.scm.github.budget); "off" for none. GitHub documents 80 a minute, 500 an hour.
GITHUB_WRITE_LIMITS = env.str("GITHUB_WRITE_LIMITS", default="80/60,500/3600")

PATCHGATE = {
    # How often a promotion is re-applied after the branch moved under it.
    "MAX_CAS_ATTEMPTS": env.int("MAX_CAS_ATTEMPTS", default=5),
    # A promotion fails at its Nth transient error of its own (5xx, timeout, dropped connection
    # while it was landed alone), retried with backoff RETRY_BASE_SECONDS x 2^n in between.
    "MAX_TRANSIENT_RETRIES": env.int("MAX_TRANSIENT_RETRIES", default=5),
    "RETRY_BASE_SECONDS": env.float("RETRY_BASE_SECONDS", default=2),
    # What attempts do not count (rate-limit waits, crashed workers) is bounded by time: a promotion
    # not landed this long after its first attempt fails, once its commit is known not to be on the branch.
    "GIVE_UP_AFTER_SECONDS": env.int("GIVE_UP_AFTER_SECONDS", default=3600),
    # A worker's hold on a branch lane, renewed by a heartbeat every quarter of it: a dead holder's
    # lane is taken over this long after it died.
    "LANE_LEASE_SECONDS": env.float("LANE_LEASE_SECONDS", default=10),
    # How often each worker process looks for lanes with work due and no live holder (retries
    # that are due, lanes of dead workers, lost tasks) and wakes them.
    "LANE_CLOCK_SECONDS": env.float("LANE_CLOCK_SECONDS", default=1),
    # Most promotions landed as one chain of commits with a single ref update, and most bytes of
    # content (decoded) in one: a worker holds one train's files at a time. A larger promotion goes alone.
    "TRAIN_MAX": env.int("TRAIN_MAX", default=20),
    "TRAIN_MAX_BYTES": env.int("TRAIN_MAX_BYTES", default=50 * 1024 * 1024),
    # Lanes (branches) one worker process applies at the same time, on threads: the git host's
    # answers are waits, not work.
    "LANE_THREADS": env.int("LANE_THREADS", default=8),
    # Requests of one web process waiting for an outcome ("wait"), in all and per pod; beyond
    # them a request answers 202 at once, so waits never take the threads other requests need
    # (`make run`'s web processes have 12 threads: 4 stay free; 10 pods waiting at once on its
    # 2 processes, shared at random, find a slot 98 times in 100, against 66 with 6 slots of 8).
    "MAX_WAITING_REQUESTS": env.int("MAX_WAITING_REQUESTS", default=8),
    "MAX_WAITING_PER_POD": env.int("MAX_WAITING_PER_POD", default=2),
    # Per pod, unless the pod has its own throttle_rate; over it: 429 with Retry-After.
    "THROTTLE_RATE": env.str("THROTTLE_RATE", default="120/min"),
    "MAX_FILES_PER_PROMOTION": env.int("MAX_FILES_PER_PROMOTION", default=500),
    # Decoded sizes (base64 counts as its bytes): over them, 413.
    "MAX_FILE_BYTES": env.int("MAX_FILE_BYTES", default=10 * 1024 * 1024),
    "MAX_PROMOTION_BYTES": env.int("MAX_PROMOTION_BYTES", default=50 * 1024 * 1024),
    # A lead reads both in the admin: UTF-8 bytes of the trace, compact JSON of the metadata; over them, 413.
    "MAX_TRACE_BYTES": env.int("MAX_TRACE_BYTES", default=1024 * 1024),
    "MAX_METADATA_BYTES": env.int("MAX_METADATA_BYTES", default=64 * 1024),
    # Denied to pods unless an allow glob names them, besides CI configuration and .git* files.
    "SENSITIVE_PATH_GLOBS": env.list("SENSITIVE_PATH_GLOBS", default=[]),
}
# The raw body Django agrees to read (413 beyond): room for base64 and JSON escapes.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_BODY_BYTES", default=2 * PATCHGATE["MAX_PROMOTION_BYTES"])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Failures and lockouts are warnings; its INFO lines come with every login.
        "axes": {"level": "WARNING"},
        # /mcp runs the MCP SDK's transport once per request, which logs its start and stop at INFO.
        "mcp.server.streamable_http_manager": {"level": "WARNING"},
    },
}
