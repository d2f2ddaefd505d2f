"""The kind tier's session: a kind cluster with real pods, the images loaded, Argo installed.

Two ways to get there, one suite:

* **offline** (the project's machines and CI): everything comes from ``e2e/kind/build.sh``'s
  cache: the node image (``--image``), kind, kubectl (the Kubernetes multi-call binary), helm,
  Argo's manifests and images, the Python stand-in base; the cluster runs in the tier's private
  Docker engine (``engine.py``), started here and stopped at the end.
* **online** (a user with Docker, kind, kubectl and helm on PATH and a registry): pytest-kind
  with kind's default node image, Argo's release manifest, images built on python:3.11-slim.

Either way pytest-kind's ``KindCluster`` creates (or, with ``E2E_KEEP_CLUSTER=1``, re-uses) the
cluster, the runner image (repo Dockerfile) and the ingestion test images are built and loaded
with ``kind load docker-image``, and the reference server listens on the kind network's gateway,
the address pods reach the host by (never 0.0.0.0).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from e2e.kind import engine, images
from e2e.kind.backend import (
    CHART_DEFAULT_IMAGE,
    RUNNER_IMAGE,
    STAND_IN_IMAGE,
    BackendUnavailable,
    KubeBackend,
    run,
)

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "e2e" / "kind" / "build.sh"
CLUSTER_NAME = os.environ.get("E2E_KIND_CLUSTER", "hybrid-runner-e2e")
KIND_NETWORK = os.environ.get("KIND_EXPERIMENTAL_DOCKER_NETWORK", "kind")


def _versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (REPO / "e2e" / "controlplane" / "versions.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


ARGO_RELEASE_MANIFEST = (
    "https://github.com/argoproj/argo-workflows/releases/download/"
    f"v{_versions()['ARGO_WORKFLOWS_VERSION']}/install.yaml"
)


@dataclass(frozen=True)
class Toolset:
    """Where the tier's binaries and images come from."""

    offline: bool
    kind: str
    kubectl: str
    helm: str
    node_image: str | None
    python_image: str | None
    argo_manifest: str
    argo_images: tuple[str, ...] = ()


def offline_toolset() -> Toolset | None:
    """The offline build's toolset, or None when ``build.sh`` has not completed."""
    try:
        proc = subprocess.run(
            ["bash", str(BUILD), "--print-images-env"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    images_env = Path(proc.stdout.strip())
    if proc.returncode != 0 or not images_env.is_file():
        return None
    out = images_env.parent
    built = dict(
        line.split("=", 1)
        for line in images_env.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    return Toolset(
        offline=True,
        kind=str(out / "kind"),
        kubectl=str(Path(built["CONTROL_PLANE_DIR"]) / "kubectl"),
        helm=str(out / "helm"),
        node_image=built["NODE_IMAGE"],
        python_image=built["PYTHON_IMAGE"],
        argo_manifest=built["ARGO_INSTALL"],
        argo_images=(built["ARGO_CONTROLLER_IMAGE"], built["ARGOEXEC_IMAGE"]),
    )


def online_toolset(kind_bin: str | None, kubectl_bin: str | None) -> Toolset:
    """Docker, kind, kubectl and helm from PATH; BackendUnavailable names what is missing."""
    found = {
        "kind": kind_bin or shutil.which("kind"),
        "kubectl": kubectl_bin or shutil.which("kubectl"),
        "helm": shutil.which("helm"),
    }
    reasons = [f"no `{name}` on PATH" for name, path in found.items() if not path]
    if not engine.default_engine_usable():
        reasons.append("no Docker engine answers `docker info`")
    if reasons:
        raise BackendUnavailable(
            "the kind tier is not built (run `bash e2e/kind/build.sh`: root, Go, gcc, mmdebstrap, "
            "docker.io) and the online path is not available: " + "; ".join(reasons)
        )
    return Toolset(
        offline=False,
        kind=str(found["kind"]),
        kubectl=str(found["kubectl"]),
        helm=str(found["helm"]),
        node_image=os.environ.get("E2E_KIND_IMAGE"),
        python_image=None,
        argo_manifest=os.environ.get("E2E_ARGO_MANIFEST", ARGO_RELEASE_MANIFEST),
    )


def gateway_ip(network: str = KIND_NETWORK) -> str:
    """The kind network's IPv4 gateway: the host's address on that Docker bridge (Linux)."""
    out = run(["docker", "network", "inspect", network, "--format", "{{json .IPAM.Config}}"])
    for entry in json.loads(out) or []:
        gateway = entry.get("Gateway") or ""
        try:
            if ipaddress.ip_address(gateway).version == 4:
                return str(gateway)
        except ValueError:
            continue
    raise RuntimeError(f"docker network {network} has no IPv4 gateway: {out}")


class KindTier:
    """Creates (or re-uses) the kind cluster, builds and loads the images, installs Argo."""

    def __init__(self, tools: Toolset, *, keep: bool, workdir: Path) -> None:
        self.tools = tools
        self.keep = keep
        self.workdir = workdir
        self.engine = engine.PrivateEngine()
        self.started_engine = False
        self.saved_env: dict[str, str | None] = {}
        self.cluster: object = None

    def _use_engine(self) -> None:
        self.started_engine = self.engine.start()
        for key, value in self.engine.env().items():
            self.saved_env[key] = os.environ.get(key)
            os.environ[key] = value  # kind, docker and pytest-kind read the environment

    def start(self) -> KubeBackend:
        from pytest_kind import KindCluster  # type: ignore[import-untyped]

        timings: dict[str, float] = {}
        t = time.monotonic()
        if self.tools.offline:
            self._use_engine()
        timings["engine"] = round(time.monotonic() - t, 1)
        t = time.monotonic()
        built = self._build_images()
        timings["images"] = round(time.monotonic() - t, 1)
        t = time.monotonic()
        cluster = KindCluster(
            CLUSTER_NAME,
            self.workdir / "kubeconfig",
            image=self.tools.node_image,
            kind_path=Path(self.tools.kind),
            kubectl_path=Path(self.tools.kubectl),
        )
        kubeconfig = Path(cluster.kubeconfig_path)
        if CLUSTER_NAME in run([self.tools.kind, "get", "clusters"]).split():
            # A kept cluster: pytest-kind reads its kubeconfig without writing it.
            kubeconfig.write_text(
                run([self.tools.kind, "get", "kubeconfig", "--name", CLUSTER_NAME])
            )
            kubeconfig.chmod(0o600)
        cluster.create()
        self.cluster = cluster
        backend = KubeBackend(
            name="kind",
            kubeconfig=kubeconfig.resolve(),
            kubectl_bin=self.tools.kubectl,
            helm_bin=self.tools.helm,
            server_host=os.environ.get("E2E_SERVER_HOST") or gateway_ip(),
            argo_manifest=self.tools.argo_manifest,
            timings=timings,
            images=built,
        )
        backend.kubectl(
            "wait", "--for=condition=Ready", "node", "--all", "--timeout=180s", timeout=200
        )
        timings["cluster"] = round(time.monotonic() - t, 1)
        t = time.monotonic()
        run(
            [
                self.tools.kind,
                "load",
                "docker-image",
                "--name",
                CLUSTER_NAME,
                *built.values(),
                *self.tools.argo_images,
            ],
            timeout=900,
        )
        timings["load"] = round(time.monotonic() - t, 1)
        if not backend.has_argo_crds():
            backend.install_argo()
        return backend

    def _build_images(self) -> dict[str, str]:
        """The runner and ingestion test images, on the stand-in base when offline."""
        wanted = {
            "runner": images.runner(RUNNER_IMAGE),
            "stand-in": images.stand_in(STAND_IN_IMAGE),
            "openmetadata": images.openmetadata(),
        }
        out = {}
        for key, image in wanted.items():
            built = images.build(image, self.tools.python_image, host_network=self.tools.offline)
            print(f"built {built.tag}: {built.size / 1e6:.1f} MB in {built.seconds} s")
            out[key] = built.tag
        # Also under the chart's default name, for README's install as written.
        run(["docker", "tag", out["runner"], CHART_DEFAULT_IMAGE])
        out["chart-default"] = CHART_DEFAULT_IMAGE
        return out

    def stop(self) -> None:
        try:
            if self.cluster is not None and not self.keep:
                self.cluster.delete()  # type: ignore[attr-defined]
        finally:
            if self.started_engine and not self.keep:
                self.engine.stop()
            for key, value in self.saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def existing_backend(kubeconfig: str | None) -> KubeBackend:
    """Any cluster from KUBECONFIG: nothing created, nothing loaded."""
    kubectl_bin, helm_bin = shutil.which("kubectl"), shutil.which("helm")
    path = kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    reasons = []
    if kubectl_bin is None or helm_bin is None:
        reasons.append("kubectl and helm must be on PATH")
    if not Path(path).is_file():
        reasons.append(f"no kubeconfig at {path}")
    if not os.environ.get("E2E_SERVER_HOST"):
        reasons.append("E2E_SERVER_HOST (this machine's address reachable from the cluster's pods)")
    if reasons:
        raise BackendUnavailable("E2E_BACKEND=existing needs " + "; ".join(reasons))
    assert kubectl_bin and helm_bin
    backend = KubeBackend(
        name="existing",
        kubeconfig=Path(path),
        kubectl_bin=kubectl_bin,
        helm_bin=helm_bin,
        server_host=os.environ["E2E_SERVER_HOST"],
        argo_manifest=os.environ.get("E2E_ARGO_MANIFEST", ARGO_RELEASE_MANIFEST),
        images={
            "runner": RUNNER_IMAGE,
            "stand-in": STAND_IN_IMAGE,
            "openmetadata": os.environ.get("E2E_OPENMETADATA_IMAGE", images.openmetadata().tag),
        },
    )
    try:
        backend.kubectl("version")
    except RuntimeError as e:
        raise BackendUnavailable(f"E2E_BACKEND=existing: the cluster does not answer: {e}") from e
    if not backend.has_argo_crds():
        backend.install_argo()
    return backend
