"""Digit Lab settings, read from the environment through django-environ.

Every value has an embedded default that needs no server (SQLite, kombu's
filesystem broker, a local-memory cache), so a fresh clone runs with only
Python.  Production sets DATABASE_URL, CELERY_BROKER_URL, CACHE_URL and
SECRET_KEY; an unexpected value is an error, not a silent default.
"""

import ipaddress
import os
import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from webapp.quiet import logging_quiet, tensorflow_quiet
from webapp.s3 import S3UrlError, s3_storages

# TensorFlow is loaded lazily, but when it is, its start-up chatter stays out of the logs.
tensorflow_quiet()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def env_float(name: str, *, default: float) -> float:
    """A number as Python writes it.  django-environ's float() drops every
    letter first, so FINE_TUNE_LEARNING_RATE=1e-3 became "1-3" and failed."""
    raw = env.str(name, default="")
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None


VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# On by default: a fresh clone runs (and `manage.py` works) on the embedded
# defaults with a generated local key.  Production sets DEBUG=false and then
# must give SECRET_KEY (docker-compose does; `check --deploy` flags DEBUG on).
DEBUG = env.bool("DEBUG", default=True)


def _local_secret_key() -> str:
    """A key generated once into var/ for local runs; never committed."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (set DEBUG=true for a local run).")
    SECRET_KEY = _local_secret_key()

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "django_prometheus",
    "axes",
    "django_ratelimit",
    # Its templates and static files: /api/docs serves Swagger UI from here,
    # not from a CDN, so the docs work offline.
    "ninja",
    "digits",
    "models",
    "training",
]

MIDDLEWARE = [
    # First and last: latency per view and responses per status (/metrics).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "webapp.middleware.DatabaseUnavailableMiddleware",
    # Before anything reads the Host header (a scraper names an address).
    "webapp.metrics.InternalScrapeMiddleware",
    # Outside everything that may still change an answer's body.
    "webapp.middleware.JsonGzipMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its answer.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "webapp" / "templates"],
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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'digitlab.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "webapp.cache.RedisCache"  # the same, keeping its clients
# django-ratelimit's W001 only says our RedisCache (Django's, keeping clients) is not on its
# list; it is atomic (add + incr) and what production uses.
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]
if CACHES["default"]["BACKEND"].endswith("LocMemCache"):
    # One process on the embedded defaults: a per-process cache is enough for
    # the rate limits there; production sets CACHE_URL to Redis.
    SILENCED_SYSTEM_CHECKS.append("django_ratelimit.E003")

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses logins after too many failures
    "django.contrib.auth.backends.ModelBackend",
]
# Admin login against guessing: 5 failures for one username from one address
# lock it for an hour.
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env_float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "webapp.clients.client_address"  # behind the proxy, the client's own address
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# Reverse proxies whose X-Forwarded-For names the client (webapp/clients.py):
# their addresses or networks, or "*" where only proxies can reach the web
# processes (docker-compose's private network).  Empty: no proxy, the
# connecting address is the client.  gunicorn's forwarded_allow_ips follows.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1)  # proxies in front, each appending to the header
if TRUSTED_PROXY_COUNT < 1:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be at least 1")
for _proxy in TRUSTED_PROXIES:
    if _proxy != "*":
        try:
            ipaddress.ip_network(_proxy, strict=False)
        except ValueError as exc:
            raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_proxy!r} is not an address or network") from exc

# Rate limits (django-ratelimit, counted in the shared cache; webapp/ratelimits.py):
# per browser, and a ceiling per client address that many people may share.
# A person drawing sends up to about 10 predictions a second; 2000/s per
# address lets 200 people behind one NAT draw at once (and a benchmark reach
# 1500 req/s from loopback), while a script keeping one session is held to 20/s.
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
RATELIMIT_PREDICT = env.str("RATELIMIT_PREDICT", default="20/s")
RATELIMIT_PREDICT_ADDRESS = env.str("RATELIMIT_PREDICT_ADDRESS", default="2000/s")
RATELIMIT_SAMPLES = env.str("RATELIMIT_SAMPLES", default="60/m")
RATELIMIT_SAMPLES_ADDRESS = env.str("RATELIMIT_SAMPLES_ADDRESS", default="1200/m")
RATELIMIT_FAIL_OPEN = True  # Redis unreachable: serve rather than refuse everyone

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "webapp" / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"
ARTIFACT_ROOT = Path(env.str("ARTIFACT_ROOT", default=str(VAR_DIR / "artifacts")))

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "artifacts": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(ARTIFACT_ROOT)},
    },
    "staticfiles": {
        "BACKEND": "webapp.storage.StaticStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Drawings and model artifacts in an S3-compatible bucket instead of the
# folders above (django-storages; webapp/s3.py says what the URL holds).
S3_STORAGE_URL = env.str("S3_STORAGE_URL", default="")
if S3_STORAGE_URL:
    try:
        STORAGES.update(s3_storages(S3_STORAGE_URL))
    except S3UrlError as exc:
        raise ImproperlyConfigured(str(exc)) from exc

# --- Celery ---------------------------------------------------------------
# Unset broker: kombu's filesystem transport under var/, so a worker and beat
# run with no server installed.
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # Exchange tables (kombu writes them to ./control by default).
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

# --- Digit Lab --------------------------------------------------------------
MNIST_PATH = env.str("MNIST_PATH", default="")  # a keras-format mnist.npz, optional
MNIST_CACHE = VAR_DIR / "mnist.npz"
FOCUS_DIGITS = [int(d) for d in env.list("FOCUS_DIGITS", default=["7", "9"])]
if any(d not in range(10) for d in FOCUS_DIGITS):
    raise ImproperlyConfigured("FOCUS_DIGITS must be digits 0-9")
# How often a web process looks for a newly activated model version (seconds).
MODEL_POLL_SECONDS = env_float("MODEL_POLL_SECONDS", default=0.5)
# Threads of each LiteRT interpreter (one interpreter per web thread): one
# sample gains nothing from more, and a host runs several workers.
INFERENCE_THREADS = env.int("INFERENCE_THREADS", default=1)
TRAIN_INCLUDE_PENDING = env.bool("TRAIN_INCLUDE_PENDING", default=False)
# The drawing API refuses a request body over this size (413) and an image
# with more pixels than this, checked before its pixels are decoded.
DIGITS_MAX_BODY_BYTES = env.int("DIGITS_MAX_BODY_BYTES", default=512 * 1024)
DIGITS_MAX_PIXELS = env.int("DIGITS_MAX_PIXELS", default=1024 * 1024)
if DIGITS_MAX_BODY_BYTES < 1024 or DIGITS_MAX_PIXELS < 28 * 28:
    raise ImproperlyConfigured("DIGITS_MAX_BODY_BYTES must be at least 1024 and DIGITS_MAX_PIXELS at least 784")

# --- The first model (`make run` with an empty registry trains it in the worker) ---
# 0: the baseline recipe's (training.train.TrainConfig); tests train a small one in seconds.
BASELINE_EPOCHS = env.int("BASELINE_EPOCHS", default=0)
BASELINE_TRAIN_LIMIT = env.int("BASELINE_TRAIN_LIMIT", default=0)  # 0: all of MNIST train
BASELINE_TEST_LIMIT = env.int("BASELINE_TEST_LIMIT", default=0)  # 0: the whole MNIST test set
if min(BASELINE_EPOCHS, BASELINE_TRAIN_LIMIT, BASELINE_TEST_LIMIT) < 0:
    raise ImproperlyConfigured("BASELINE_EPOCHS, BASELINE_TRAIN_LIMIT and BASELINE_TEST_LIMIT must be 0 or more")

# --- Retraining (training/fine_tune.py, training/tasks.py) -----------------
# When it runs is a django-celery-beat schedule staff edit in the admin
# (nightly by default); these say how much data starts one and how it learns.
RETRAIN_THRESHOLD = env.int("RETRAIN_THRESHOLD", default=100)  # newly approved drawings that start a run
RETRAIN_HELDOUT_SHARE = env_float("RETRAIN_HELDOUT_SHARE", default=0.2)  # drawings kept for judging, by id
RETRAIN_TIME_LIMIT = env.int("RETRAIN_TIME_LIMIT", default=1800)  # seconds; the task is killed after this
FINE_TUNE_EPOCHS = env.int("FINE_TUNE_EPOCHS", default=3)
FINE_TUNE_BATCH_SIZE = env.int("FINE_TUNE_BATCH_SIZE", default=128)
FINE_TUNE_LEARNING_RATE = env_float("FINE_TUNE_LEARNING_RATE", default=3e-4)
FINE_TUNE_REHEARSAL = env.int("FINE_TUNE_REHEARSAL", default=12000)  # MNIST training images mixed in
FINE_TUNE_COLLECTED_SHARE = env_float("FINE_TUNE_COLLECTED_SHARE", default=0.18)  # drawings repeated up to this share
FINE_TUNE_FOCUS_OVERSAMPLE = env.int("FINE_TUNE_FOCUS_OVERSAMPLE", default=1)  # focus digits seen this many times
# Drawings one run learns from and is judged on, at most: a run's time does not
# grow with the collection (training.selectors.training_drawings_pick).
FINE_TUNE_MAX_DRAWINGS = env.int("FINE_TUNE_MAX_DRAWINGS", default=10000)
FINE_TUNE_MAX_HELDOUT = env.int("FINE_TUNE_MAX_HELDOUT", default=5000)
FINE_TUNE_TEST_LIMIT = env.int("FINE_TUNE_TEST_LIMIT", default=0)  # 0: the whole MNIST test set
# How far below the best MNIST validation accuracy of its lineage a candidate may be (0.15 points).
GATE_LINEAGE_TOLERANCE = env_float("GATE_LINEAGE_TOLERANCE", default=0.0015)
# How far below its parent's accuracy on one digit of MNIST validation a
# candidate may be (0.5 point, about 3 of 500 images), beside the per-digit
# McNemar test (training/gate.py).
GATE_PER_CLASS_FLOOR = env_float("GATE_PER_CLASS_FLOOR", default=0.005)
for _name in ("RETRAIN_HELDOUT_SHARE", "FINE_TUNE_COLLECTED_SHARE", "GATE_PER_CLASS_FLOOR"):
    if not 0 <= globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 0 and below 1")
for _name in (
    "RETRAIN_THRESHOLD",
    "RETRAIN_TIME_LIMIT",
    "FINE_TUNE_EPOCHS",
    "FINE_TUNE_BATCH_SIZE",
    "FINE_TUNE_MAX_DRAWINGS",
    "FINE_TUNE_MAX_HELDOUT",
):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1")
if FINE_TUNE_REHEARSAL < 0 or FINE_TUNE_FOCUS_OVERSAMPLE < 1 or FINE_TUNE_TEST_LIMIT < 0:
    raise ImproperlyConfigured("FINE_TUNE_REHEARSAL and FINE_TUNE_TEST_LIMIT must be >= 0, FOCUS_OVERSAMPLE >= 1")

# --- Triage of stored drawings (digits/triage.py, in the worker) --------------
# Auto-approval: off leaves every drawing to people (triage still records why).
TRIAGE_AUTO_APPROVE = env.bool("TRIAGE_AUTO_APPROVE", default=True)
# The upper 95% Clopper-Pearson bound on the error of what is auto-approved,
# measured on drawings people decided, that the thresholds must keep.
TRIAGE_MAX_ERROR_BOUND = env_float("TRIAGE_MAX_ERROR_BOUND", default=0.005)
TRIAGE_AUDIT_SHARE = env_float("TRIAGE_AUDIT_SHARE", default=0.02)  # auto-decided drawings sent to people anyway
TRIAGE_SUPPORT = env.int("TRIAGE_SUPPORT", default=3)  # other trusted contributors whose similar drawings agree
TRIAGE_BATCH = env.int("TRIAGE_BATCH", default=500)  # drawings a triage task decides at a time
# No contributor supplies more than this share of a fine-tune's drawings
# that no person decided (training.selectors.training_drawings_pick).
CONTRIBUTOR_MAX_SHARE = env_float("CONTRIBUTOR_MAX_SHARE", default=0.02)
for _name in ("TRIAGE_MAX_ERROR_BOUND", "TRIAGE_AUDIT_SHARE", "CONTRIBUTOR_MAX_SHARE"):
    if not 0 <= globals()[_name] <= 1:
        raise ImproperlyConfigured(f"{_name} must be between 0 and 1")
if TRIAGE_SUPPORT < 1 or TRIAGE_BATCH < 1:
    raise ImproperlyConfigured("TRIAGE_SUPPORT and TRIAGE_BATCH must be at least 1")

# --- People's data -----------------------------------------------------------
# The original image of a drawing rejected this many days ago is deleted by a
# daily task (its row, 28x28 array and counts stay); 0 keeps them for ever.
REJECTED_IMAGE_RETENTION_DAYS = env.int("REJECTED_IMAGE_RETENTION_DAYS", default=30)
if REJECTED_IMAGE_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("REJECTED_IMAGE_RETENTION_DAYS must be 0 (keep) or more")

# --- Metrics (webapp/metrics.py) --------------------------------------------
# /metrics answers requests from these networks that did not come through a
# proxy (Prometheus on the internal network), and logged-in staff; nobody else.
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])
# A folder shared by the processes of one host (gunicorn's workers), emptied at
# start: /metrics then sums them all.  Unset: each process reports its own.
METRICS_DIR = env.str("METRICS_DIR", default="")
if METRICS_DIR:
    Path(METRICS_DIR).mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = METRICS_DIR  # prometheus_client reads it there
# host:port a Celery worker serves its metrics on (internal address only); empty: off.
WORKER_METRICS_BIND = env.str("WORKER_METRICS_BIND", default="")

# --- Security -------------------------------------------------------------
# HTTPS=true when served behind TLS (a proxy terminating it sets
# X-Forwarded-Proto): secure cookies, HSTS and the HTTP->HTTPS redirect.
HTTPS = env.bool("HTTPS", default=False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# The code's git revision where there is no .git (the Docker build passes it).
GIT_REVISION = env.str("GIT_REVISION", default="")

# --- gunicorn (webapp/gunicorn.conf.py reads these) -------------------------
GUNICORN_BIND = env.str("GUNICORN_BIND", default="0.0.0.0:8000")
WEB_CONCURRENCY = env.int("WEB_CONCURRENCY", default=2)  # worker processes
GUNICORN_THREADS = env.int("GUNICORN_THREADS", default=1)  # more than 1: gthread workers
GUNICORN_ACCESSLOG = env.str("GUNICORN_ACCESSLOG", default="") or None  # "-" logs requests to stdout
WARM_MODEL_ON_START = env.bool("WARM_MODEL_ON_START", default=True)  # load the model before the first request

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
LOGGING = logging_quiet(LOGGING, broker_url=CELERY_BROKER_URL)
