# syntax=docker/dockerfile:1
# The hybrid ingestion runner image: `just image` (docker build -t hybrid-ingestion-runner .).
#
# builder: uv installs the locked dependencies and the project itself (not editable) into
#          /app/.venv, with bytecode compiled at build time (the root filesystem is read-only
#          at run time, so nothing may need writing later).
# final:   the same Python base, the venv only, a numeric non-root user, no compilers, no uv.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
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
# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project --no-editable
# Then the project: runtime/ and handlers/ go into the venv's site-packages.
COPY runtime ./runtime
COPY handlers ./handlers
RUN uv sync --frozen --no-dev --no-editable \
 && /app/.venv/bin/hybrid-runner --help >/dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="hybrid-ingestion-runner" \
      org.opencontainers.image.description="Runs OpenMetadata/Collate ingestion in your Kubernetes cluster, driven over one outbound WebSocket." \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 runner \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin runner \
 && mkdir -p /var/lib/hybrid-runner \
 && chown 10001:10001 /var/lib/hybrid-runner
COPY --from=builder /app/.venv /app/.venv
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
