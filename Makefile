# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
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

.PHONY: setup demo test clean-data lint up down compose-env compose-check

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock -e .
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

test: setup $(CHROMIUM) $(COMPOSE_PLUGIN)
	$(BIN)/ruff check include plugins dags tests benchmarks scripts
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check include plugins dags tests benchmarks scripts

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
