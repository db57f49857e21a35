"""The multi-machine deployment files: docker-compose.yaml, Dockerfile, .env.example and the
secret generator, checked by a real ``docker compose config`` (Compose v2; it needs no daemon) and
against the Compose Specification's schema."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cluster import REPO

COMPOSE = REPO / "docker-compose.yaml"
SECRETS = ("POSTGRES_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY")
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker",
                    "airflow-triggerer", "airflow-init")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture
def env_file(tmp_path):
    out = tmp_path / ".env"
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "compose_env.py"), "--output", str(out),
                           "--shared-dir", str(tmp_path / "shared")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


def parse_env(path) -> dict[str, str]:
    pairs = (ln.split("=", 1) for ln in path.read_text().splitlines() if "=" in ln and not ln.startswith("#"))
    return {k.strip(): v.strip().strip('"') for k, v in pairs}


def test_reference_services_and_scalable_workers(compose):
    services = compose["services"]
    assert {"postgres", "redis", *AIRFLOW_SERVICES} <= set(services)
    commands = {name: services[name].get("command") for name in AIRFLOW_SERVICES}
    assert commands["airflow-worker"] == "celery worker" and commands["airflow-scheduler"] == "scheduler"
    assert commands["airflow-apiserver"] == "api-server" and commands["airflow-dag-processor"] == "dag-processor"
    worker = services["airflow-worker"]
    # --scale airflow-worker=N needs no fixed container name and no published host port.
    assert "container_name" not in worker and "ports" not in worker
    common = services["airflow-scheduler"]["environment"]
    assert common["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert common["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert common["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:") or "@redis:6379" in \
        common["AIRFLOW__CELERY__BROKER_URL"]
    assert common["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    for name in ("airflow-scheduler", "airflow-worker", "airflow-apiserver"):
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    init = "\n".join(services["airflow-init"]["command"])
    assert "db migrate" in init and "pools set duckdb_warehouse 1" in init


def test_shared_volumes_for_inbox_warehouse_and_releases(compose):
    worker_mounts = {v.split(":")[1] for v in compose["services"]["airflow-worker"]["volumes"]}
    assert {"/data/inbox", "/data/warehouse", "/data/out"} <= worker_mounts
    env = compose["services"]["airflow-worker"]["environment"]
    assert env["WORKHEALTH_WAREHOUSE"].startswith("/data/warehouse/")
    assert env["WORKHEALTH_INBOX"] == "/data/inbox" and env["WORKHEALTH_OUT"] == "/data/out"
    for name in ("inbox", "warehouse", "out"):
        assert "WORKHEALTH_SHARED_DIR" in compose["volumes"][name]["driver_opts"]["device"]


def test_no_secret_in_the_repository(compose):
    text = COMPOSE.read_text()
    for name in SECRETS:
        assert re.search(r"\$\{" + name + r":\?", text), f"{name} must come from .env (required)"
    example = parse_env(REPO / ".env.example")
    assert all(example[name] == "" for name in SECRETS), "secrets in .env.example must be empty"
    referenced = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", text))  # $${X}: escaped, for the container
    assert referenced <= set(example), f"undocumented in .env.example: {referenced - set(example)}"
    ignored = (REPO / ".gitignore").read_text().split()
    assert ".env" in ignored and "data/" in ignored


def test_dockerfile_installs_the_locked_dependencies():
    text = (REPO / "Dockerfile").read_text()
    assert "requirements.lock" in text and re.search(r"uv pip install .*-r requirements.lock", text)
    assert re.search(r"uv pip install .*-e \.", text)
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".env", ".venv", "data"} <= set(ignored)


def test_compose_env_generates_fresh_valid_secrets(env_file, tmp_path):
    from cryptography.fernet import Fernet

    first = parse_env(env_file)
    assert all(len(first[name]) >= 32 for name in SECRETS), first
    Fernet(first["AIRFLOW_FERNET_KEY"].encode())  # a valid Fernet key
    assert (tmp_path / "shared" / "warehouse").is_dir() and first["WORKHEALTH_SHARED_DIR"] == str(tmp_path / "shared")
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    again = subprocess.run([sys.executable, str(REPO / "scripts" / "compose_env.py"), "--output", str(env_file)],
                           capture_output=True, text=True)
    assert again.returncode == 1 and "keeping its secrets" in again.stderr
    subprocess.run([sys.executable, str(REPO / "scripts" / "compose_env.py"), "--output", str(env_file),
                    "--shared-dir", str(tmp_path / "shared"), "--force"], check=True, capture_output=True)
    second = parse_env(env_file)
    assert all(first[name] != second[name] for name in SECRETS), "every run generates new secrets"


# `make test` puts the Compose v2 plugin, pinned, into the virtualenv (scripts/fetch_compose_plugin.py)
# because Debian bookworm packages only v1; a docker CLI that has its own plugin is used as is.
PROJECT_PLUGIN = Path(sys.prefix) / "libexec" / "docker" / "cli-plugins" / "docker-compose"


@pytest.fixture(scope="module")
def docker_compose(tmp_path_factory) -> tuple[list[str], dict[str, str]]:
    """The `docker compose` command line and its environment; no Docker engine is needed."""
    env = dict(os.environ)
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"], env
    if not PROJECT_PLUGIN.is_file():
        pytest.skip(f"no docker compose v2: the docker CLI has no compose plugin and {PROJECT_PLUGIN} is "
                    "missing (`make test` fetches it)")
    if docker is None:  # the plugin binary also runs standalone, as `docker-compose`
        return [str(PROJECT_PLUGIN)], env
    config = tmp_path_factory.mktemp("docker-config")
    (config / "cli-plugins").mkdir()
    (config / "cli-plugins" / "docker-compose").symlink_to(PROJECT_PLUGIN)
    env["DOCKER_CONFIG"] = str(config)
    return [docker, "compose"], env


def compose_config(docker_compose, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command, default_env = docker_compose
    return subprocess.run([*command, *args, "-f", str(COMPOSE), "config", "--format", "json"],
                          capture_output=True, text=True, cwd=REPO, env=env or default_env)


def test_docker_compose_config(docker_compose, env_file):
    done = compose_config(docker_compose, "--env-file", str(env_file))
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)
    assert {"postgres", "redis", *AIRFLOW_SERVICES} == set(config["services"])
    secrets = parse_env(env_file)
    for name in AIRFLOW_SERVICES:
        env = config["services"][name]["environment"]
        assert env["AIRFLOW__CORE__FERNET_KEY"] == secrets["AIRFLOW_FERNET_KEY"]
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == secrets["AIRFLOW_JWT_SECRET"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    worker = config["services"]["airflow-worker"]
    # `--scale airflow-worker=N` needs workers without a fixed name or host port
    assert "container_name" not in worker and not worker.get("ports")
    mounts = {v["target"]: v["source"] for v in worker["volumes"]}
    assert {"/data/inbox", "/data/warehouse", "/data/out"} <= set(mounts)
    # the named volumes resolve to the shared folder the env file names (bind, or NFS on many machines)
    shared = parse_env(env_file)["WORKHEALTH_SHARED_DIR"]
    assert config["volumes"][mounts["/data/warehouse"]]["driver_opts"]["device"] == f"{shared}/warehouse"


def test_docker_compose_config_with_every_profile(docker_compose, env_file):
    done = compose_config(docker_compose, "--env-file", str(env_file), "--profile", "*")
    assert done.returncode == 0, done.stderr
    assert {"flower", "airflow-cli"} <= set(json.loads(done.stdout)["services"])


def test_docker_compose_config_refuses_a_missing_secret(docker_compose, env_file, tmp_path):
    """Without `make compose-env`, compose stops with the variable's name and the remedy."""
    empty = tmp_path / "empty.env"
    empty.write_text("".join(ln + "\n" for ln in env_file.read_text().splitlines()
                             if not ln.startswith("AIRFLOW_FERNET_KEY=")))
    env = {k: v for k, v in docker_compose[1].items() if k not in SECRETS}
    done = compose_config(docker_compose, "--env-file", str(empty), env=env)
    assert done.returncode != 0
    assert "AIRFLOW_FERNET_KEY" in done.stderr and "make compose-env" in done.stderr


# The Compose Specification's JSON schema, vendored from compose-spec/compose-spec
# (schema/compose-spec.json at 170098ba07d9, 2026-06-23): `docker compose config` validates
# against this schema too, so the file is checked even where the compose plugin is missing.
COMPOSE_SCHEMA = Path(__file__).with_name("compose-spec.json")


def test_compose_file_matches_the_compose_specification_schema():
    import jsonschema

    validator = jsonschema.Draft7Validator(json.loads(COMPOSE_SCHEMA.read_text()))
    document = yaml.safe_load(COMPOSE.read_text())
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == []
    assert {"postgres", "redis", *AIRFLOW_SERVICES} <= set(document["services"])
    # the schema refuses what compose would refuse, e.g. a misspelt service key
    broken = {**document, "services": {**document["services"], "redis": {**document["services"]["redis"],
                                                                          "imagee": "x"}}}
    assert any("imagee" in e.message for e in validator.iter_errors(broken))
