"""The ``kind`` and ``existing`` backends of the e2e suite (machines with Docker).

``E2E_BACKEND=kind``: a kind cluster created with pytest-kind's ``KindCluster`` (the ``kind``
binary from ``--kind-bin`` or PATH; pytest-kind's own download is never used), the runner image
(repo ``Dockerfile``) and the ingestion stand-in image (``e2e/images/``) built with ``docker build``
and loaded with ``kind load docker-image``, Argo Workflows installed from its release manifest
(downloaded from GitHub at test time), then per test the runner installed with the project's
Helm chart through the ``helm`` binary, so the chart's Deployment, ServiceAccounts and RBAC are
what runs. The runner connects to a ``ReferenceServer`` on the host, bound to the kind network's
Docker bridge gateway address (never 0.0.0.0), the address the cluster's pods reach the host by.

``E2E_BACKEND=existing``: any cluster from ``KUBECONFIG`` (or ``--kubeconfig``), same install
path minus creating the cluster and loading the images: the images named by
``E2E_RUNNER_IMAGE`` / ``E2E_STAND_IN_IMAGE`` must be pullable by its nodes, Argo Workflows is
installed only if its CRDs are missing, and ``E2E_SERVER_HOST`` must be an address of this machine
that the cluster's pods can reach.

Nothing here runs on this project's own machines (no Docker engine): see docs/testing.md.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "helm"
STAND_IN_DOCKERFILE = REPO / "e2e" / "images" / "ingestion-stand-in.Dockerfile"
RUNNER_IMAGE = os.environ.get("E2E_RUNNER_IMAGE", "hybrid-ingestion-runner:e2e")
STAND_IN_IMAGE = os.environ.get("E2E_STAND_IN_IMAGE", "hybrid-runner-e2e/ingestion-stand-in:e2e")
CLUSTER_NAME = os.environ.get("E2E_KIND_CLUSTER", "hybrid-runner-e2e")
KIND_NETWORK = os.environ.get("KIND_EXPERIMENTAL_DOCKER_NETWORK", "kind")


def _versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (REPO / "e2e" / "controlplane" / "versions.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


# The same Argo version as the local backend builds (e2e/controlplane/versions.env).
ARGO_VERSION = os.environ.get("E2E_ARGO_VERSION") or _versions()["ARGO_WORKFLOWS_VERSION"]
ARGO_MANIFEST = os.environ.get(
    "E2E_ARGO_MANIFEST",
    f"https://github.com/argoproj/argo-workflows/releases/download/v{ARGO_VERSION}/install.yaml",
)


class BackendUnavailable(RuntimeError):
    """The backend cannot run on this machine (the message says what is missing)."""


def _which(name: str, given: str | None = None) -> str | None:
    if given:
        return given if Path(given).is_file() else None
    return shutil.which(name)


def _run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    proc = subprocess.run(
        cmd,
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


def docker_available(docker: str | None) -> str | None:
    """None when a Docker engine answers, else why not."""
    if docker is None:
        return "no `docker` binary on PATH"
    try:
        subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            check=True,
            timeout=30,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        return "`docker info` failed: no Docker engine reachable"
    return None


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
    timings: dict[str, float] = field(default_factory=dict)

    # -- tools ---------------------------------------------------------------------------------

    def kubectl(self, *args: str, timeout: float = 300) -> str:
        return _run(
            [self.kubectl_bin, *args], env={"KUBECONFIG": str(self.kubeconfig)}, timeout=timeout
        )

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def helm(self, *args: str, timeout: float = 600) -> str:
        return _run(
            [self.helm_bin, *args], env={"KUBECONFIG": str(self.kubeconfig)}, timeout=timeout
        )

    # -- cluster set-up ------------------------------------------------------------------------

    def has_argo_crds(self) -> bool:
        try:
            self.kubectl("get", "crd", "workflows.argoproj.io")
        except RuntimeError:
            return False
        return True

    def install_argo(self) -> None:
        """Argo Workflows' release manifest (cluster-wide install in namespace ``argo``)."""
        start = time.monotonic()
        try:
            self.kubectl("get", "namespace", "argo")
        except RuntimeError:
            self.kubectl("create", "namespace", "argo")
        # Server-side: the CRDs are too big for the last-applied annotation of client-side apply.
        self.kubectl(
            "apply", "--server-side", "--force-conflicts", "-n", "argo", "-f", ARGO_MANIFEST
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

    def helm_install(
        self,
        release: str,
        namespace: str,
        *,
        executor: str,
        server_url: str,
        token: str,
        agent_id: str,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        """The project's chart, as a user installs it, pointed at the test's server."""
        repo, _, tag = self.runner_image.rpartition(":")
        ing_repo, _, ing_tag = self.stand_in_image.rpartition(":")
        extra = {"ALLOW_INSECURE_WS": "true", "KILL_GRACE_SECONDS": "5", **(extra_env or {})}
        values = {
            "image": {"repository": repo, "tag": tag, "pullPolicy": "IfNotPresent"},
            "executor": executor,
            "config": {
                "agentId": agent_id,
                "authToken": token,
                # http:// -> the chart derives ws:// URLs; serverUrl is the exact endpoint.
                "serverHost": "http://" + server_url.split("://", 1)[1].split("/", 1)[0],
                "serverUrl": server_url,
                "secretsManager": "kubernetes",
                "ingestionPods": {
                    "repository": ing_repo,
                    "tag": ing_tag,
                    # Small enough for a laptop's kind node.
                    "resources": {
                        "requests": {"cpu": "50m", "memory": "64Mi"},
                        "limits": {"cpu": "500m", "memory": "256Mi"},
                    },
                    "automationResources": {
                        "requests": {"cpu": "50m", "memory": "64Mi"},
                        "limits": {"cpu": "500m", "memory": "256Mi"},
                    },
                },
            },
            "extraEnvs": [{"name": k, "value": v} for k, v in extra.items()],
        }
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(values, f)
            values_file = f.name
        try:
            # --wait: the Deployment is available, i.e. /readyz answered (connected to the server).
            self.helm(
                "install",
                release,
                str(CHART),
                "-n",
                namespace,
                "-f",
                values_file,
                "--wait",
                "--timeout",
                "5m",
            )
        finally:
            os.unlink(values_file)

    def helm_uninstall(self, release: str, namespace: str) -> None:
        try:
            self.helm("uninstall", release, "-n", namespace, "--wait", "--timeout", "2m")
        except RuntimeError:
            pass

    def describe(self, namespace: str) -> str:
        parts = []
        for args in (
            ("get", "pods,jobs,workflows.argoproj.io", "-n", namespace, "-o", "wide"),
            ("get", "events", "-n", namespace, "--sort-by=.lastTimestamp"),
            (
                "logs",
                "-n",
                namespace,
                "-l",
                "app.kubernetes.io/name=hybrid-ingestion-runner",
                "--tail=80",
            ),
        ):
            try:
                parts.append(self.kubectl(*args))
            except RuntimeError as e:
                parts.append(str(e))
        return "\n".join(parts)


def kind_gateway_ip(docker: str, network: str = KIND_NETWORK) -> str:
    """The kind network's IPv4 gateway: the host's address on that Docker bridge (Linux)."""
    out = _run([docker, "network", "inspect", network, "--format", "{{json .IPAM.Config}}"])
    for entry in json.loads(out) or []:
        gateway = entry.get("Gateway") or ""
        try:
            if ipaddress.ip_address(gateway).version == 4:
                return gateway
        except ValueError:
            continue
    raise RuntimeError(f"docker network {network} has no IPv4 gateway: {out}")


class KindSession:
    """Creates (or re-uses) the kind cluster, builds and loads the images, installs Argo."""

    def __init__(
        self,
        *,
        kind_bin: str | None,
        kubectl_bin: str | None,
        image: str | None,
        keep: bool,
        workdir: Path,
    ) -> None:
        self.kind_bin = _which("kind", kind_bin)
        self.kubectl_bin = _which("kubectl", kubectl_bin)
        self.helm_bin = _which("helm")
        self.docker_bin = _which("docker")
        self.image = image
        self.keep = keep
        self.workdir = workdir
        self.cluster: Any = None

    def check(self) -> None:
        missing = [
            n
            for n, b in (
                ("kind", self.kind_bin),
                ("kubectl", self.kubectl_bin),
                ("helm", self.helm_bin),
            )
            if b is None
        ]
        reasons = []
        if missing:
            reasons.append("missing binaries: " + ", ".join(missing) + " (--kind-bin / PATH)")
        docker = docker_available(self.docker_bin)
        if docker:
            reasons.append(docker)
        if reasons:
            raise BackendUnavailable(
                "E2E_BACKEND=kind needs Docker and kind: " + "; ".join(reasons)
            )

    def start(self) -> KubeBackend:
        from pytest_kind import KindCluster  # type: ignore[import-untyped]

        assert self.kind_bin and self.kubectl_bin and self.helm_bin and self.docker_bin
        timings: dict[str, float] = {}
        t = time.monotonic()
        self.cluster = KindCluster(
            CLUSTER_NAME,
            self.workdir / "kubeconfig",
            image=self.image,
            kind_path=Path(self.kind_bin),
            kubectl_path=Path(self.kubectl_bin),
        )
        kubeconfig = Path(self.cluster.kubeconfig_path)
        existing = _run([self.kind_bin, "get", "clusters"]).split()
        if CLUSTER_NAME in existing:
            # A kept cluster (E2E_KEEP_CLUSTER=1): re-used; its kubeconfig written fresh, since
            # pytest-kind reads the file without writing it when the cluster already exists.
            kubeconfig.write_text(
                _run([self.kind_bin, "get", "kubeconfig", "--name", CLUSTER_NAME])
            )
            kubeconfig.chmod(0o600)
        self.cluster.create()
        timings["cluster"] = round(time.monotonic() - t, 1)

        t = time.monotonic()
        _run([self.docker_bin, "build", "-t", RUNNER_IMAGE, str(REPO)], timeout=1800)
        _run(
            [
                self.docker_bin,
                "build",
                "-f",
                str(STAND_IN_DOCKERFILE),
                "-t",
                STAND_IN_IMAGE,
                str(REPO),
            ],
            timeout=900,
        )
        timings["images"] = round(time.monotonic() - t, 1)
        t = time.monotonic()
        for image in (RUNNER_IMAGE, STAND_IN_IMAGE):
            self.cluster.load_docker_image(image)
        timings["load"] = round(time.monotonic() - t, 1)

        backend = KubeBackend(
            name="kind",
            kubeconfig=Path(self.cluster.kubeconfig_path).resolve(),
            kubectl_bin=self.kubectl_bin,
            helm_bin=self.helm_bin,
            server_host=os.environ.get("E2E_SERVER_HOST") or kind_gateway_ip(self.docker_bin),
            timings=timings,
        )
        if not backend.has_argo_crds():
            backend.install_argo()
        return backend

    def stop(self) -> None:
        if self.cluster is not None and not self.keep:
            self.cluster.delete()


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
    )
    try:
        backend.kubectl("version")
    except RuntimeError as e:
        raise BackendUnavailable(f"E2E_BACKEND=existing: the cluster does not answer: {e}") from e
    if not backend.has_argo_crds():
        backend.install_argo()
    return backend
