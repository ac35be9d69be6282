# Beacon: `make run` starts the whole platform, `make test` runs the whole suite.
# Both create .venv from requirements/ and start the embedded PostgreSQL, Redis and graph (Bolt) servers under .beacon/.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV := DJANGO_SETTINGS_MODULE=config.settings.local
TEST := DJANGO_SETTINGS_MODULE=config.settings.test

.PHONY: help install run test fuzz stop services status migrate shell superuser lint format schema lock clean

help:
	@echo "make run      - start web + worker + beat + Flower on the embedded services, with the demo (SEED=0: without)"
	@echo "make test     - run the whole test suite (ARGS='-k foo' to narrow)"
	@echo "make fuzz     - schemathesis against a running 'make run' (random seed; FUZZ_SEED, FUZZ_EXAMPLES, FUZZ_URL)"
	@echo "make stop     - stop the embedded PostgreSQL, Redis and graph (Bolt) servers"
	@echo "make migrate  - apply migrations     make shell - Django shell"
	@echo "make status   - embedded services    make lint  - ruff"
	@echo "make schema   - OpenAPI schema into schema.yml, failing on any warning (CI runs it)"
	@echo "make lock     - the image's hashed locks (requirements/lock/) from requirements/*.txt; needs uv"

$(STAMP): requirements/base.txt requirements/embeddings.txt requirements/prod.txt requirements/dev.txt requirements/test.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements/test.txt
	touch $(STAMP)

install: $(STAMP)

# SEED=0 (or BEACON_DEMO_SEED=0): start without seeding the demo content (apps/demo).
SEED ?= $(or $(BEACON_DEMO_SEED),1)
run: $(STAMP)
	BEACON_DEMO_SEED=$(SEED) $(DEV) $(BIN)/python manage.py devstack

# LANES pytest-xdist workers, one lane of tests each (apps/core/tests/lanes.py): 2 for the whole suite, none (0) when
# ARGS is set (a narrowed run), unless LANES says otherwise. At most 4 (each worker takes three Redis databases).
LANES ?= $(if $(ARGS),0,2)
test: $(STAMP)
	$(TEST) $(BIN)/python -m pytest -n $(LANES) $(ARGS)

# Outside CI (the suite's fuzz test keeps a fixed seed): every check, a random seed printed first,
# FUZZ_EXAMPLES per operation, as the owner of the dedicated 'fuzz' organization (manage.py fuzz_org).
FUZZ_URL ?= $(or $(BEACON_PUBLIC_URL),http://127.0.0.1:$(or $(BEACON_PORT),8000))
FUZZ_EXAMPLES ?= 100
# Under the server's per-user throttle (THROTTLE_USER, 1200/min), or most answers would be 429s.
FUZZ_RATE ?= 1000/m
fuzz: $(STAMP)
	@seed=$${FUZZ_SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}; \
	echo "make fuzz: seed $$seed, $(FUZZ_EXAMPLES) examples per operation, against $(FUZZ_URL)"; \
	exports="$$($(DEV) $(BIN)/python manage.py fuzz_org)" || exit 1; eval "$$exports"; \
	PYTHONPATH=. SCHEMATHESIS_HOOKS=apps.core.tests.fuzz_rules $(BIN)/schemathesis --config-file config/schemathesis.toml \
		run $(FUZZ_URL)/api/schema/ --checks all --exclude-checks positive_data_acceptance --seed $$seed \
		--max-examples $(FUZZ_EXAMPLES) --rate-limit $(FUZZ_RATE) --continue-on-failure --workers 2 \
		--report junit --report-dir .beacon/fuzz $(ARGS); \
	status=$$?; echo "make fuzz: seed $$seed (FUZZ_SEED=$$seed make fuzz replays it)"; exit $$status

services: $(STAMP)
	$(DEV) $(BIN)/python -c "import sys; sys.path.insert(0, '.'); from apps.core import embedded; print(embedded.postgres_ensure(), embedded.redis_ensure(), embedded.graph_ensure())"

stop: $(STAMP)
	$(BIN)/python -c "import sys; sys.path.insert(0, '.'); from apps.core import embedded; print(embedded.stop())"

status: $(STAMP)
	$(BIN)/python -c "import json, sys; sys.path.insert(0, '.'); from apps.core import embedded; print(json.dumps(embedded.status(), default=str, indent=2))"

migrate: $(STAMP)
	$(DEV) $(BIN)/python manage.py migrate

shell: $(STAMP)
	$(DEV) $(BIN)/python manage.py shell

superuser: $(STAMP)
	$(DEV) $(BIN)/python manage.py createsuperuser

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schema: $(STAMP)
	$(DEV) $(BIN)/python manage.py spectacular --validate --fail-on-warn --file schema.yml

# The production image installs these locks (every transitive pin with its hashes; Dockerfile, docs/operations.md).
# local-<arch>.txt: prod.txt (the local embedding model) with torch's CPU build from PyTorch's CPU wheel index, for
# CPython 3.11 on linux amd64 / arm64; openai.txt: base.txt only (no torch), any platform. Needs uv, which is no
# runtime dependency: `pip install uv==0.13.8` anywhere. TORCH_CPU_INDEX: where the CPU torch wheels are (a
# machine without that index can pass `--find-links DIR` holding the wheel; an arm64 lock needs the aarch64 wheel).
UV ?= uv
TORCH_CPU_INDEX ?= --extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match
LOCK_ARCHES ?= amd64 arm64
LOCK := $(UV) pip compile --quiet --generate-hashes --python-version 3.11 --custom-compile-command "make lock"
lock:
	$(LOCK) --universal requirements/base.txt -o requirements/lock/openai.txt
	for arch in $(LOCK_ARCHES); do \
		platform=$$( [ $$arch = arm64 ] && echo aarch64 || echo x86_64 )-manylinux_2_28; \
		$(LOCK) --python-platform $$platform $(TORCH_CPU_INDEX) requirements/prod.txt -o requirements/lock/local-$$arch.txt || exit 1; \
		! grep -q '^nvidia-' requirements/lock/local-$$arch.txt || { echo "local-$$arch.txt pulls CUDA: torch is not the CPU build"; exit 1; }; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
