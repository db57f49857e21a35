# The commands of the README: `make demo`, `make test` and `make check`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
# Demo size: 1 % of national volume over four years (Raskere tilbake and Helse og arbeid eras).
DEMO_SCALE ?= 0.01
DEMO_START ?= 2016-01
DEMO_END ?= 2019-12
PYTEST_ARGS ?=
CHROMIUM ?= /usr/bin/chromium
# Docker Compose v2 plugin for the `docker compose config` test (project-local, pinned).
COMPOSE_PLUGIN := $(VENV)/libexec/docker/cli-plugins/docker-compose
# root runs apt itself; anyone else through sudo
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup demo test check clean-data lint up down compose-env compose-check

setup: $(VENV)/.installed

# --compile-bytecode: every Airflow task, dbt and GX run is a new Python process, and where
# PYTHONDONTWRITEBYTECODE is set (as on our CI machines) nothing is ever cached: without the
# bytecode each process compiled its imports from source (a quality run spent 5 s of 23 s in
# compile(); dbt's start-up 2.7 s instead of 1.5 s).
$(VENV)/.installed: pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock -e .
	$(BIN)/python -m compileall -q -j 0 include plugins dags >/dev/null
	@touch $@

# The report tests drive Debian's Chromium headless (through playwright, which never downloads
# a browser here). Installed once from Debian's packages; needs root or sudo.
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "install Chromium ($(CHROMIUM)) for the report tests" >&2; exit 1; }
	$(SUDO) apt-get install -y --no-install-recommends chromium >/dev/null \
	  || { $(SUDO) apt-get update >/dev/null && \
	       $(SUDO) apt-get install -y --no-install-recommends chromium >/dev/null; }

# Debian bookworm has only Compose v1; the v2 plugin comes pinned from Debian trixie's archive
# into the virtualenv (scripts/fetch_compose_plugin.py). No Docker engine is needed to run
# `docker compose config`.
$(COMPOSE_PLUGIN): scripts/fetch_compose_plugin.py | setup
	$(BIN)/python scripts/fetch_compose_plugin.py --dest $@

# Generate a synthetic inbox, run every pipeline DAG through Airflow (SQLite metadata, DuckDB
# warehouse, local folders under data/), then print where the results are.
demo: setup
	$(BIN)/workhealth generate --scale $(DEMO_SCALE) --start $(DEMO_START) --end $(DEMO_END)
	$(BIN)/workhealth airflow-run
	$(BIN)/workhealth deliveries | tail -n 5

# Two pytest workers (this is sized for 2 cores); a test file stays on one worker so its module
# fixtures are built once, and the pipelines several folders share are built once per run
# (tests/shared_fixtures.py). Files go out in the order tests/conftest.py sorts them (longest
# first), not xdist's default (most tests first). PYTEST_WORKERS=0 runs serially.
PYTEST_WORKERS ?= 2
PYTEST_XDIST = $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder)

# The full suite (what CI runs): lint, then every test, the slow ones included.
test: lint $(CHROMIUM) $(COMPOSE_PLUGIN)
	$(BIN)/python -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

# The fast loop: lint, then every test not marked slow (unit tests, dbt's unit tests on an
# empty build, the DagBag); no pipeline, Airflow run or browser.
check: lint
	$(BIN)/python -m pytest $(PYTEST_XDIST) -m "not slow" $(PYTEST_ARGS)

# ruff, then sqlfluff over the dbt project (.sqlfluff; scripts/sqlfluff_dbt.py keeps the dbt
# templater off the real warehouse and dbt_project/target). Macros are linted where they are used.
lint: setup
	$(BIN)/ruff check include plugins dags tests benchmarks scripts
	$(BIN)/python scripts/sqlfluff_dbt.py lint dbt_project/models dbt_project/tests

# Airflow on this machine in the background (UI on http://localhost:$(UI_PORT), SQLite metadata),
# DAGs unpaused, inbox polled every minute; `make down` stops it. docs/operations.md.
UI_PORT ?= 8080
up: setup
	$(BIN)/workhealth up --port $(UI_PORT)

down:
	$(BIN)/workhealth down

# Writes .env for docker-compose.yaml with freshly generated secrets (never committed).
compose-env:
	python3 scripts/compose_env.py

# On demand: the compose deployment for real without a Docker Engine (Podman; root, ~4 min):
# image from the Dockerfile, two Celery workers, a generated inbox through to a release.
compose-check: setup $(COMPOSE_PLUGIN)
	$(SUDO) scripts/compose_check.sh

# Removes generated data (inbox, warehouse, archive, Airflow home) under data/.
clean-data:
	rm -rf data/
