# The image of every Airflow component in docker-compose.yaml: the project with exactly the
# pinned dependencies of requirements.lock (the same as `make setup`), installed with uv.
FROM python:3.11-slim-bookworm

ARG UV_VERSION=0.13.9
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AIRFLOW_HOME=/opt/airflow \
    WORKHEALTH_DATA_DIR=/data

# curl for the health checks, tini as PID 1 (forwards signals: Celery's warm shutdown).
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl tini \
 && rm -rf /var/lib/apt/lists/*

# Like the official Airflow image: user airflow (uid 50000), group 0, so an arbitrary
# AIRFLOW_UID with group 0 can write AIRFLOW_HOME too.
RUN useradd --uid 50000 --gid 0 --home-dir /opt/airflow --create-home airflow \
 && mkdir -p /data /opt/airflow/logs \
 && chown -R airflow:0 /data /opt/airflow && chmod -R g+rwX /data /opt/airflow

WORKDIR /opt/workhealth
# Dependencies first (cached layer), then the project itself, editable like `make setup`,
# so settings.REPO_ROOT finds dags/, plugins/ and dbt_project/ next to the package.
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
 && uv pip install --system --no-cache -r requirements.lock
COPY . .
RUN uv pip install --system --no-cache --no-deps -e . \
 && chown -R airflow:0 /opt/workhealth/dbt_project && chmod -R g+rwX /opt/workhealth/dbt_project

USER 50000
ENTRYPOINT ["/usr/bin/tini", "--", "airflow"]
CMD ["version"]
