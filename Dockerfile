# syntax=docker/dockerfile:1
# Beacon production image: config.settings.base + the real environment (see .env.example).
# Default command serves config.asgi with gunicorn and uvicorn workers on :8000 (SSE streams do not hold a thread each); docker-compose.yml reuses the image
# for the one-shot `migrate`, the Celery workers, beat and Flower by overriding the command.
#
# Build argument EMBEDDING_PROVIDER (docs/operations.md, "The image"):
#   local  (default) the bundled embedding model on torch's CPU build (no CUDA packages), linux amd64;
#          arm64 once requirements/lock/local-arm64.txt exists (`make lock` where PyTorch's CPU index is reachable)
#   openai no torch, sentence-transformers or model: embeddings from the OpenAI-compatible endpoint; amd64 and arm64
#   docker build --build-arg EMBEDDING_PROVIDER=openai -t beacon:openai .
FROM python:3.11-slim

ARG EMBEDDING_PROVIDER=local
# Set by BuildKit (amd64, arm64); the legacy builder leaves it empty: amd64.
ARG TARGETARCH

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.base \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    DJANGO_MEDIA_ROOT=/app/media \
    GUNICORN_WORKERS=3 \
    GUNICORN_TIMEOUT=60 \
    EMBEDDING_PROVIDER=${EMBEDDING_PROVIDER}

WORKDIR /app

# Unprivileged runtime user; the code and collected static files stay root-owned (read-only to it).
RUN groupadd --system --gid 10001 beacon \
 && useradd --system --uid 10001 --gid beacon --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin beacon

# Fonts for the vision boards' SVG -> PNG rendering (resvg reads system fonts; the slim image has none).
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

# Dependencies first, so code changes do not invalidate this layer. From the hashed lock only (`make lock`):
# every transitive pin with its hashes, --no-deps so nothing outside the lock comes in. torch (its CPU build,
# `+cpu`) comes from PyTorch's CPU wheel index alone, everything else from PyPI alone. The development-only
# packages (requirements/dev.txt: the embedded PostgreSQL, Redis and graph) are not in the lock.
COPY requirements/ requirements/
RUN set -eu; \
    case "$EMBEDDING_PROVIDER" in \
        local) lock="requirements/lock/local-${TARGETARCH:-amd64}.txt" ;; \
        openai) lock=requirements/lock/openai.txt ;; \
        *) echo "EMBEDDING_PROVIDER must be local or openai, not '$EMBEDDING_PROVIDER'" >&2; exit 1 ;; \
    esac; \
    test -f "$lock" || { echo "$lock is missing: run 'make lock' (docs/operations.md)" >&2; exit 1; }; \
    awk '/^[^ #]/ { keep = /^torch==/ } keep' "$lock" > /tmp/torch.txt; \
    awk '/^[^ #]/ { keep = !/^torch==/ } keep' "$lock" > /tmp/rest.txt; \
    if [ -s /tmp/torch.txt ]; then \
        pip install --no-cache-dir --no-deps --require-hashes \
            --index-url https://download.pytorch.org/whl/cpu -r /tmp/torch.txt; \
    fi; \
    pip install --no-cache-dir --no-deps --require-hashes -r /tmp/rest.txt; \
    pip check; \
    rm /tmp/torch.txt /tmp/rest.txt

COPY . .

# Static files are collected at build time. The secret/URLs below are dummies that exist only for
# this RUN step (nothing connects to them) and are not baked into the image's environment.
RUN DJANGO_SETTINGS_MODULE=config.settings.base \
    DJANGO_SECRET_KEY=build-only-dummy-secret-key-not-used-at-runtime \
    DATABASE_URL=postgres://build:build@127.0.0.1:5432/build \
    REDIS_URL=redis://127.0.0.1:6379/0 \
    python manage.py collectstatic --noinput

# Precompiled bytecode (the runtime user cannot write __pycache__ under /app); writable dirs for
# uploads (DJANGO_MEDIA_ROOT) and the Celery beat schedule. Named volumes mounted there inherit
# this ownership on first use.
RUN python -m compileall -q apps config workers manage.py \
 && mkdir -p /app/media /app/beat \
 && chown beacon:beacon /app/media /app/beat

USER 10001:10001

EXPOSE 8000

# /health/ is exempt from the HTTPS redirect. It answers 503 unless the database, Redis, the graph
# (when NEO4J_URI is set) and a Celery worker (HEALTH_REQUIRE_CELERY) respond. The Host header is
# the first DJANGO_ALLOWED_HOSTS entry, so the request is not rejected as a disallowed host.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request as r; h = (os.environ.get('DJANGO_ALLOWED_HOSTS') or '').split(',')[0].strip().lstrip('.'); h = 'localhost' if h in ('', '*') else h; r.urlopen(r.Request('http://127.0.0.1:8000/health/', headers={'Host': h}), timeout=8)" || exit 1

CMD ["sh", "-c", "exec gunicorn -c python:config.gunicorn config.asgi:application -k uvicorn_worker.UvicornWorker --bind 0.0.0.0:8000 --workers \"${GUNICORN_WORKERS:-3}\" --timeout \"${GUNICORN_TIMEOUT:-60}\" --worker-tmp-dir /dev/shm --access-logfile - --error-logfile -"]
