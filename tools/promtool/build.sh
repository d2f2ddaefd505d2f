#!/usr/bin/env bash
# Builds Prometheus' own promtool (the tool behind `promtool test rules` and `promtool check
# metrics`) from the Go module proxy at the pinned version, into
# ~/.cache/hybrid-runner/bin/<key>/promtool (nothing is written into the repository). The chart's
# PrometheusRule is unit-tested with it (tests/helm/test_prometheusrule.py).
#
# Built with -tags remove_all_sd: promtool's rule tests and metric lint need no service-discovery
# plugin, and leaving out the cloud SDKs (AWS, Azure, GCE, ...) halves the build. Kubernetes and
# file discovery stay (promtool's own code imports them).
#
# Idempotent, keyed by the Prometheus and Go versions: an existing binary is reused; a new one
# appears atomically (built into a temporary directory, then moved). GOMODCACHE and GOCACHE are
# the ones e2e/controlplane/build.sh uses, under ~/.cache/hybrid-runner.
#
# Usage: bash tools/promtool/build.sh [--print-path]
#   --print-path  print the binary's path and exit (non-zero if it is not built)
# Environment: HYBRID_RUNNER_CACHE (default ~/.cache/hybrid-runner), GO (default go),
#   BUILD_PARALLELISM (go build -p; default 2).
set -euo pipefail

# Module version v0.X.Y of github.com/prometheus/prometheus is Prometheus 3.X.Y.
PROMETHEUS_MODULE_VERSION=0.316.0
PROMETHEUS_VERSION=3.16.0

GO=${GO:-go}
if ! command -v "$GO" >/dev/null; then
    echo "tools/promtool/build.sh needs a Go toolchain (go 1.26.7+) on PATH (or GO=/path/to/go)" >&2
    exit 1
fi
cache=${HYBRID_RUNNER_CACHE:-$HOME/.cache/hybrid-runner}
go_version=$($GO env GOVERSION)
out="$cache/bin/promtool-${PROMETHEUS_VERSION}_${go_version}"
binary="$out/promtool"

for arg in "$@"; do
    case "$arg" in
        --print-path) echo "$binary"; [ -x "$binary" ]; exit $? ;;
        *) echo "unknown argument: $arg" >&2; exit 2 ;;
    esac
done

if [ -x "$binary" ]; then
    echo "== promtool $PROMETHEUS_VERSION: cached ($binary)"
    exit 0
fi

export GOMODCACHE="$cache/gomod"
export GOCACHE="$cache/gocache"
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOFLAGS="-trimpath -buildvcs=false"
mkdir -p "$out" "$GOMODCACHE" "$GOCACHE"
tmp=$(mktemp -d "$out/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

v="github.com/prometheus/common/version"
ldflags="-s -w -X $v.Version=$PROMETHEUS_VERSION -X $v.Branch=HEAD -X $v.BuildUser=hybrid-runner"
echo "== promtool $PROMETHEUS_VERSION: building (go $go_version, -p ${BUILD_PARALLELISM:-2})"
start=$(date +%s)
GOBIN="$tmp" $GO install -p "${BUILD_PARALLELISM:-2}" -tags remove_all_sd -ldflags "$ldflags" \
    "github.com/prometheus/prometheus/cmd/promtool@v$PROMETHEUS_MODULE_VERSION"
"$tmp/promtool" --version >/dev/null
mv "$tmp/promtool" "$binary"
seconds=$(($(date +%s) - start))
echo "promtool $seconds" >"$out/build-times.txt"
echo "== promtool $PROMETHEUS_VERSION: built in $seconds s ($binary)"
