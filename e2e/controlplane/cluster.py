"""A real Kubernetes control plane on 127.0.0.1, without Docker: the e2e suite's local backend.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok (simulated nodes and pod
lifecycle) and Argo's workflow-controller run as local processes, built by
``e2e/controlplane/build.sh`` into ``~/.cache/hybrid-runner/bin/<key>/``. Everything listens on
127.0.0.1 on free ports; certificates, data and one log file per process live in a temporary
directory that is removed on stop (kept with ``keep_workdir=True`` or ``E2E_KEEP_WORKDIR=1``).

    with LocalControlPlane() as cp:
        api = cp.api_client()
        cp.create_namespace("demo")
        kubeconfig = cp.kubeconfig_for_role("demo", "runner", rules=[...])

Simulated pods finish as their annotations say (see ``stages/pod-outcome.yaml``):
``e2e.hybrid-runner/outcome: succeeded|failed|running``, ``e2e.hybrid-runner/delay: 2s``,
``e2e.hybrid-runner/exit-code: "3"``. By default pods owned by a Job or a Workflow succeed one
second after they start running; other pods keep running.

``python -m e2e.controlplane.cluster`` starts one, prints its kubeconfig and waits for Ctrl-C.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

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

FAKE_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
NODE = "kwok-node-0"
TAINTED_NODE = "kwok-node-tainted"
TAINT = {"key": "dedicated", "value": "metadata", "effect": "NoSchedule"}
ARGO_NAMESPACE = "argo"
SERVICE_CIDR = "10.0.0.0/24"  # virtual: no kube-proxy, nothing ever connects to a ClusterIP
POD_CIDR = "127.1.0.0/16"  # simulated pods get loopback addresses, so nothing leaves the host

# Annotations read by stages/pod-outcome.yaml.
OUTCOME = "e2e.hybrid-runner/outcome"
DELAY = "e2e.hybrid-runner/delay"
EXIT_CODE = "e2e.hybrid-runner/exit-code"
MESSAGE = "e2e.hybrid-runner/message"


class ControlPlaneError(RuntimeError):
    """The control plane could not be started (the message names the component and its log)."""


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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------------------------
# Certificates


@dataclass(frozen=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class CertificateAuthority:
    """A throwaway CA (ECDSA P-256: fast to generate) for serving and client certificates."""

    def __init__(self, common_name: str = "hybrid-runner-e2e-ca") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = dt.datetime.now(dt.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        self.pair = KeyPair(
            self._cert.public_bytes(serialization.Encoding.PEM), _key_pem(self._key)
        )

    def issue(
        self,
        common_name: str,
        *,
        organizations: Sequence[str] = (),
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        server: bool = False,
        client: bool = False,
    ) -> KeyPair:
        key = ec.generate_private_key(ec.SECP256R1())
        attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        now = dt.datetime.now(dt.UTC)
        usages = []
        if server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attributes))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_kubeconfig(
    path: Path,
    *,
    server: str,
    ca_pem: bytes,
    user: str,
    client: KeyPair | None = None,
    token: str | None = None,
    namespace: str = "default",
) -> Path:
    user_entry: dict[str, str] = {}
    if client is not None:
        user_entry["client-certificate-data"] = _b64(client.cert_pem)
        user_entry["client-key-data"] = _b64(client.key_pem)
    if token is not None:
        user_entry["token"] = token
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [{"name": user, "user": user_entry}],
        "contexts": [
            {"name": user, "context": {"cluster": "local", "user": user, "namespace": namespace}}
        ],
        "current-context": user,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


# --------------------------------------------------------------------------------------------
# Processes


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGKILL if the test process dies without stopping it."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _on_linux_main_thread() -> bool:
    return sys.platform == "linux" and threading.current_thread() is threading.main_thread()


@dataclass
class Component:
    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ready_after: float | None = None
    stop_signal: signal.Signals = signal.SIGTERM

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class StartupTimings:
    phases: dict[str, float] = field(default_factory=dict)
    total: float = 0.0

    def __str__(self) -> str:
        parts = ", ".join(f"{k} {v:.1f}s" for k, v in self.phases.items())
        return f"{self.total:.1f}s ({parts})"


class LocalControlPlane:
    """etcd + kube-apiserver + controller-manager + scheduler + kwok + Argo, on 127.0.0.1."""

    def __init__(
        self,
        bin_dir: Path | None = None,
        *,
        workdir: Path | None = None,
        keep_workdir: bool | None = None,
        argo: bool = True,
        argo_crds: str | None = None,
        argo_namespace: str = ARGO_NAMESPACE,
        startup_timeout: float = 120.0,
        extra_stage_files: Iterable[Path] = (),
    ) -> None:
        if bin_dir is None:
            found, missing = find_bin_dir()
            if found is None:
                raise ControlPlaneError(
                    "control plane not built (run `bash e2e/controlplane/build.sh`); missing: "
                    + ", ".join(missing)
                )
            bin_dir = found
        argo_crds = argo_crds or os.environ.get("E2E_ARGO_CRDS", "full")
        if argo_crds not in ("full", "minimal"):
            raise ValueError("argo_crds must be 'full' or 'minimal'")
        self.bin_dir = bin_dir
        self.argo = argo
        self.argo_crds = argo_crds
        self.argo_namespace = argo_namespace
        self.startup_timeout = startup_timeout
        self.extra_stage_files = list(extra_stage_files)
        if keep_workdir is None:
            keep_workdir = os.environ.get("E2E_KEEP_WORKDIR", "") not in ("", "0")
        self.keep_workdir = keep_workdir
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="hybrid-runner-cp-"))
        self.logs_dir = self.workdir / "logs"
        self.pki_dir = self.workdir / "pki"
        self.components: dict[str, Component] = {}
        self.timings = StartupTimings()
        self.ports: dict[str, int] = {}
        self.ca: CertificateAuthority | None = None
        self._admin: KeyPair | None = None
        self._started = False

    # -- public API ---------------------------------------------------------------------------

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    @property
    def kubeconfig_path(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    @property
    def ca_path(self) -> Path:
        return self.pki_dir / "ca.crt"

    def api_client(self, kubeconfig: Path | None = None) -> Any:
        """A ``kubernetes.client.ApiClient`` for the admin (or for the given kubeconfig)."""
        from kubernetes import config as k8s_config

        return k8s_config.new_client_from_config(
            config_file=str(kubeconfig or self.kubeconfig_path)
        )

    def create_namespace(self, name: str, *, labels: Mapping[str, str] | None = None) -> None:
        """Creates a namespace and waits for its ``default`` ServiceAccount (pods need it)."""
        from kubernetes import client as k8s

        api = self.api_client()
        try:
            core = k8s.CoreV1Api(api)
            body = {"metadata": {"name": name, "labels": dict(labels or {})}}
            try:
                core.create_namespace(body)
            except k8s.ApiException as e:
                if e.status != 409:
                    raise
            self._wait(
                f"ServiceAccount {name}/default",
                lambda: _exists(lambda: core.read_namespaced_service_account("default", name)),
                timeout=30,
            )
        finally:
            api.close()

    def kubeconfig_for_user(
        self,
        user: str,
        groups: Sequence[str] = (),
        *,
        namespace: str = "default",
        path: Path | None = None,
    ) -> Path:
        """A kubeconfig authenticating as ``user`` (client cert CN=user, O=groups)."""
        assert self.ca is not None
        pair = self.ca.issue(user, organizations=groups, client=True)
        path = path or self.workdir / "kubeconfigs" / f"user-{_slug(user)}.kubeconfig"
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_kubeconfig(
            path,
            server=self.server,
            ca_pem=self.ca.pair.cert_pem,
            user=user,
            client=pair,
            namespace=namespace,
        )

    def kubeconfig_for_role(
        self,
        namespace: str,
        user: str,
        *,
        rules: Sequence[Mapping[str, Any]] | None = None,
        role: str | None = None,
        cluster_role: bool = False,
    ) -> Path:
        """Binds ``user`` to a Role in ``namespace`` and returns a kubeconfig for that user.

        With ``rules`` a Role named ``role`` (default ``<user>``) is created (replaced if it
        exists); without, the existing Role (or ClusterRole with ``cluster_role=True``) named
        ``role`` is bound. The apiserver enforces it: anything else is refused with 403.
        """
        from kubernetes import client as k8s

        role = role or _slug(user)
        api = self.api_client()
        try:
            rbac = k8s.RbacAuthorizationV1Api(api)
            if rules is not None:
                body = {"metadata": {"name": role, "namespace": namespace}, "rules": list(rules)}
                _create_or_replace(
                    lambda: rbac.create_namespaced_role(namespace, body),
                    lambda: rbac.replace_namespaced_role(role, namespace, body),
                )
            binding = {
                "metadata": {"name": f"{role}-{_slug(user)}", "namespace": namespace},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole" if cluster_role else "Role",
                    "name": role,
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}
                ],
            }
            name = binding["metadata"]["name"]  # type: ignore[index]
            _create_or_replace(
                lambda: rbac.create_namespaced_role_binding(namespace, binding),
                lambda: rbac.replace_namespaced_role_binding(name, namespace, binding),
            )
        finally:
            api.close()
        return self.kubeconfig_for_user(user, namespace=namespace)

    def kubeconfig_for_service_account(
        self, namespace: str, name: str, *, expiration_seconds: int = 3600
    ) -> Path:
        """A kubeconfig with a bound token (TokenRequest) for an existing ServiceAccount.

        Use it with the Role/RoleBinding a Helm chart renders for that ServiceAccount.
        """
        from kubernetes import client as k8s

        assert self.ca is not None
        api = self.api_client()
        try:
            core = k8s.CoreV1Api(api)
            request = {"spec": {"audiences": [], "expirationSeconds": expiration_seconds}}
            token = core.create_namespaced_service_account_token(name, namespace, request)
        finally:
            api.close()
        path = self.workdir / "kubeconfigs" / f"sa-{namespace}-{name}.kubeconfig"
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_kubeconfig(
            path,
            server=self.server,
            ca_pem=self.ca.pair.cert_pem,
            user=f"system:serviceaccount:{namespace}:{name}",
            token=token.status.token,
            namespace=namespace,
        )

    def finish_pod(
        self,
        namespace: str,
        name: str,
        *,
        exit_code: int = 143,
        reason: str = "Error",
        message: str | None = None,
    ) -> None:
        """Ends a simulated running pod as if its containers exited (what a signal would do).

        Simulated pods ignore the ``pods/exec`` signals Argo sends on shutdown; this writes the
        terminated status a kubelet would (phase Failed, or Succeeded for exit code 0).
        """
        from kubernetes import client as k8s

        api = self.api_client()
        try:
            core = k8s.CoreV1Api(api)
            pod = core.read_namespaced_pod(name, namespace)
            now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            statuses = []
            for c in pod.spec.containers:
                terminated: dict[str, Any] = {
                    "exitCode": 0 if c.name == "wait" else exit_code,
                    "reason": "Completed" if c.name == "wait" or exit_code == 0 else reason,
                    "startedAt": now,
                    "finishedAt": now,
                }
                if message and c.name != "wait":
                    terminated["message"] = message
                statuses.append(
                    {
                        "name": c.name,
                        "image": c.image,
                        "ready": False,
                        "restartCount": 0,
                        "started": False,
                        "state": {"terminated": terminated},
                    }
                )
            phase = "Succeeded" if exit_code == 0 else "Failed"
            core.patch_namespaced_pod_status(
                name, namespace, {"status": {"phase": phase, "containerStatuses": statuses}}
            )
        finally:
            api.close()

    def set_pod_logs(
        self,
        namespace: str,
        pod: str,
        text: str,
        *,
        containers: Sequence[str] = (),
    ) -> None:
        """What ``pods/log`` returns for a simulated pod (all containers, or those named).

        The apiserver fetches pod logs from the node's kubelet endpoint, which is kwok's server
        on 127.0.0.1; kwok serves the file a ``Logs`` object (kwok.x-k8s.io) names.
        """
        path = self._write_cri_log(f"pod-{namespace}-{pod}", text)
        body = {
            "apiVersion": "kwok.x-k8s.io/v1alpha1",
            "kind": "Logs",
            "metadata": {"name": pod, "namespace": namespace},
            "spec": {"logs": [{"containers": list(containers), "logsFile": str(path)}]},
        }
        self._apply_kwok_object(body, namespaced=True)

    def set_namespace_logs(self, namespace: str, text: str) -> None:
        """What ``pods/log`` returns for every simulated pod of a namespace (``ClusterLogs``)."""
        path = self._write_cri_log(f"ns-{namespace}", text)
        body = {
            "apiVersion": "kwok.x-k8s.io/v1alpha1",
            "kind": "ClusterLogs",
            "metadata": {"name": f"ns-{namespace}"},
            "spec": {
                "selector": {"matchNamespaces": [namespace]},
                "logs": [{"containers": [], "logsFile": str(path)}],
            },
        }
        self._apply_kwok_object(body, namespaced=False)

    def _write_cri_log(self, name: str, text: str) -> Path:
        # kwok serves logs in the CRI format a kubelet reads from disk.
        directory = self.workdir / "pod-logs"
        directory.mkdir(exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
        lines = [f"{stamp} stdout F {line}" for line in text.splitlines()]
        path = directory / f"{_slug(name)}.log"
        path.write_text("".join(line + "\n" for line in lines))
        return path

    def _apply_kwok_object(self, body: dict[str, Any], *, namespaced: bool) -> None:
        from kubernetes import client as k8s

        api = self.api_client()
        try:
            custom = k8s.CustomObjectsApi(api)
            plural = body["kind"].lower()
            name = body["metadata"]["name"]
            if namespaced:
                ns = body["metadata"]["namespace"]
                _create_or_replace(
                    lambda: custom.create_namespaced_custom_object(
                        "kwok.x-k8s.io", "v1alpha1", ns, plural, body
                    ),
                    lambda: custom.patch_namespaced_custom_object(
                        "kwok.x-k8s.io", "v1alpha1", ns, plural, name, {"spec": body["spec"]}
                    ),
                )
            else:
                _create_or_replace(
                    lambda: custom.create_cluster_custom_object(
                        "kwok.x-k8s.io", "v1alpha1", plural, body
                    ),
                    lambda: custom.patch_cluster_custom_object(
                        "kwok.x-k8s.io", "v1alpha1", plural, name, {"spec": body["spec"]}
                    ),
                )
        finally:
            api.close()

    # -- fault injection ----------------------------------------------------------------------

    def health_url(self, name: str) -> tuple[str, bool]:
        """The health endpoint ``start()`` waits on for a component, and whether it needs the
        admin client certificate."""
        urls = {
            "etcd": (f"http://127.0.0.1:{self.ports['etcd']}/health", False),
            "kube-apiserver": (f"{self.server}/readyz", True),
            "kube-controller-manager": (f"https://127.0.0.1:{self.ports['kcm']}/healthz", False),
            "kube-scheduler": (f"https://127.0.0.1:{self.ports['scheduler']}/healthz", False),
            "kwok": (f"https://127.0.0.1:{self.ports['kwok']}/healthz", False),
            "workflow-controller": (
                f"http://127.0.0.1:{self.ports['argo_metrics']}/metrics",
                False,
            ),
        }
        return urls[name]

    def stop_component(self, name: str, *, kill: bool = False, timeout: float = 10.0) -> float:
        """Stops one component (SIGTERM, or SIGKILL with ``kill``; SIGKILL after ``timeout``).

        For fault tests: ``stop_component("kube-apiserver")`` makes the API unavailable while
        etcd keeps the data. Returns the seconds it took. ``start_component`` brings it back
        with the same arguments, port and data.
        """
        component = self.components[name]
        t0 = time.monotonic()
        _signal_group(component, signal.SIGKILL if kill else component.stop_signal)
        if component.process is not None:
            try:
                component.process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(component, signal.SIGKILL)
                component.process.wait(5)
        return time.monotonic() - t0

    def start_component(self, name: str, *, wait: bool = True) -> float:
        """(Re)starts a stopped component as ``start()`` did and waits for its health endpoint.

        Returns the seconds until healthy. A component still running is left alone.
        """
        starters = {
            "etcd": self._start_etcd,
            "kube-apiserver": self._start_apiserver,
            "kube-controller-manager": self._start_kcm,
            "kube-scheduler": self._start_scheduler,
            "kwok": self._start_kwok,
            "workflow-controller": self._start_argo,
        }
        component = self.components.get(name)
        if component is not None and component.alive():
            return 0.0
        t0 = time.monotonic()
        starters[name]()
        if wait:
            url, client_cert = self.health_url(name)
            self._wait_http(name, url, client_cert=client_cert)
        return time.monotonic() - t0

    def restart_controllers(self) -> float:
        """Restarts every component that watches the apiserver (the controllers, the scheduler,
        kwok), so that a test that took the apiserver away leaves none of them waiting out a
        client-go backoff for the next test. Returns the seconds it took."""
        t0 = time.monotonic()
        for name in ("kube-controller-manager", "kube-scheduler", "kwok", "workflow-controller"):
            if name in self.components:
                self.stop_component(name, kill=True)
                self.start_component(name)
        return time.monotonic() - t0

    def restart_dead_components(self) -> list[str]:
        """Starts again every component that exited (e.g. a controller that gave up while the
        apiserver was down); returns their names."""
        dead = [c.name for c in self.components.values() if not c.alive()]
        order = [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
            "workflow-controller",
        ]
        for name in sorted(dead, key=order.index):
            self.start_component(name)
        return dead

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> LocalControlPlane:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> LocalControlPlane:
        """Starts everything; one retry if a port picked as free was taken meanwhile."""
        if self._started:
            return self
        self._started = True
        for attempt in (1, 2):
            t0 = time.monotonic()
            try:
                self._start(t0)
                break
            except ControlPlaneError:
                self.stop(keep=True)
                if attempt == 2 or not self._port_clash():
                    raise
                self._reset(attempt)
            except BaseException:
                self.stop(keep=True)
                raise
        self.timings.total = time.monotonic() - t0
        (self.workdir / "startup.json").write_text(
            json.dumps({"total": self.timings.total, **self.timings.phases}, indent=2)
        )
        return self

    def _port_clash(self) -> bool:
        return any(
            "address already in use" in c.log_tail(200).lower() for c in self.components.values()
        )

    def _reset(self, attempt: int) -> None:
        self.logs_dir.rename(self.workdir / f"logs.attempt{attempt}")
        shutil.rmtree(self.workdir / "etcd", ignore_errors=True)
        self.components = {}
        self.timings = StartupTimings()
        self.ports = {}

    def stop(self, *, keep: bool | None = None) -> None:
        """Stops every process: SIGTERM to each process group, SIGKILL to what is left after 5 s.

        (workflow-controller, which ignores SIGTERM, gets SIGKILL at once.)

        Controllers first, then the apiserver, then etcd, so none spends its grace period
        retrying a server that is already gone.
        """
        components = list(self.components.values())
        controllers = [c for c in components if c.name not in ("kube-apiserver", "etcd")]
        for group in (
            controllers,
            [self.components.get("kube-apiserver")],
            [self.components.get("etcd")],
        ):
            _terminate_all([c for c in group if c is not None])
        keep = self.keep_workdir if keep is None else keep
        if self._own_workdir and not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def describe(self) -> str:
        lines = [f"workdir: {self.workdir}", f"kubeconfig: {self.kubeconfig_path}"]
        for c in self.components.values():
            state = "running" if c.alive() else f"exited {c.process and c.process.returncode}"
            lines.append(f"  {c.name:<24} {state:<12} log: {c.log_path}")
        return "\n".join(lines)

    # -- internals ----------------------------------------------------------------------------

    def _phase(self, name: str, since: float) -> float:
        now = time.monotonic()
        self.timings.phases[name] = now - since
        return now

    def _start(self, t0: float) -> None:
        for d in (self.logs_dir, self.pki_dir):
            d.mkdir(parents=True, exist_ok=True)
        for name in ("etcd", "etcd_peer", "apiserver", "kcm", "scheduler", "kwok", "argo_metrics"):
            self.ports[name] = free_port()

        self._write_pki()
        t = self._phase("pki", t0)

        self._start_etcd()
        self._wait_http("etcd", f"http://127.0.0.1:{self.ports['etcd']}/health")
        t = self._phase("etcd", t)

        self._start_apiserver()
        self._wait_http("kube-apiserver", f"{self.server}/readyz", client_cert=True)
        t = self._phase("kube-apiserver", t)

        self._start_kcm()
        self._start_scheduler()
        self._install_kwok_crds()
        self._start_kwok()
        self._create_nodes()
        if self.argo:
            self._install_argo()
            t = self._phase("argo-crds", t)
        self._wait_http("kube-controller-manager", f"https://127.0.0.1:{self.ports['kcm']}/healthz")
        self._wait_http("kube-scheduler", f"https://127.0.0.1:{self.ports['scheduler']}/healthz")
        self._wait_http("kwok", f"https://127.0.0.1:{self.ports['kwok']}/healthz")
        t = self._phase("controllers", t)

        self._wait_nodes_ready()
        t = self._phase("nodes-ready", t)
        if self.argo:
            self._start_argo()
            self._wait_http(
                "workflow-controller",
                f"http://127.0.0.1:{self.ports['argo_metrics']}/metrics",
            )
            self._phase("workflow-controller", t)

    def _write_pki(self) -> None:
        self.ca = CertificateAuthority()
        serving = self.ca.issue(
            "kube-apiserver",
            dns_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            ip_addresses=("127.0.0.1", str(next(ipaddress.ip_network(SERVICE_CIDR).hosts()))),
            server=True,
        )
        self._admin = self.ca.issue("admin", organizations=("system:masters",), client=True)
        sa_key = ec.generate_private_key(ec.SECP256R1())
        files = {
            "ca.crt": self.ca.pair.cert_pem,
            "ca.key": self.ca.pair.key_pem,
            "serving.crt": serving.cert_pem,
            "serving.key": serving.key_pem,
            "admin.crt": self._admin.cert_pem,
            "admin.key": self._admin.key_pem,
            "sa.key": _key_pem(sa_key),
            "sa.pub": sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        }
        for name, data in files.items():
            (self.pki_dir / name).write_bytes(data)
            (self.pki_dir / name).chmod(0o600)
        write_kubeconfig(
            self.kubeconfig_path,
            server=f"https://127.0.0.1:{self.ports['apiserver']}",
            ca_pem=self.ca.pair.cert_pem,
            user="admin",
            client=self._admin,
        )

    def _spawn(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str] | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        log_path = self.logs_dir / f"{name}.log"
        component = Component(name, argv, log_path, stop_signal=stop_signal)
        self.components[name] = component
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("KUBECONFIG")}
        full_env.update(env or {})
        with log_path.open("ab") as log:
            log.write(f"$ {' '.join(argv)}\n".encode())
            log.flush()
            component.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=full_env,
                start_new_session=True,
                # PR_SET_PDEATHSIG follows the thread that forks: only tie the children to the
                # main thread, which lives as long as the process.
                preexec_fn=_die_with_parent if _on_linux_main_thread() else None,
            )
        component.started_at = time.monotonic()

    def _start_etcd(self) -> None:
        client = f"http://127.0.0.1:{self.ports['etcd']}"
        peer = f"http://127.0.0.1:{self.ports['etcd_peer']}"
        self._spawn(
            "etcd",
            [
                str(self.bin_dir / "etcd"),
                "--name=default",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=default={peer}",
                "--unsafe-no-fsync=true",
                "--max-request-bytes=10485760",
                "--quota-backend-bytes=4294967296",
                "--log-level=warn",
            ],
        )

    def _start_apiserver(self) -> None:
        pki = self.pki_dir
        self._spawn(
            "kube-apiserver",
            [
                str(self.bin_dir / "kube"),
                "kube-apiserver",
                f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.ports['apiserver']}",
                f"--cert-dir={self.workdir / 'apiserver'}",
                f"--tls-cert-file={pki / 'serving.crt'}",
                f"--tls-private-key-file={pki / 'serving.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                # Delegated authentication of the controller-manager and scheduler reads this.
                f"--requestheader-client-ca-file={pki / 'ca.crt'}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                # The `kubernetes` Service's endpoint would be 127.0.0.1, which Endpoints
                # validation refuses; nothing in-cluster needs it (no pod really runs).
                "--endpoint-reconciler-type=none",
                "--kubelet-preferred-address-types=InternalIP",
                "--profiling=false",
                "--v=1",
            ],
        )

    def _start_kcm(self) -> None:
        kubeconfig = str(self.kubeconfig_path)
        pki = self.pki_dir
        self._spawn(
            "kube-controller-manager",
            [
                str(self.bin_dir / "kube"),
                "kube-controller-manager",
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.ports['kcm']}",
                f"--cert-dir={self.workdir / 'kcm'}",
                "--controllers=*",
                "--use-service-account-credentials=false",
                f"--root-ca-file={pki / 'ca.crt'}",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}",
                f"--cluster-signing-key-file={pki / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--leader-elect=false",
                "--node-monitor-period=1s",
                # A fault test stops the apiserver for 30 s or more, and kwok cannot renew the
                # node leases meanwhile. With the default grace (50 s) the node lifecycle
                # controller then marks the nodes Unknown; kwok's node-initialize stage
                # re-initialises them with a status without addresses, and pods/log fails
                # ("no preferred addresses found") for the rest of the session.
                "--node-monitor-grace-period=300s",
                "--profiling=false",
                "--v=1",
            ],
        )

    def _start_scheduler(self) -> None:
        kubeconfig = str(self.kubeconfig_path)
        self._spawn(
            "kube-scheduler",
            [
                str(self.bin_dir / "kube"),
                "kube-scheduler",
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.ports['scheduler']}",
                f"--cert-dir={self.workdir / 'scheduler'}",
                "--leader-elect=false",
                "--profiling=false",
                "--v=1",
            ],
        )

    def stage_files(self) -> list[Path]:
        upstream = self.bin_dir / "kwok-stages"
        return [
            upstream / "node-initialize.yaml",
            upstream / "node-heartbeat-with-lease.yaml",
            upstream / "pod-ready.yaml",
            upstream / "pod-delete.yaml",
            STAGES_DIR / "pod-outcome.yaml",
            *self.extra_stage_files,
        ]

    def _start_kwok(self) -> None:
        # One config file: kwok reads a multi-document file of Stage objects.
        docs: list[str] = []
        for path in self.stage_files():
            docs.extend(d for d in path.read_text().split("\n---\n") if d.strip())
        config = self.workdir / "kwok-stages.yaml"
        config.write_text("\n---\n".join(docs))
        port = self.ports["kwok"]
        self._spawn(
            "kwok",
            [
                str(self.bin_dir / "kwok"),
                f"--kubeconfig={self.kubeconfig_path}",
                f"--config={config}",
                "--manage-nodes-with-annotation-selector=" + "=".join(FAKE_NODE_ANNOTATION),
                "--node-ip=127.0.0.1",
                f"--node-port={port}",
                f"--cidr={POD_CIDR}",
                f"--server-address=127.0.0.1:{port}",
                f"--tls-cert-file={self.pki_dir / 'serving.crt'}",
                f"--tls-private-key-file={self.pki_dir / 'serving.key'}",
                "--node-lease-duration-seconds=40",
                "--enable-crds=Logs,ClusterLogs",
            ],
        )

    def _install_kwok_crds(self) -> None:
        api = self.api_client()
        try:
            texts = [p.read_text() for p in sorted((self.bin_dir / "kwok-crds").glob("*.yaml"))]
            plurals = [_server_side_apply_crd(api, text) for text in texts]
            self._wait(
                "kwok CRDs Established",
                lambda: _served(api, "/apis/kwok.x-k8s.io/v1alpha1") >= set(plurals),
            )
        finally:
            api.close()

    def _create_nodes(self) -> None:
        from kubernetes import client as k8s

        api = self.api_client()
        try:
            core = k8s.CoreV1Api(api)
            for name, extra_labels, taints in (
                (NODE, {}, []),
                (TAINTED_NODE, {TAINT["key"]: TAINT["value"]}, [TAINT]),
            ):
                labels = {
                    "type": "kwok",
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    **extra_labels,
                }
                body = {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": name,
                        "labels": labels,
                        "annotations": {
                            FAKE_NODE_ANNOTATION[0]: FAKE_NODE_ANNOTATION[1],
                            "node.alpha.kubernetes.io/ttl": "0",
                        },
                    },
                    "spec": {"taints": taints},
                    "status": {
                        "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                        "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                    },
                }
                core.create_node(body)
        finally:
            api.close()

    def _wait_nodes_ready(self) -> None:
        from kubernetes import client as k8s

        api = self.api_client()
        core = k8s.CoreV1Api(api)

        def ready() -> bool:
            nodes = {n.metadata.name: n for n in core.list_node().items}
            for name in (NODE, TAINTED_NODE):
                node = nodes.get(name)
                if node is None:
                    return False
                conditions = {c.type: c.status for c in node.status.conditions or []}
                if conditions.get("Ready") != "True":
                    return False
                # The node lifecycle controller removes this once it has seen the node Ready.
                if any(t.key == "node.kubernetes.io/not-ready" for t in node.spec.taints or []):
                    return False
            return True

        try:
            self._wait(
                "nodes Ready and untainted", ready, watch=("kwok", "kube-controller-manager")
            )
        finally:
            api.close()

    def _install_argo(self) -> None:
        from kubernetes import client as k8s

        api = self.api_client()
        try:
            crd_dir = self.bin_dir / "argo" / "crds" / self.argo_crds
            texts = [p.read_text() for p in sorted(crd_dir.glob("*.yaml"))]
            # Two at a time: the apiserver's work per CRD (schema, OpenAPI) is CPU-bound.
            with ThreadPoolExecutor(2) as pool:
                plurals = list(pool.map(lambda text: _server_side_apply_crd(api, text), texts))
            core = k8s.CoreV1Api(api)
            core.create_namespace({"metadata": {"name": self.argo_namespace}})
            configmap = yaml.safe_load(
                (self.bin_dir / "argo" / "workflow-controller-configmap.yaml").read_text()
            )
            configmap["data"] = {
                # The controller panics if its metrics port is taken: use a free one, plain HTTP,
                # on which readiness is checked.
                "metricsConfig": yaml.safe_dump(
                    {"enabled": True, "port": self.ports["argo_metrics"], "secure": False}
                ),
                "telemetryConfig": yaml.safe_dump({"enabled": False}),
            }
            core.create_namespaced_config_map(self.argo_namespace, configmap)

            self._wait(
                "Argo CRDs Established",
                lambda: _served(api, "/apis/argoproj.io/v1alpha1") >= set(plurals),
            )
        finally:
            api.close()

    def _start_argo(self) -> None:
        self._spawn(
            "workflow-controller",
            [
                str(self.bin_dir / "workflow-controller"),
                f"--kubeconfig={self.kubeconfig_path}",
                f"--namespace={self.argo_namespace}",
                "--configmap=workflow-controller-configmap",
                "--loglevel=info",
                "--qps=100",
                "--burst=200",
            ],
            # A short requeue time, as Argo's own test setup uses: a pod's change reaches the
            # Workflow's status within about a second instead of ten.
            env={"LEADER_ELECTION_DISABLE": "true", "DEFAULT_REQUEUE_TIME": "1s"},
            # It ignores SIGTERM (its context is not tied to signals) and keeps no state.
            stop_signal=signal.SIGKILL,
        )

    def _check_alive(self, names: Iterable[str] | None = None) -> None:
        for component in self.components.values():
            if names is not None and component.name not in names:
                continue
            if not component.alive():
                code = component.process.returncode if component.process else None
                raise ControlPlaneError(
                    f"{component.name} exited (code {code}) during startup; "
                    f"log {component.log_path}:\n{component.log_tail()}"
                )

    def _wait(
        self,
        what: str,
        condition: Callable[[], bool],
        *,
        timeout: float | None = None,
        watch: Sequence[str] = (),
    ) -> None:
        deadline = time.monotonic() + (timeout or self.startup_timeout)
        last_error: Exception | None = None
        delay = 0.05
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if condition():
                    return
            except Exception as e:
                last_error = e
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        tails = "".join(
            f"\n--- {n} ({self.components[n].log_path}):\n{self.components[n].log_tail()}"
            for n in watch
            if n in self.components
        )
        raise ControlPlaneError(f"timed out waiting for {what} (last error: {last_error}){tails}")

    def _wait_http(self, name: str, url: str, *, client_cert: bool = False) -> None:
        context: ssl.SSLContext | None = None
        if url.startswith("https"):
            context = ssl.create_default_context(cafile=str(self.ca_path))
            context.check_hostname = False
            # The controller-manager and scheduler serve self-signed certificates of their own.
            context.verify_mode = ssl.CERT_REQUIRED if client_cert else ssl.CERT_NONE
            if client_cert:
                context.load_cert_chain(self.pki_dir / "admin.crt", self.pki_dir / "admin.key")

        def ok() -> bool:
            try:
                with urllib.request.urlopen(url, context=context, timeout=2) as response:
                    return bool(response.status == 200)
            except urllib.error.HTTPError:
                return False
            except (urllib.error.URLError, OSError):
                return False

        self._wait(f"{name} ({url})", ok, watch=(name,))
        self.components[name].ready_after = time.monotonic() - self.components[name].started_at


def _server_side_apply_crd(api: Any, text: str) -> str:
    """Server-side applies a CRD given as YAML text (as ``kubectl apply --server-side``).

    Returns the CRD's plural name.

    The full Argo CRDs are 2.5 MB of YAML each: too large for client-side apply's
    last-applied annotation, and slow to parse in pure Python (seconds per file), so the text
    goes to the apiserver as is and only the header is parsed here for the name.
    """
    name = yaml.safe_load(text.split("\nspec:", 1)[0])["metadata"]["name"]
    plural = str(name).split(".", 1)[0]
    serialized = api.param_serialize(
        method="PATCH",
        resource_path=f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}",
        query_params=[("fieldManager", "hybrid-runner-e2e"), ("force", "true")],
        header_params={
            "Content-Type": "application/apply-patch+yaml",
            "Accept": "application/json",
        },
        body=text,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*serialized, _request_timeout=120)
    response.read()
    if not 200 <= response.status < 300:
        raise ControlPlaneError(f"apply of CRD {name}: HTTP {response.status}: {response.data!r}")
    return plural


def _served(api: Any, group_version_path: str) -> set[str]:
    """Resources served under ``/apis/<group>/<version>``: an Established CRD shows here.

    Cheap, unlike listing CRDs, which returns megabytes of schema.
    """
    response = api.call_api(
        *api.param_serialize(
            method="GET",
            resource_path=group_version_path,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        ),
        _request_timeout=10,
    )
    response.read()
    if response.status != 200:
        return set()
    return {str(r["name"]) for r in json.loads(response.data)["resources"]}


def _exists(read: Callable[[], object]) -> bool:
    from kubernetes import client as k8s

    try:
        read()
    except k8s.ApiException as e:
        if e.status == 404:
            return False
        raise
    return True


def _create_or_replace(create: Callable[[], object], replace: Callable[[], object]) -> None:
    from kubernetes import client as k8s

    try:
        create()
    except k8s.ApiException as e:
        if e.status != 409:
            raise
        replace()


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-." else "-" for ch in text.lower()).strip("-.")


def _signal_group(component: Component, sig: signal.Signals) -> None:
    process = component.process
    if process is not None and process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)


def _terminate_all(components: Sequence[Component], timeout: float = 5.0) -> None:
    for component in components:
        _signal_group(component, component.stop_signal)
    deadline = time.monotonic() + timeout
    for component in components:
        if component.process is None:
            continue
        try:
            component.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(component, signal.SIGKILL)
            component.process.wait(5)


def main() -> int:
    cp = LocalControlPlane(keep_workdir=True)
    print("starting the local control plane ...", flush=True)
    try:
        cp.start()
    except ControlPlaneError as e:
        print(f"failed: {e}", file=sys.stderr)
        print(cp.describe(), file=sys.stderr)
        return 1
    print(f"ready in {cp.timings}")
    print(cp.describe())
    print(f"\nexport KUBECONFIG={cp.kubeconfig_path}\n(Ctrl-C stops it)", flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except KeyboardInterrupt:
        pass
    finally:
        cp.stop()
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    sys.exit(main())
