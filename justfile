# Recipes for the hybrid ingestion runner. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# The demo: reference server + runner on the local executor, end to end.
demo:
    uv run hybrid-runner demo

# The whole test suite (what README's second command and CI run).
test *args:
    uv run pytest {{args}}

# Style, then the layering contracts (pyproject.toml's [tool.importlinter]).
lint:
    uv run ruff check .
    uv run ruff format --check .
    uv run lint-imports

fmt:
    uv run ruff format .
    uv run ruff check --fix .

typecheck:
    uv run mypy

# Known vulnerabilities in uv.lock, from PyPI's advisory data (README, "Dependency audit").
audit *args:
    uv run python -m tools.depaudit {{args}}

# Answer one message file locally: `just invoke tests/messages/status.json [--dry-run]`.
invoke message *flags:
    uv run hybrid-runner invoke {{message}} {{flags}}

# The reference server on 127.0.0.1:8585 accepting TOKEN.
fake-server token="dev-token":
    uv run hybrid-runner fake-server --token {{token}}

# Benchmarks; rewrites docs/performance.md with this machine's numbers (`--quick`: smoke run,
# `--doc-only`: rewrite the page from bench/results/).
bench *args:
    uv run python -m bench.run_all {{args}}

# The runner image from the Dockerfile: on python:3.11-slim where it can be pulled, else (no
# registry) on a stand-in built from Debian packages in the kind tier's private engine (root).
image tag="hybrid-ingestion-runner:0.1.0":
    uv run python -m e2e.kind.images --tag {{tag}}

# Build (once; cached under ~/.cache/hybrid-runner) the Docker-free local control plane.
controlplane:
    bash e2e/controlplane/build.sh

# Build (once; cached under ~/.cache/hybrid-runner) the kind tier offline: binaries from the Go
# module proxy, images from Debian packages, a kind node image (root, Go, gcc, mmdebstrap, docker.io).
kind-build:
    bash e2e/kind/build.sh

# Both real-cluster tiers: the local control plane, then kind with real pods (docs/testing.md).
e2e *args: controlplane kind-build
    E2E_REQUIRE=1 uv run pytest e2e {{args}}

# Lint, types, the dependency audit and tests: what .ci/run does after installing.
check: lint typecheck audit test

# The kind tier only: real pods, the runner installed with helm/. Built offline first, unless
# E2E_KIND_ONLINE=1 (Docker, kind, kubectl and helm on PATH, kindest/node and Argo's manifest
# from the internet). E2E_KEEP_CLUSTER=1 keeps the cluster for the next run.
e2e-kind *args:
    if [ -z "${E2E_KIND_ONLINE:-}" ]; then bash e2e/kind/build.sh; fi
    E2E_BACKEND=kind E2E_REQUIRE=1 uv run pytest -m kind e2e {{args}}
