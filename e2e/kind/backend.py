"""A cluster the runner is installed into with Helm: kubectl, helm and the chart's install.

Used by the kind tier (a kind cluster from ``e2e/kind/cluster.py``) and by ``E2E_BACKEND=existing``
(any cluster from KUBECONFIG). Everything goes through the real ``kubectl`` and ``helm``
binaries, as a user's commands do.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm"
RUNNER_IMAGE = os.environ.get("E2E_RUNNER_IMAGE", "hybrid-ingestion-runner:e2e")
# The chart's default image (image.repository, tag = appVersion): what `just image` builds.
CHART_DEFAULT_IMAGE = "hybrid-ingestion-runner:0.1.0"
STAND_IN_IMAGE = os.environ.get("E2E_STAND_IN_IMAGE", "hybrid-runner-e2e/ingestion-stand-in:e2e")


class BackendUnavailable(RuntimeError):
    """The backend cannot run on this machine (the message says what is missing)."""


def run(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 900,
    cwd: Path | None = None,
) -> str:
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\n"
            f"stderr:\n{proc.stderr[-4000:]}"
        )
    return proc.stdout


@dataclass
class KubeBackend:
    """A cluster the runner is installed into with Helm (kind or existing)."""

    name: str
    kubeconfig: Path
    kubectl_bin: str
    helm_bin: str
    server_host: str
    runner_image: str = RUNNER_IMAGE
    stand_in_image: str = STAND_IN_IMAGE
    argo_manifest: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)

    # -- tools ---------------------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.kubeconfig)}

    def kubectl(self, *args: str, timeout: float = 300) -> str:
        return run([self.kubectl_bin, *args], env=self.env, timeout=timeout)

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def helm(self, *args: str, timeout: float = 600) -> str:
        return run([self.helm_bin, *args], env=self.env, timeout=timeout)

    def raw(self, path: str) -> str:
        """``kubectl get --raw PATH``: e.g. a Service's port through the apiserver proxy."""
        return self.kubectl("get", "--raw", path)

    # -- cluster set-up ------------------------------------------------------------------------

    def has_argo_crds(self) -> bool:
        try:
            self.kubectl("get", "crd", "workflows.argoproj.io")
        except RuntimeError:
            return False
        return True

    def install_argo(self) -> None:
        """Argo Workflows' controller (cluster-wide, namespace ``argo``) from ``argo_manifest``."""
        start = time.monotonic()
        try:
            self.kubectl("get", "namespace", "argo")
        except RuntimeError:
            self.kubectl("create", "namespace", "argo")
        # Server-side: the CRDs are too big for the last-applied annotation of client-side apply.
        self.kubectl(
            "apply", "--server-side", "--force-conflicts", "-n", "argo", "-f", self.argo_manifest
        )
        self.kubectl(
            "-n",
            "argo",
            "rollout",
            "status",
            "deployment/workflow-controller",
            "--timeout=300s",
            timeout=330,
        )
        self.timings["argo"] = round(time.monotonic() - start, 1)

    # -- per test ------------------------------------------------------------------------------

    def create_namespace(self, name: str) -> None:
        self.kubectl("create", "namespace", name)

    def delete_namespace(self, name: str) -> None:
        try:
            self.kubectl("delete", "namespace", name, "--wait=false")
        except RuntimeError:
            pass

    @contextmanager
    def values_file(self, values: dict[str, Any]) -> Iterator[str]:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(values, f)
        try:
            yield f.name
        finally:
            os.unlink(f.name)

    def helm_install(self, release: str, namespace: str, values: dict[str, Any]) -> None:
        """The project's chart with ``values``; returns once the runner is Ready (connected)."""
        self._helm_apply("install", release, namespace, values)

    def helm_upgrade(self, release: str, namespace: str, values: dict[str, Any]) -> None:
        """``helm upgrade``: returns once the new runner pod is Ready (connected)."""
        self._helm_apply("upgrade", release, namespace, values)

    def _helm_apply(self, verb: str, release: str, namespace: str, values: dict[str, Any]) -> None:
        with self.values_file(values) as path:
            # --wait: the Deployment is available, i.e. /readyz answered.
            self.helm(
                verb, release, str(CHART), "-n", namespace, "-f", path, "--wait", "--timeout", "5m"
            )

    def helm_uninstall(self, release: str, namespace: str) -> None:
        try:
            self.helm("uninstall", release, "-n", namespace, "--wait", "--timeout", "2m")
        except RuntimeError:
            pass

    def describe(self, namespace: str) -> str:
        parts = []
        for args in (
            ("get", "pods,jobs,cronjobs,workflows.argoproj.io", "-n", namespace, "-o", "wide"),
            ("get", "events", "-n", namespace, "--sort-by=.lastTimestamp"),
            (
                "logs",
                "-n",
                namespace,
                "-l",
                "app.kubernetes.io/name=hybrid-ingestion-runner",
                "--tail=80",
                "--prefix",
            ),
        ):
            try:
                parts.append(self.kubectl(*args))
            except RuntimeError as e:
                parts.append(str(e))
        return "\n".join(parts)
