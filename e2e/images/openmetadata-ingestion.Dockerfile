# A test ingestion image built like OpenMetadata's own (ingestion/operators/docker/Dockerfile in
# open-metadata/OpenMetadata), for the kind tier of the e2e suite (never pushed anywhere):
#   docker build --build-arg PYTHON_IMAGE=... \
#     -f e2e/images/openmetadata-ingestion.Dockerfile -t hybrid-runner-e2e/openmetadata-ingestion:e2e .
# Built from the repository root: the repo's allow-list .dockerignore lets in
# e2e/images/openmetadata/ only. No BuildKit-only syntax: the legacy builder builds it.
#
# The contract it shares with OpenMetadata's image, which is what the runner's pods must work with:
#   - a NAMED user `openmetadata` (uid 1000, gid 1000) and a final `USER openmetadata`: with
#     `runAsNonRoot` and no numeric `runAsUser` the kubelet refuses to start it;
#   - HOME=/home/openmetadata, and the Python packages installed by that user into ~/.local
#     (OpenMetadata's pip steps run after `USER openmetadata`, so pip installs into the user
#     site): a pod that changes HOME or mounts a volume over it loses them;
#   - WORKDIR /ingestion, writable by the user, with `python main.py` (pipelines) and
#     `python run_automation.py` (test connection and other automations).
# The entrypoints are the project's own small scripts (e2e/images/openmetadata/): they parse
# `config` with OpenMetadata's models, build OpenMetadata's secrets manager from the provider and
# loader in it, resolve the connection's `secret:` password with OpenMetadata's secret type and
# print its digest; they stop where OpenMetadata's would call the server.

ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN groupadd -g 1000 openmetadata \
 && useradd -m -u 1000 -g 1000 openmetadata \
 && mkdir /ingestion \
 && chown openmetadata:openmetadata /ingestion
ENV HOME=/home/openmetadata \
    PATH=/home/openmetadata/.local/bin:${PATH}
USER openmetadata
WORKDIR /ingestion

# openmetadata-ingestion 2.0.7.0 with only what its secrets code path and models import. The list
# is e2e/images/openmetadata/requirements/, one file per pip step, each saying what it holds and
# why; the resolver tier (e2e/resolver_tier/openmetadata_venv.py) installs the same files the same way.
# Its full dependency set cannot install here: collate-data-diff -> dbt-core ->
# dbt-core-experimental-parser downloads a wheel from GitHub at build time. So: step 1 without
# dependencies (openmetadata-ingestion, collate-data-diff), then what importing the workflow and
# automations models and the secrets manager factory needs, then collate-sqllineage, then the
# stores' SDKs. Left out: the connectors' drivers (pymysql, ...), dbt, airflow and everything the
# server calls need. Separate steps: one combined install leaves pip's resolver backtracking for
# minutes.
COPY --chown=openmetadata:openmetadata e2e/images/openmetadata/requirements/ /tmp/om-requirements/
RUN pip install --user --no-deps -r /tmp/om-requirements/1-no-deps.txt
RUN pip install --user -r /tmp/om-requirements/2-models.txt
RUN pip install --user -r /tmp/om-requirements/3-sqllineage.txt
RUN pip install --user -r /tmp/om-requirements/4-stores.txt \
 && python -c "import metadata.generated.schema.metadataIngestion.workflow, \
metadata.generated.schema.entity.automations.workflow, \
metadata.utils.secrets.secrets_manager_factory"

COPY --chown=openmetadata:openmetadata e2e/images/openmetadata/*.py ./
CMD ["python", "main.py"]
