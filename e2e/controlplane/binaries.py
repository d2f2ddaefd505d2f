"""Where ``build.sh`` put the binaries and data files, so a session can find them without Go.

The cache key comes from ``versions.env``; any Go version's complete build directory will do.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSIONS_FILE = HERE / "versions.env"
STAGES_DIR = HERE / "stages"
CACHE = Path(os.environ.get("HYBRID_RUNNER_CACHE", Path.home() / ".cache" / "hybrid-runner"))

BINARIES = ("kube", "etcd", "kwok", "workflow-controller")
DATA_FILES = (
    "argo/crds/minimal",
    "argo/crds/full",
    "kwok-stages/pod-ready.yaml",
    "kwok-stages/pod-delete.yaml",
    "kwok-stages/node-initialize.yaml",
    "kwok-stages/node-heartbeat-with-lease.yaml",
    "kwok-crds/kwok.x-k8s.io_logs.yaml",
    "kwok-crds/kwok.x-k8s.io_clusterlogs.yaml",
)


def read_versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    versions: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            versions[name.strip()] = value.strip().strip("\"'")
    return versions


def cache_key_prefix(versions: Mapping[str, str]) -> str:
    """The part of build.sh's cache key that comes from versions.env (the Go version follows)."""
    return (
        f"k8s-{versions['KUBERNETES_VERSION']}_etcd-{versions['ETCD_VERSION']}"
        f"_kwok-{versions['KWOK_VERSION']}_argo-{versions['ARGO_WORKFLOWS_VERSION']}_"
    )


def missing_in(bin_dir: Path) -> list[str]:
    return [name for name in (*BINARIES, *DATA_FILES) if not (bin_dir / name).exists()]


def find_bin_dir() -> tuple[Path | None, list[str]]:
    """The build directory for versions.env, or None and what is missing.

    ``HYBRID_RUNNER_CONTROLPLANE_BIN`` overrides the lookup. Otherwise the newest complete
    ``~/.cache/hybrid-runner/bin/<key>*`` directory for the pinned versions is used (any Go
    version), so finding it needs no Go toolchain.
    """
    override = os.environ.get("HYBRID_RUNNER_CONTROLPLANE_BIN")
    if override:
        path = Path(override)
        missing = missing_in(path)
        return (None if missing else path), [str(path / m) for m in missing]
    prefix = cache_key_prefix(read_versions())
    root = CACHE / "bin"
    candidates = sorted(
        (p for p in root.glob(prefix + "*") if p.is_dir()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for path in candidates:
        if not missing_in(path):
            return path, []
    if candidates:
        return None, [str(candidates[0] / m) for m in missing_in(candidates[0])]
    return None, [str(root / (prefix + "<go version>") / name) for name in BINARIES]
