# The hybrid ingestion runner image: `just image` (docker build -t hybrid-ingestion-runner .).
# No BuildKit-only syntax: the legacy builder builds it too (machines without buildx).
#
# deps:    uv installs the locked dependencies (no dev tools, not the project) into /app/.venv,
#          bytecode compiled at build time (the root filesystem is read-only at run time).
# project: the project itself (not editable) into the same venv; only its own files are kept.
# final:   the same Python base, the dependency layer, then the project layer, a numeric
#          non-root user, no compilers, no uv. A code change rebuilds and ships only the small
#          project layer; a lock change rebuilds the dependency layer.
#
# PYTHON_IMAGE: where python:3.11-slim cannot be pulled (no registry), `just image` builds a
# stand-in from Debian packages and passes it here (e2e/kind/images.py).

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS deps
ARG UV_VERSION=0.13.9
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1
RUN pip install "uv==${UV_VERSION}"
WORKDIR /src
# Only the lock and the project's metadata: this layer is rebuilt when they change, not when
# README.md or the code does.
COPY pyproject.toml uv.lock ./
# Two things the runner never loads, 95 MB with their bytecode: kubernetes' asyncio client
# (kubernetes/aio) and botocore's models of the ~440 AWS services other than Secrets Manager
# and the credential services (STS for IRSA/web identity, SSO, sign-in). The checks in the next
# stage and the kind tier run the real runner and create those clients.
RUN uv sync --frozen --no-dev --no-install-project --no-editable \
 && purelib=$(/app/.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))') \
 && rm -rf "$purelib/kubernetes/aio" \
 && for model in "$purelib"/botocore/data/*/; do \
      case "$(basename "$model")" in secretsmanager|sts|sso|sso-oidc|signin) ;; \
      *) rm -rf "$model" ;; esac; \
    done

FROM deps AS project
COPY README.md ./
COPY runtime ./runtime
COPY handlers ./handlers
# The project's files only (its packages, dist-info and console script) go to /staging, keeping
# their paths, so the final stage copies them as one small layer over the dependencies.
RUN uv sync --frozen --no-dev --no-editable \
 && purelib=$(/app/.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))') \
 && mkdir -p "/staging$purelib" /staging/app/.venv/bin \
 && cp -a "$purelib/runtime" "$purelib/handlers" "$purelib"/hybrid_ingestion_runner-*.dist-info \
      "/staging$purelib/" \
 && cp -a /app/.venv/bin/hybrid-runner /staging/app/.venv/bin/ \
 && /app/.venv/bin/hybrid-runner --help >/dev/null \
 && /app/.venv/bin/python -c "import boto3, kubernetes.client, kubernetes.watch; \
[boto3.session.Session().client(s, region_name='eu-west-1') for s in ('secretsmanager', 'sts')]"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="hybrid-ingestion-runner" \
      org.opencontainers.image.description="Runs OpenMetadata/Collate ingestion in your Kubernetes cluster, driven over one outbound WebSocket." \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 runner \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin runner \
 && mkdir -p /var/lib/hybrid-runner \
 && chown 10001:10001 /var/lib/hybrid-runner
COPY --from=deps /app/.venv /app/.venv
COPY --from=project /staging/ /
ENV PATH=/app/.venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    STATE_DIR=/var/lib/hybrid-runner \
    METRICS_SERVER_PORT=8989
# In Kubernetes the chart mounts emptyDirs on /var/lib/hybrid-runner and /tmp: the only writes.
VOLUME ["/var/lib/hybrid-runner"]
USER 10001:10001
WORKDIR /var/lib/hybrid-runner
EXPOSE 8989
ENTRYPOINT ["hybrid-runner", "run"]
