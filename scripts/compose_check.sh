#!/usr/bin/env bash
# On-demand check of the multi-machine deployment on a machine without a Docker Engine:
# builds the project's image from the Dockerfile, brings docker-compose.yaml up with the real
# `docker compose` (v2) talking to Podman's Docker-compatible API, scales the Celery workers,
# drops a generated inbox into the shared folder and waits until ingest, build, validate and
# publish have produced a release, then checks that the work spread over the workers and that
# no two warehouse tasks overlapped. Not part of `make test` (root, apt, ~4 min, ~4 GB kept in
# $WORK for the next run).
#
#   sudo scripts/compose_check.sh            # WORKERS=2 KEEP=1 (leave the stack up) are optional
#
# Needs: Debian (apt), root, `make setup` done (the venv's docker compose plugin is fetched
# here if missing) and the docker CLI. Where Docker Hub cannot be reached, the three base
# images are replaced by stand-ins built from Debian bookworm packages (debootstrap):
# python:3.11-slim-bookworm (Debian's python3 3.11 with pip), postgres:16 (Debian's PostgreSQL
# 15 behind an entrypoint honouring POSTGRES_USER/PASSWORD/DB) and redis:7.2-bookworm
# (Debian's Redis 7.0). Everything else is the repository's own files, unchanged.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/var/tmp/workhealth-compose-check}
WORKERS=${WORKERS:-2}
PROJECT=workhealth-check
TIMEOUT=${TIMEOUT:-1200}
PLUGIN=$REPO/.venv/libexec/docker/cli-plugins/docker-compose
START=$(date +%s)

say() { printf '[compose-check %4ss] %s\n' "$(($(date +%s) - START))" "$*"; }
die() { say "FAILED: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (apt, podman)"
command -v docker >/dev/null || die "no docker CLI on PATH"
[ -x "$REPO/.venv/bin/python" ] || die "run make setup first"
[ -x "$PLUGIN" ] || "$REPO/.venv/bin/python" "$REPO/scripts/fetch_compose_plugin.py" --dest "$PLUGIN"

say "installing podman and friends from Debian's packages"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  podman buildah runc debootstrap containernetworking-plugins \
  golang-github-containernetworking-plugin-dnsname dnsmasq-base >/dev/null

mkdir -p "$WORK/docker/cli-plugins" "$WORK/shared"
ln -sf "$PLUGIN" "$WORK/docker/cli-plugins/docker-compose"
# Podman's own configuration for this check only: runc (crun refuses hybrid cgroups), limits
# below Podman's defaults (raising a limit needs CAP_SYS_RESOURCE), overlay storage.
lower() { [ "$1" = unlimited ] && echo "$2" || echo $(( $1 < $2 ? $1 : $2 )); }
NOFILE=$(lower "$(ulimit -Hn)" 16384) NPROC=$(lower "$(ulimit -Hu)" 8192)
cat > "$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$NOFILE:$NOFILE", "nproc=$NPROC:$NPROC"]
log_driver = "k8s-file"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
cat > "$WORK/storage.conf" <<EOF
[storage]
driver = "overlay"
runroot = "$WORK/run"
graphroot = "$WORK/storage"
EOF
export CONTAINERS_CONF=$WORK/containers.conf CONTAINERS_STORAGE_CONF=$WORK/storage.conf
export DOCKER_CONFIG=$WORK/docker DOCKER_HOST=unix://$WORK/podman.sock
compose() { docker compose -p "$PROJECT" --env-file "$WORK/.env" -f "$REPO/docker-compose.yaml" "$@"; }

# --- base images: the real ones, or stand-ins from Debian's packages ------------------------
debian_rootfs() {  # $1 target folder, $2.. packages
  local target=$1; shift
  [ -d "$WORK/rootfs-base" ] || debootstrap --variant=minbase bookworm "$WORK/rootfs-base" \
    http://deb.debian.org/debian >/dev/null
  rm -rf "$target"; cp -a "$WORK/rootfs-base" "$target"
  cp /etc/resolv.conf "$target/etc/resolv.conf"
  mkdir -p "$target/usr/local/share/ca-certificates"
  # a TLS-intercepting proxy's CA (if this machine has one) must be trusted inside too
  cp /usr/local/share/ca-certificates/*.crt "$target/usr/local/share/ca-certificates/" 2>/dev/null || true
  chroot "$target" /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends ca-certificates $* >/dev/null 2>&1 && \
    update-ca-certificates >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*"
  rm -f "$target/etc/resolv.conf"
}

if podman pull -q docker.io/library/python:3.11-slim-bookworm docker.io/library/postgres:16 \
     docker.io/library/redis:7.2-bookworm >/dev/null 2>&1; then
  say "base images pulled from Docker Hub"
else
  say "Docker Hub unreachable: building stand-in base images from Debian bookworm"
  debian_rootfs "$WORK/rootfs-python" python3 python3-pip
  rm -f "$WORK"/rootfs-python/usr/lib/python3.*/EXTERNALLY-MANAGED
  ln -sf /usr/bin/python3 "$WORK/rootfs-python/usr/local/bin/python3"
  ln -sf /usr/bin/python3 "$WORK/rootfs-python/usr/local/bin/python"
  ln -sf /usr/bin/pip3 "$WORK/rootfs-python/usr/local/bin/pip"
  tar -C "$WORK/rootfs-python" -c . | podman import -q \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["python3"]' - docker.io/library/python:3.11-slim-bookworm >/dev/null

  debian_rootfs "$WORK/rootfs-services" postgresql-15 redis-server
  cat > "$WORK/rootfs-services/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/bash
# Stand-in for the postgres image's entrypoint: initialise from POSTGRES_USER/PASSWORD/DB once.
set -e
export PGDATA=${PGDATA:-/var/lib/postgresql/data}
BIN=/usr/lib/postgresql/15/bin
mkdir -p "$PGDATA" /run/postgresql && chown -R postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "$POSTGRES_PASSWORD" > /tmp/pwfile && chown postgres /tmp/pwfile
  su postgres -c "$BIN/initdb -D $PGDATA -U $POSTGRES_USER --pwfile=/tmp/pwfile --encoding=UTF8 \
    --locale=C.UTF-8 --auth-host=scram-sha-256 --auth-local=trust" >/dev/null
  rm /tmp/pwfile
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  su postgres -c "$BIN/pg_ctl -D $PGDATA -o '-c listen_addresses=' -w start" >/dev/null
  [ "$POSTGRES_DB" = postgres ] || su postgres -c "$BIN/psql -U $POSTGRES_USER -d postgres -c 'CREATE DATABASE \"$POSTGRES_DB\"'"
  su postgres -c "$BIN/pg_ctl -D $PGDATA -m fast -w stop" >/dev/null
fi
exec su postgres -c "exec $BIN/postgres -D $PGDATA -c listen_addresses='*'"
EOF
  chmod +x "$WORK/rootfs-services/usr/local/bin/docker-entrypoint.sh"
  tar -C "$WORK/rootfs-services" -c . | podman import -q \
    --change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' - docker.io/library/postgres:16 >/dev/null
  tar -C "$WORK/rootfs-services" -c . | podman import -q \
    --change 'CMD ["redis-server", "--protected-mode", "no", "--bind", "0.0.0.0", "--save", ""]' \
    - docker.io/library/redis:7.2-bookworm >/dev/null
fi

# --- the project's image, from the Dockerfile ----------------------------------------------
say "building the project's image from the Dockerfile"
podman build -q --pull=never --network host --isolation chroot \
  --ulimit "nofile=$NOFILE:$NOFILE" --ulimit "nproc=$NPROC:$NPROC" \
  -t docker.io/library/workhealth-airflow:latest "$REPO" >"$WORK/build.log" 2>&1 \
  || { tail -20 "$WORK/build.log"; die "image build failed (log: $WORK/build.log)"; }
say "image built: $(podman image inspect docker.io/library/workhealth-airflow:latest --format '{{.Size}}') bytes"

# --- the stack -------------------------------------------------------------------------------
podman system service --time=0 "$DOCKER_HOST" >"$WORK/podman-service.log" 2>&1 &
SERVICE=$!
# Podman schedules health checks with systemd timers; without systemd, run them here.
( while sleep 5; do for c in $(podman ps -q); do podman healthcheck run "$c" >/dev/null 2>&1 || true; done; done ) &
HEALTH=$!
cleanup() {
  if [ "${KEEP:-0}" != 1 ]; then compose down -v >/dev/null 2>&1 || true; fi
  kill "$HEALTH" 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] || kill "$SERVICE" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 30); do docker version >/dev/null 2>&1 && break; sleep 1; done

rm -rf "$WORK/shared" "$WORK/.env"
python3 "$REPO/scripts/compose_env.py" --output "$WORK/.env" --shared-dir "$WORK/shared" >/dev/null
compose config --quiet
say "docker compose up --scale airflow-worker=$WORKERS"
compose up -d --no-build --scale "airflow-worker=$WORKERS" --wait --wait-timeout 600 >"$WORK/up.log" 2>&1 \
  || { tail -20 "$WORK/up.log"; compose ps -a; die "the stack did not become healthy"; }
compose ps --format 'table {{.Name}}\t{{.Status}}'
nodes=$(compose exec -T airflow-worker celery --app airflow.providers.celery.executors.celery_executor.app \
  inspect ping 2>/dev/null | grep -c ': OK' || true)
[ "$nodes" = "$WORKERS" ] || die "$nodes Celery workers answer, expected $WORKERS"
say "$nodes Celery workers answer"

say "generating deliveries into the shared inbox and triggering ingest_deliveries"
compose exec -T airflow-worker workhealth generate --scale 0.01 --start 2018-01 --end 2018-06 >/dev/null
compose exec -T airflow-scheduler airflow dags trigger ingest_deliveries >/dev/null 2>&1

psql_meta() { compose exec -T postgres psql -U airflow -d airflow -Atc "$1"; }
deadline=$(($(date +%s) + TIMEOUT))
until [ -e "$WORK/shared/out/releases/latest" ] && \
      [ "$(psql_meta "select count(*) from dag_run where state in ('queued','running')")" = 0 ]; do
  failed=$(psql_meta "select dag_id || ' ' || run_id from dag_run where state = 'failed'")
  [ -z "$failed" ] || die "DAG run failed: $failed"
  [ "$(date +%s)" -lt "$deadline" ] || die "no release after ${TIMEOUT}s"
  sleep 10
done
psql_meta "select dag_id, state, count(*) from dag_run group by 1, 2 order by 1"
hosts=$(psql_meta "select string_agg(n || ' on ' || hostname, ', ') from (select hostname, count(*) n
  from task_instance where state = 'success' group by 1 order by 1) t")
overlap=$(psql_meta "select count(*) from task_instance a join task_instance b on a.id < b.id
  where a.pool = 'duckdb_warehouse' and b.pool = 'duckdb_warehouse'
    and a.start_date < b.end_date and b.start_date < a.end_date")
[ "$overlap" = 0 ] || die "$overlap pairs of warehouse tasks overlapped"
say "release $(readlink "$WORK/shared/out/releases/latest"); tasks: $hosts; warehouse tasks never overlapped"
say "OK"
