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

# openmetadata-ingestion 2.0.7.0 with only what its secrets code path and models import.
# Its full dependency set cannot install here: collate-data-diff -> dbt-core ->
# dbt-core-experimental-parser downloads a wheel from GitHub at build time. So:
# 1. openmetadata-ingestion and collate-data-diff without their dependencies (`metadata`'s
#    package __init__ imports `data_diff`);
# 2. what importing the workflow and automations models and the secrets manager factory needs:
#    pydantic, pydantic-settings, email-validator (the models), sqlalchemy, antlr4 4.9.2 (4.13
#    cannot load OpenMetadata's generated parser), jinja2, jsonpatch, cachetools, chardet,
#    cached-property, tenacity, google-crc32c, cryptography, requests, python-dateutil (the
#    `metadata` modules the package __init__ pulls in), attrs, pytz, tabulate, rich, dsnparse,
#    toml, pyyaml (data_diff, and yaml for the `config` text);
# 3. collate-sqllineage (imported by the same package __init__; it brings sqlfluff and sqlglot);
# 4. the secrets stores' SDKs: secrets_manager_factory imports every store (boto3 for AWS
#    Secrets Manager and SSM, google-cloud-secret-manager, azure-identity and
#    azure-keyvault-secrets), and kubernetes is the store the kind tier uses in-cluster.
# Left out: the connectors' drivers (pymysql, ...), dbt, airflow and everything the server calls
# need. Separate steps: one combined install leaves pip's resolver backtracking for minutes.
# Pins: what pip resolved within openmetadata-ingestion's own specifiers (antlr4, chardet,
# cached-property, tabulate, collate-sqllineage and google-cloud-secret-manager are its exact
# pins; kubernetes<36, boto3~=1.41.5). python-dateutil is pinned below 3: step 2 alone resolves
# 4.0.0, which botocore then downgrades.
RUN pip install --user --no-deps \
      "openmetadata-ingestion==2.0.7.0" \
      "collate-data-diff==0.11.18"
RUN pip install --user \
      "pydantic==2.14.4" "pydantic-settings==2.16.3" "email-validator==2.4.0" \
      "sqlalchemy==2.0.58" "antlr4-python3-runtime==4.9.2" "jinja2==3.1.6" "jsonpatch==1.48" \
      "cachetools==8.0.2" "chardet==4.0.0" "cached-property==1.5.2" "tenacity==9.2.1" \
      "google-crc32c==1.9.0" "cryptography==50.0.2" "requests==2.34.2" \
      "python-dateutil==2.9.0.post0" "attrs==26.1.0" "pytz==2026.6" "tabulate==0.9.0" \
      "rich==15.0.0" "dsnparse==0.1.15" "toml==0.10.2" "pyyaml==6.0.4"
RUN pip install --user "collate-sqllineage==2.1.7"
RUN pip install --user \
      "boto3==1.41.5" "google-cloud-secret-manager==2.24.0" "azure-identity==1.27.0" \
      "azure-keyvault-secrets==4.12.0" "kubernetes==35.0.0" \
 && python -c "import metadata.generated.schema.metadataIngestion.workflow, \
metadata.generated.schema.entity.automations.workflow, \
metadata.utils.secrets.secrets_manager_factory"

COPY --chown=openmetadata:openmetadata e2e/images/openmetadata/*.py ./
CMD ["python", "main.py"]
