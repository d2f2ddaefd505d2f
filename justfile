# Recipes for the hybrid ingestion runner. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# The demo: reference server + runner on the local executor, end to end.
demo:
    uv run hybrid-runner demo

# The whole test suite (what README's second command and CI run).
test *args:
    uv run pytest {{args}}

lint:
    uv run ruff check .
    uv run ruff format --check .

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

# The runner image (needs a Docker engine; none exists on the project's CI machines).
image tag="hybrid-ingestion-runner:0.1.0":
    docker build -t {{tag}} .

# Build (once; cached under ~/.cache/hybrid-runner) the Docker-free local control plane.
controlplane:
    bash e2e/controlplane/build.sh

# Real-cluster end-to-end tests on the local control plane (E2E_BACKEND=local; see docs/testing.md).
e2e *args: controlplane
    E2E_REQUIRE=1 uv run pytest e2e {{args}}

# Lint, types, the dependency audit and tests: what .ci/run does after installing.
check: lint typecheck audit test

# The e2e suite on a kind cluster (needs Docker, kind, kubectl and helm; downloads Argo's release
# manifest). The runner is installed with helm/; E2E_KEEP_CLUSTER=1 keeps the cluster.
e2e-kind *args:
    E2E_BACKEND=kind E2E_REQUIRE=1 uv run pytest e2e {{args}}
