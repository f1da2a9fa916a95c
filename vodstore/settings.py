"""Settings for the VOD store: one module, every difference between a laptop and
production comes from the environment (django-environ)."""

import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env (never committed) lets `make run` keep a stable development secret.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# Read raw: django-environ treats a value starting with "$" as a reference to another
# variable, and 1 in 50 keys from Django's get_random_secret_key() starts with "$".
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production refuses to start without a real secret "
            "key; for local development set DEBUG=true (make run does)."
        )
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # noqa: S105
elif not DEBUG and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure")):
    raise ImproperlyConfigured("SECRET_KEY is too weak for production (50+ random characters).")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    # DRF's own tokens are gone (knox replaced them); the app stays installed so that
    # its migrations, and the one that moved its tokens to knox, keep their history.
    "rest_framework.authtoken",
    "knox",
    "axes",
    "csp",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "vodstore.apps.VodstoreConfig",
    "catalog",
    "purchase",
    "payment",
    "mileage",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "vodstore.headers.PermissionsPolicyMiddleware",
    # NUL and other control characters never reach a view or the database (400)
    "vodstore.inputs.ControlCharacterMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's, taking the account the session brought with it (vodstore.sessions)
    "vodstore.sessions.AuthenticationMiddleware",
    # a cached value a page shows twice is read once (vodstore.cache.kept)
    "vodstore.cache.KeptPerRequest",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "vodstore.outage.OutageMiddleware",
    # last, as its documentation asks: turns a lock-out met in a view into its answer
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "vodstore.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "vodstore.wsgi.application"

# --- Database -------------------------------------------------------------------
# Default: a SQLite file beside the code. WAL lets readers run beside the writer;
# IMMEDIATE transactions take the write lock at BEGIN so writers queue on the busy
# timeout instead of failing with "database is locked" when they upgrade a read lock.
DATABASES = {
    "default": env.db_url_config(
        env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=20),
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            ),
        }
    )
else:
    # A broken connection is replaced before a request uses it; checked only after a
    # rest (vodstore.postgresql: the check was a round trip in every request).
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["ENGINE"] = "vodstore.postgresql"
# The queries a signed-in page runs every time (its session, a buyer's lists) prepared
# by PostgreSQL once per connection (vodstore.postgresql); off behind a pooler that
# cannot keep prepared statements (PgBouncer in transaction mode before 1.21).
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
# Persistent connections, on SQLite too: a new SQLite connection per request ran the
# PRAGMAs above and started with an empty page cache (100,000 films: a title search
# read its pages afresh every time).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------
# Local memory by default; with CACHE_URL=redis://... every worker shares the payment
# guard's state and the rate limits.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://vodstore")}
# (django-environ keeps a URL's key_prefix where Django does not look for it)
CACHES["default"]["KEY_PREFIX"] = env.str("CACHE_KEY_PREFIX", default="vodstore")
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "vodstore.cache.RedisCache"  # reuses its Redis client
    # redis-py waits forever by default: a frozen Redis would hang every request that
    # touches the cache. Well under a second, then the outage is answered (503, or the
    # catalog from the database).
    CACHES["default"].setdefault("OPTIONS", {}).update(
        {
            "socket_connect_timeout": env.float("REDIS_CONNECT_TIMEOUT", default=0.3),
            "socket_timeout": env.float("REDIS_TIMEOUT", default=0.5),
        }
    )
# Each process's own memory, for rendered pieces of pages that only a deploy changes
# (the site's navigation and footer in each language: templates/base.html).
CACHES["fragments"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "fragments",
}
# Each process's copy of the rendered lists of a person's own pages (vodstore.cache.
# rendered: kept under a digest of what they show, so never stale), in front of the
# shared cache; at most RENDERED_LOCAL_ENTRIES (a purchases table is about 10 kB).
CACHES["rendered"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "rendered",
    "TIMEOUT": 600,
    "OPTIONS": {"MAX_ENTRIES": env.int("RENDERED_LOCAL_ENTRIES", default=2000)},
}
# The catalog's read cache (catalog.cache): answers in a shared cache last until the
# catalog changes (the timeout only frees memory); a per-process cache cannot hear of
# another process's change, so its answers are short-lived.
CATALOG_CACHE_SECONDS = env.int("CATALOG_CACHE_SECONDS", default=600)
CATALOG_CACHE_LOCAL_SECONDS = env.int("CATALOG_CACHE_LOCAL_SECONDS", default=10)
# Each process's copy in front of a shared cache (catalog.near), bounded in entries (a
# list page is about 8 kB, a film about 0.5 kB), and how often it rereads the generation.
CATALOG_NEAR_CACHE_ENTRIES = env.int("CATALOG_NEAR_CACHE_ENTRIES", default=2000)
CATALOG_NEAR_RESYNC_SECONDS = env.float("CATALOG_NEAR_RESYNC_SECONDS", default=5.0)
# How long a browser or a reverse proxy may keep a storefront page shown to a visitor
# with no session (catalog.pages: `Cache-Control: public, max-age`); the store itself
# forgets its copy the moment a film changes, a proxy only after this.
STOREFRONT_MAX_AGE = env.int("STOREFRONT_MAX_AGE", default=60)
# The header's points balance (mileage.selectors.mileage_balance_cached). Every change
# forgets it once committed; the timeout bounds what a reader that raced a change (read
# the database before the commit, stored after it) may keep.
MILEAGE_BALANCE_CACHE_SECONDS = env.int("MILEAGE_BALANCE_CACHE_SECONDS", default=60)
# The films each user owns, as pages mark them (purchase.selectors.owned_vod_ids_cached);
# a purchase or a cancel forgets them once it commits.
PURCHASE_OWNED_CACHE_SECONDS = env.int("PURCHASE_OWNED_CACHE_SECONDS", default=300)

# --- Auth -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "vodstore.passwords.CommonWordPasswordValidator"},
    {"NAME": "vodstore.passwords.NotBlankValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Argon2 first (Django's recommended hasher); older hashes are upgraded at log-in.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# django-axes refuses a log-in (storefront, admin, API token) before any password is
# hashed once a client address or an account has failed AXES_FAILURE_LIMIT times,
# until the cool-off has passed. Counted in the shared cache, so every worker agrees.
# Per account too, so a spread-out guessing of one password is stopped; the price is
# that a stranger can lock an account for the cool-off, which is why it is short.
# Behind a proxy, REMOTE_ADDR must be the client's address (gunicorn
# --forwarded-allow-ips and a proxy that sets it), or every client shares one count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Django's model backend, given the account read with the session (vodstore.sessions)
    "vodstore.sessions.SessionAccountBackend",
]
# In the shared cache when there is one (Redis); in the database otherwise, which every
# process shares too (a local-memory cache would give each process its own count).
AXES_HANDLER = (
    "axes.handlers.cache.AxesCacheHandler"
    if CACHES["default"]["BACKEND"] == "vodstore.cache.RedisCache"
    else "axes.handlers.database.AxesDatabaseHandler"
)
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(seconds=env.int("LOGIN_COOLOFF_SECONDS", default=300))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "vodstore.accounts.lockout_response"
AXES_VERBOSE = False
# Sign-ups per client address (vodstore.ratelimit): an account is free to make, so
# making them must not be free of limits.
SIGNUP_RATE = env.str("SIGNUP_RATE", default="10/hour")
# Password-reset requests per client address and per address asked for: nobody floods
# a mailbox through the store.
PASSWORD_RESET_RATE = env.str("PASSWORD_RESET_RATE", default="5/hour")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "catalog:list"
LOGOUT_REDIRECT_URL = "catalog:list"

# --- E-mail (password resets, receipts) ----------------------------------------------------
# Django's mail API. EMAIL_URL (django-environ) names the SMTP server in production:
# smtp+tls://user:password@smtp.example.com:587 (STARTTLS), smtp+ssl://...:465 (TLS), or
# smtp://host:25 (percent-encode "@" or ":" in the user or password). Unset: messages
# are written to the process's output (the console backend), which is what development
# wants; a deployment that sends resets and receipts sets it.
_email = env.email_url("EMAIL_URL", default="consolemail://")
globals().update({name: value for name, value in _email.items() if value not in (None, "")})
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="VOD Store <no-reply@localhost>")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
# The store's public address, for links in e-mails sent outside a request (receipts):
# https://vod.example.com. Empty: http://localhost:8000 (development).
SITE_URL = env.str("SITE_URL", default="http://localhost:8000").rstrip("/")

# --- Internationalisation ---------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Seoul")
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Media (films and trailers: catalog.models.VodMedia) -------------------------------
# Never public: no MEDIA_URL, no URL pattern, no public bucket. Only the streaming views
# hand the bytes out, after their access checks. MEDIA_STORAGE=s3 keeps them in a private
# S3 (or S3-compatible) bucket, reached with short-lived signed URLs; the credentials are
# boto3's usual AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or an instance role).
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_URL_TTL_SECONDS = env.int("MEDIA_URL_TTL_SECONDS", default=300)
MEDIA_STORAGE = env.str("MEDIA_STORAGE", default="filesystem")
if MEDIA_STORAGE == "s3":
    STORAGES["media"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("MEDIA_S3_BUCKET"),
            "endpoint_url": env.str("MEDIA_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("MEDIA_S3_REGION", default="") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": MEDIA_URL_TTL_SECONDS,
            # a new file never replaces one being watched: it gets a name of its own
            "file_overwrite": False,
        },
    }
elif MEDIA_STORAGE == "filesystem":
    # Its location is MEDIA_ROOT: left unset, FileSystemStorage reads MEDIA_ROOT itself
    # and follows it when a test overrides it (a location given here would not).
    STORAGES["media"] = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
else:
    raise ImproperlyConfigured(f"MEDIA_STORAGE is 'filesystem' or 's3', not {MEDIA_STORAGE!r}.")

# A form sent with a stale or missing CSRF token: the store's own page, not Django's.
CSRF_FAILURE_VIEW = "vodstore.error_pages.csrf_failure"

# --- HTTPS and cookies --------------------------------------------------------------
# On by default outside DEBUG; SECURE_HTTPS=false only for plain-HTTP runs on
# 127.0.0.1 (load drills and benchmarks), never for a deployment.
SECURE_HTTPS = env.bool("SECURE_HTTPS", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = SECURE_HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = SECURE_HTTPS
# Database sessions that know their account: read with it in one query, ended by index
# ("sign out everywhere", closing an account): vodstore.sessions.
SESSION_ENGINE = "vodstore.sessions"
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if SECURE_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HTTPS
SECURE_HSTS_PRELOAD = SECURE_HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp) for every page, the storefront, admin and the API
# docs alike: scripts only from this site (no inline script anywhere), no plugins, no
# framing, forms post only here. Inline styles stay allowed for admin and Swagger UI's
# widgets; posters may come from any https address.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "https:", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Powerful browser features the store never uses (vodstore.headers).
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), "
    "interest-cohort=(), browsing-topics=()"
)

# --- REST framework ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "vodstore.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "vodstore.api.Pagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "vodstore.api.AutoSchema",
    # JSON nested past a sane depth is a 400, not a RecursionError
    "DEFAULT_PARSER_CLASSES": [
        "vodstore.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "vodstore.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
# Purchase attempts per user (purchase.throttling): "N/s", "N/min", "N/hour", "N/day".
PURCHASE_RATE = env.str("PURCHASE_RATE", default="30/min")
API_MAX_PAGE_SIZE = 100
# API tokens (django-rest-knox): stored as hashes, several per user (one per device),
# each expiring; log-out ends one, log-out-all every one, and a password change too.
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env.int("API_TOKEN_TTL_HOURS", default=24 * 14)),
    "TOKEN_LIMIT_PER_USER": 20,
    "AUTO_REFRESH": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "VOD store API",
    "DESCRIPTION": "Browse films, buy them, earn and spend mileage, cancel purchases.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # one name for the shared vocabulary, wherever a serializer uses it
    "ENUM_NAME_OVERRIDES": {"PaymentMethodEnum": "vodstore.vocabulary.PaymentMethod"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "vodstore.api.closed_request_bodies",
    ],
}

# --- Logging ------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"skip_expected_refusals": {"()": "vodstore.logs.SkipExpectedRefusals"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"filters": ["skip_expected_refusals"]},
    },
}

# --- Metrics (/metrics) ----------------------------------------------------------------
# Operators only: a scraper from one of these addresses, or one sending
# "Authorization: Bearer <METRICS_TOKEN>". Anyone else gets a 404.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOWED_ADDRESSES = env.list(
    "METRICS_ALLOWED_ADDRESSES", default=["127.0.0.1", "::1"] if DEBUG else []
)
# Purchase and payment totals are brought up to date at most this often, whatever the
# scrape interval and the number of workers (vodstore.metrics.running_totals).
METRICS_COUNT_SECONDS = env.int("METRICS_COUNT_SECONDS", default=60)

# --- Event bus (vodstore.events) ------------------------------------------------------
# The publishing process delivers an event right after commit; the worker leaves it
# alone for this grace period, then treats it as abandoned (the process died).
EVENTS_DISPATCH_GRACE_SECONDS = env.int("EVENTS_DISPATCH_GRACE_SECONDS", default=30)
EVENTS_LEASE_SECONDS = env.int("EVENTS_LEASE_SECONDS", default=60)
EVENTS_RETRY_BASE_SECONDS = env.int("EVENTS_RETRY_BASE_SECONDS", default=5)
EVENTS_RETRY_MAX_SECONDS = env.int("EVENTS_RETRY_MAX_SECONDS", default=3600)
# 5 s doubling to the 1 h cap: twelve attempts span about six hours.
EVENTS_MAX_ATTEMPTS = env.int("EVENTS_MAX_ATTEMPTS", default=12)

# History retention (vodstore.retention): outbox events whose handling is finished are
# deleted, with their delivery and retry records, this many days after they were
# delivered (or published to the broker); failed and pending ones are kept.
OUTBOX_RETENTION_DAYS = env.int("OUTBOX_RETENTION_DAYS", default=30)
# Events deleted per transaction: each batch holds its rows' locks for milliseconds.
OUTBOX_RETENTION_BATCH_SIZE = env.int("OUTBOX_RETENTION_BATCH_SIZE", default=1000)
# How often the outbox worker prunes (and forgets expired Idempotency-Key answers).
OUTBOX_RETENTION_EVERY_SECONDS = env.float("OUTBOX_RETENTION_EVERY_SECONDS", default=600)
if OUTBOX_RETENTION_DAYS < 1 or OUTBOX_RETENTION_BATCH_SIZE < 1:
    raise ImproperlyConfigured(
        "OUTBOX_RETENTION_DAYS and OUTBOX_RETENTION_BATCH_SIZE must be at least 1."
    )

# Broker mode (vodstore.broker): with an AMQP URL, web processes only write the outbox;
# `outbox_worker` relays it to RabbitMQ and `consume_events --group APP` runs each app's
# handlers, on any machine. Without it, events are dispatched in-process (one machine).
EVENT_BROKER_URL = env.str("EVENT_BROKER_URL", default="")
# Names of the exchange and queues begin with this (one store per vhost, or a prefix).
EVENT_BROKER_PREFIX = env.str("EVENT_BROKER_PREFIX", default="vodstore")
# A message delivered this many times without an ack (its consumer died on it) goes to
# its app's dead-letter queue. Fixed when the queue is first declared.
EVENT_BROKER_DELIVERY_LIMIT = env.int("EVENT_BROKER_DELIVERY_LIMIT", default=5)
EVENT_BROKER_PREFETCH = env.int("EVENT_BROKER_PREFETCH", default=20)
# How long a publish waits for the broker's confirm, and a connection attempt.
EVENT_BROKER_TIMEOUT = env.float("EVENT_BROKER_TIMEOUT", default=10.0)
if EVENT_BROKER_URL and DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    raise ImproperlyConfigured(
        "Broker mode (EVENT_BROKER_URL) needs PostgreSQL: several relays claim outbox "
        "rows with SKIP LOCKED and consumers on other machines share the database. Set "
        "DATABASE_URL=postgres://..., or unset EVENT_BROKER_URL to dispatch in-process."
    )

# --- Store rules ----------------------------------------------------------------------
MILEAGE_EARN_PER_PURCHASE = env.int("MILEAGE_EARN_PER_PURCHASE", default=1000)
MILEAGE_FREE_VOD_COST = env.int("MILEAGE_FREE_VOD_COST", default=5000)
# A buyer may cancel for a refund within this many days of buying, and only before the
# film has played past this many seconds (staff may cancel later, from admin).
REFUND_WINDOW_DAYS = env.int("REFUND_WINDOW_DAYS", default=7)
REFUND_WATCHED_SECONDS = env.int("REFUND_WATCHED_SECONDS", default=120)
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
# A claim on a key whose request shows no sign of life for this long is taken over by
# a retry (which resumes the same card authorization): longer than a gateway call.
IDEMPOTENCY_CLAIM_LEASE_SECONDS = env.int("IDEMPOTENCY_CLAIM_LEASE_SECONDS", default=10)

# --- Playing media (vodstore.streaming) -----------------------------------------------
# Who sends a film's bytes once the store has said yes: "django" reads the media storage
# and answers Range itself (make run, tests); "accel" hands the file to nginx with
# X-Accel-Redirect (deploy/nginx/vodstore.conf); "storage" redirects to the storage's
# URL (a presigned, short-lived one on S3).
MEDIA_DELIVERY = env.str("MEDIA_DELIVERY", default="django")
if MEDIA_DELIVERY not in {"django", "accel", "storage"}:
    raise ImproperlyConfigured("MEDIA_DELIVERY must be django, accel or storage.")
# nginx's `internal` location whose alias is the media storage's folder (MEDIA_ROOT).
MEDIA_ACCEL_PREFIX = env.str("MEDIA_ACCEL_PREFIX", default="/protected-media/")
# Where a <video> may load from besides this site: the bucket's origin with
# MEDIA_DELIVERY=storage (the browser follows the redirect there).
CONTENT_SECURITY_POLICY["DIRECTIVES"]["media-src"] = [
    "'self'",
    *env.list("MEDIA_CSP_SOURCES", default=[]),
]

# --- Payment gateway --------------------------------------------------------------------
# "simulated" approves automatically, as the original did; its latency (the original
# slept 600-900 ms) and failure rates are here for demos and fault drills.
# "http" talks to the same simulated processor run as its own process
# (`python -m payment.simulator`) at PAYMENT_GATEWAY_URL.
PAYMENT_GATEWAY = env.str("PAYMENT_GATEWAY", default="simulated")
PAYMENT_GATEWAY_URL = env.str("PAYMENT_GATEWAY_URL", default="http://127.0.0.1:8099")
PAYMENT_GATEWAY_TIMEOUT = env.float("PAYMENT_GATEWAY_TIMEOUT", default=5.0)
# The in-process simulated processor keeps its books in a SQLite file of its own, so
# that no crash of a store process takes the record of a charge with it.
PAYMENT_SIMULATED_LEDGER = env.path(
    "PAYMENT_SIMULATED_LEDGER", default=BASE_DIR / "gateway-ledger.sqlite3"
)
PAYMENT_SIMULATED_LATENCY_MS = env.str("PAYMENT_SIMULATED_LATENCY_MS", default="0-0")
PAYMENT_SIMULATED_FAILURE_RATE = env.float("PAYMENT_SIMULATED_FAILURE_RATE", default=0.0)
PAYMENT_SIMULATED_LOST_ANSWER_RATE = env.float("PAYMENT_SIMULATED_LOST_ANSWER_RATE", default=0.0)
PAYMENT_SIMULATED_DECLINE_RATE = env.float("PAYMENT_SIMULATED_DECLINE_RATE", default=0.0)
# Processors release an authorization that is not captured in time (Stripe: 7 days).
PAYMENT_SIMULATED_AUTHORIZATION_SECONDS = env.float(
    "PAYMENT_SIMULATED_AUTHORIZATION_SECONDS", default=7 * 24 * 3600
)
# The reconciler takes an operation only after it has been left alone this long:
# longer than any gateway call (the guard's timeout, the HTTP adapter's timeout).
PAYMENT_RECONCILE_GRACE_SECONDS = env.float("PAYMENT_RECONCILE_GRACE_SECONDS", default=60)
if PAYMENT_RECONCILE_GRACE_SECONDS <= PAYMENT_GATEWAY_TIMEOUT:
    # A lookup is final only once the call's deadline has passed.
    raise ImproperlyConfigured(
        "PAYMENT_RECONCILE_GRACE_SECONDS must be longer than PAYMENT_GATEWAY_TIMEOUT."
    )
PAYMENT_RECONCILE_EVERY_SECONDS = env.float("PAYMENT_RECONCILE_EVERY_SECONDS", default=10)
# An authorization the gateway had not heard of after the grace is looked up again for
# this long after it was made, and voided if it reached the gateway late after all.
PAYMENT_LATE_AUTHORIZATION_SECONDS = env.float("PAYMENT_LATE_AUTHORIZATION_SECONDS", default=3600)
# Gateway operations that moved no money (failed authorizations, holds released and
# voided) are deleted this many days after (history retention); a purchase's stay.
# Longer than card networks' dispute windows (about 120 days): the operation is the
# store's only link from an account to the processor's charge.
PAYMENT_OPERATION_RETENTION_DAYS = env.int("PAYMENT_OPERATION_RETENTION_DAYS", default=180)

# --- The payment guard (payment.guard) ------------------------------------------------
PAYMENT_GUARD = {
    # Bulkhead: gateway calls in flight per process; the next buyer is refused at once.
    # 10 per worker keeps a 600-900 ms gateway at ~12 purchases/s per worker without
    # letting a stalled gateway tie up every thread.
    "MAX_CONCURRENT": env.int("PAYMENT_GUARD_MAX_CONCURRENT", default=10),
    # Hystrix times out at 1 s; our reference gateway takes up to 0.9 s, so 2 s leaves
    # room for its tail and still answers long before a buyer gives up.
    "CALL_TIMEOUT": env.float("PAYMENT_GUARD_CALL_TIMEOUT", default=2.0),
    # A call slower than this counts as slow (resilience4j's slowCallDurationThreshold).
    "SLOW_CALL_SECONDS": env.float("PAYMENT_GUARD_SLOW_CALL_SECONDS", default=1.5),
    # 50 % failures opens, as in both resilience4j and Hystrix.
    "FAILURE_RATE": env.float("PAYMENT_GUARD_FAILURE_RATE", default=0.5),
    # resilience4j opens at 100 % slow calls; 80 % reacts before every buyer waits.
    "SLOW_CALL_RATE": env.float("PAYMENT_GUARD_SLOW_CALL_RATE", default=0.8),
    # Hystrix's request volume threshold (resilience4j's 100 is too many for a store
    # of our size to ever reach in a window).
    "MINIMUM_CALLS": env.int("PAYMENT_GUARD_MINIMUM_CALLS", default=20),
    # Hystrix's 10 s rolling window, in one-second buckets.
    "WINDOW_SECONDS": env.int("PAYMENT_GUARD_WINDOW_SECONDS", default=10),
    # Hystrix's 5 s sleep window (resilience4j's 60 s would turn buyers away too long).
    "OPEN_SECONDS": env.float("PAYMENT_GUARD_OPEN_SECONDS", default=5.0),
    # Trial calls when half-open (resilience4j: 10; a few suffice at our volume).
    "HALF_OPEN_CALLS": env.int("PAYMENT_GUARD_HALF_OPEN_CALLS", default=3),
}
