"""Settings for tastetest, read from the environment.

With no environment at all the project runs from a fresh clone: SQLite and a Celery broker in
an SQLite file, both under the git-ignored ``data/`` folder. Production sets DATABASE_URL,
CELERY_BROKER_URL, SECRET_KEY, ALLOWED_HOSTS and DEBUG=0; see the README for every variable.
"""

import json
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.sqlite_broker_url import ALIAS as SQLITE_BROKER
from config.sqlite_broker_url import broker_url as sqlite_broker_url

# LiteLLM downloads its price table at import unless told not to; this machine (and most
# production networks) must never depend on that.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# Nor fetch tokenizers or catalogs of its own: only a candidate's endpoint is ever called.
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("TASTETEST_DATA_DIR", BASE_DIR / "data"))
DATA_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=False)
_DEV_SECRET = "django-insecure-tastetest-development-only"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and env_bool("TASTETEST_REQUIRE_SECRET_KEY", default=False):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off in production")
    SECRET_KEY = _DEV_SECRET

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Production: DEBUG off and a real SECRET_KEY. Development and tests use neither.
PRODUCTION = not DEBUG and SECRET_KEY != _DEV_SECRET

# Behind TLS in production: cookies only over HTTPS, HSTS, redirect.
SECURE = env_bool("SECURE", default=PRODUCTION)
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = SECURE and env_bool("SECURE_SSL_REDIRECT", default=True)
# Load balancers probe over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000" if SECURE else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "evaluations",
    "raters",
    "research",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.content_security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "raters.signin_limits.SignInLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
            ],
        },
    },
]

_SQLITE_URL = f"sqlite:///{DATA_DIR / 'tastetest.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", _SQLITE_URL),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
# The voting path's long statements are prepared once per connection (raters/prepared_sql.py).
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the Celery worker write at once: WAL lets readers go on while one
    # writes, IMMEDIATE takes the write lock up front instead of failing mid-transaction.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
# Prompts' images and documents (evaluations/studies/prompt_media.py). They are never served
# from here directly: only through the study's authenticated view (raters/media_views.py). Any
# Django storage backend (an S3-compatible one through django-storages) can replace the default.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
STORAGES = {
    "default": {
        "BACKEND": os.environ.get(
            "MEDIA_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"
        )
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if not PRODUCTION
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

LOGIN_URL = "raters:login"
LOGIN_REDIRECT_URL = "raters:home"
LOGOUT_REDIRECT_URL = "raters:login"

# Uploads: prompt and output files are read whole and validated before anything is saved.
MAX_IMPORT_BYTES = int(os.environ.get("MAX_IMPORT_BYTES", str(20_000_000)))
# One image or document of a prompt (in a zip next to the JSONL, or a data URL).
MAX_MEDIA_BYTES = int(os.environ.get("MAX_MEDIA_BYTES", str(10_000_000)))
# Width times height of an image: beyond this it is refused, not decoded.
MAX_IMAGE_PIXELS = int(os.environ.get("MAX_IMAGE_PIXELS", str(40_000_000)))
# The reading-time threshold of a decisive vote (raters/reading_time.py): both answers' words
# at this generous speed, never below the minimum; a study may set its own minimum instead.
RATER_MIN_SECONDS_PER_VOTE = float(os.environ.get("RATER_MIN_SECONDS_PER_VOTE", "2"))
RATER_MAX_WORDS_PER_SECOND = float(os.environ.get("RATER_MAX_WORDS_PER_SECOND", "12"))
# Results of a study with more votes than this are computed by a Celery task, not in the
# request: the page shows the newest result, saying from when, meanwhile
# (research/results/snapshots.py).
RESULTS_INLINE_MAX_VOTES = int(os.environ.get("RESULTS_INLINE_MAX_VOTES", "20000"))
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Celery. Default broker: an SQLite file under data/ (config/sqlite_broker.py), which needs no
# server and, unlike kombu's filesystem transport, never lets a worker read a half-written message.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "") or sqlite_broker_url(
    DATA_DIR / "broker.sqlite3"
)
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {} if CELERY_BROKER_URL.startswith(SQLITE_BROKER) else {"visibility_timeout": 3600}
)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Batch generation (evaluations/generation/batches.py; the poll is batch_polling.py): Celery
# beat runs the poll; each open batch is asked for its state after BATCH_POLL_MIN_SECONDS,
# then twice as long each time, up to BATCH_POLL_MAX_SECONDS. Production runs one beat:
# `celery -A config beat`.
BATCH_POLL_MIN_SECONDS = float(os.environ.get("BATCH_POLL_MIN_SECONDS", "30"))
BATCH_POLL_MAX_SECONDS = float(os.environ.get("BATCH_POLL_MAX_SECONDS", "600"))
BATCH_POLL_EVERY_SECONDS = float(os.environ.get("BATCH_POLL_EVERY_SECONDS", "15"))
# The offline demo provider's batches finish after this long (providers/demo_batches.py).
DEMO_BATCH_SECONDS = float(os.environ.get("DEMO_BATCH_SECONDS", "20"))
CELERY_BEAT_SCHEDULE = {
    "batches-poll": {
        "task": "evaluations.tasks.batches_poll_task",
        "schedule": BATCH_POLL_EVERY_SECONDS,
    },
}

# Generation (evaluations/generation/runner.py). A batch task keeps all its outputs in flight
# at once, within each candidate's concurrency cap. A worker renews the claims it holds every
# GENERATION_HEARTBEAT_SECONDS; an output whose claim was not renewed for GENERATION_LEASE_SECONDS
# (its worker was killed) is taken over.
GENERATION_BATCH_SIZE = int(os.environ.get("GENERATION_BATCH_SIZE", "200"))
# Requests in flight per candidate per worker process, whatever the candidate's cap allows:
# several worker processes then share the cap without polling for it.
GENERATION_PROCESS_CONCURRENCY = int(os.environ.get("GENERATION_PROCESS_CONCURRENCY", "128"))
GENERATION_MAX_ATTEMPTS = int(os.environ.get("GENERATION_MAX_ATTEMPTS", "5"))
GENERATION_TIMEOUT_SECONDS = float(os.environ.get("GENERATION_TIMEOUT_SECONDS", "120"))
GENERATION_RETRY_BASE_SECONDS = float(os.environ.get("GENERATION_RETRY_BASE_SECONDS", "1"))
GENERATION_RETRY_MAX_SECONDS = float(os.environ.get("GENERATION_RETRY_MAX_SECONDS", "60"))
GENERATION_LEASE_SECONDS = float(os.environ.get("GENERATION_LEASE_SECONDS", "60"))
GENERATION_HEARTBEAT_SECONDS = float(
    os.environ.get("GENERATION_HEARTBEAT_SECONDS", str(min(15.0, GENERATION_LEASE_SECONDS / 4)))
)
# LLM judges' votes are not renewed: their lease outlasts a whole run of attempts.
JUDGING_LEASE_SECONDS = float(
    os.environ.get(
        "JUDGING_LEASE_SECONDS",
        str(
            GENERATION_MAX_ATTEMPTS * (GENERATION_TIMEOUT_SECONDS + GENERATION_RETRY_MAX_SECONDS)
            + 60
        ),
    )
)

# Cache: locmem by default; Redis when CACHE_URL is set (shared across gunicorn processes).
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL.startswith("redis"):
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
    # Sessions read from Redis, written through to the database: one query less on every
    # request. Only with a shared cache: a per-process one would keep a session another
    # process logged out.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "research.api.authentication.LimitedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "tastetest API",
    "DESCRIPTION": "Rankings, agreement, votes and outputs of blind LLM preference studies.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page serves Swagger UI from static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Studies and outputs both filter on a "status" of their own: name each set of choices.
    "ENUM_NAME_OVERRIDES": {
        "StudyStatusEnum": "evaluations.models.Study.Status",
        "OutputStatusEnum": "evaluations.models.Output.Status",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stdout"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"LiteLLM": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}

# Failed sign-ins (raters/signin_limits.py): per client address, per account, and how long a
# lock lasts. The client address is taken from X-Forwarded-For only when the request comes from
# one of these proxies: the same variable and default as gunicorn's forwarded_allow_ips.
FORWARDED_ALLOW_IPS = env_list("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
SIGNIN_FAILURES_PER_ADDRESS = int(os.environ.get("SIGNIN_FAILURES_PER_ADDRESS", "20"))
SIGNIN_FAILURES_PER_ACCOUNT = int(os.environ.get("SIGNIN_FAILURES_PER_ACCOUNT", "30"))
SIGNIN_LOCKOUT_SECONDS = int(os.environ.get("SIGNIN_LOCKOUT_SECONDS", "900"))

# Study demo: where `make run` says the app is.
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")

# Provider access (evaluations/providers/access.py, evaluations/providers/outbound.py): which
# environment variables may be sent to a provider as a key, the operator's named provider
# connections, and where the worker may send requests at all.
# Entries ending in "*" are prefixes. The default: the key variables of LiteLLM's providers.
PROVIDER_KEY_ENV_ALLOWLIST = env_list(
    "PROVIDER_KEY_ENV_ALLOWLIST",
    "OPENAI_API_KEY,ANTHROPIC_API_KEY,AZURE_API_KEY,AZURE_OPENAI_API_KEY,GEMINI_API_KEY,"
    "MISTRAL_API_KEY,CODESTRAL_API_KEY,COHERE_API_KEY,CO_API_KEY,GROQ_API_KEY,"
    "TOGETHERAI_API_KEY,TOGETHER_API_KEY,FIREWORKS_AI_API_KEY,FIREWORKS_API_KEY,"
    "DEEPSEEK_API_KEY,XAI_API_KEY,PERPLEXITYAI_API_KEY,PERPLEXITY_API_KEY,OPENROUTER_API_KEY,"
    "REPLICATE_API_KEY,HUGGINGFACE_API_KEY,HF_TOKEN,DEEPINFRA_API_KEY,CEREBRAS_API_KEY,"
    "NVIDIA_NIM_API_KEY,AI21_API_KEY,DATABRICKS_API_KEY,SAMBANOVA_API_KEY,CLOUDFLARE_API_KEY,"
    "NLP_CLOUD_API_KEY,ALEPH_ALPHA_API_KEY,PREDIBASE_API_KEY,WATSONX_APIKEY,FRIENDLIAI_API_KEY,"
    "MOONSHOT_API_KEY,DASHSCOPE_API_KEY,NOVITA_API_KEY,NEBIUS_API_KEY,HYPERBOLIC_API_KEY,"
    "LAMBDA_API_KEY,GITHUB_API_KEY,VOYAGE_API_KEY,TASTETEST_KEY_*",
)
# Named connections (api_base + key variable) researchers pick from, besides those a superuser
# adds in the admin: a JSON list of {"name", "api_base", "api_key_env", "users": [usernames]};
# without "users" a connection is available to everyone.
try:
    PROVIDER_CONNECTIONS = json.loads(os.environ.get("PROVIDER_CONNECTIONS", "") or "[]")
except json.JSONDecodeError as exc:
    raise ImproperlyConfigured(f"PROVIDER_CONNECTIONS is not valid JSON: {exc}") from None
if not isinstance(PROVIDER_CONNECTIONS, list) or not all(
    isinstance(item, dict) for item in PROVIDER_CONNECTIONS
):
    raise ImproperlyConfigured("PROVIDER_CONNECTIONS must be a JSON list of objects")
# A free api_base on a candidate or judge: superusers only, unless this allows it for everyone
# (and then no server key is ever sent to it).
ALLOW_CUSTOM_API_BASE = env_bool("ALLOW_CUSTOM_API_BASE", default=False)
# Host names, addresses or networks (CIDR) the worker may reach although they are not public
# (loopback, private, link-local). `make run` allows loopback; production allows none.
OUTBOUND_ALLOWED_HOSTS = env_list("OUTBOUND_ALLOWED_HOSTS")
OUTBOUND_ALLOW_PRIVATE = env_bool("OUTBOUND_ALLOW_PRIVATE", default=False)
