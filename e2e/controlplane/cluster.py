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

This module holds the ``LocalControlPlane`` a session uses and its lifecycle; the parts live
beside it: ``binaries`` (finding the build), ``pki`` (certificates), ``kubeconfig``,
``components`` (each process's command line), ``processes`` (spawning and stopping them),
``health`` (waiting), ``kwok`` (nodes, simulated pods, logs), ``argo``, ``kubeapi``, and the
class's two mixins: ``access`` (using the cluster) and ``faults`` (stopping and starting
components). The names other code imports from here are re-exported.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType

from e2e.controlplane import argo, components, kwok
from e2e.controlplane.access import ClusterAccess
from e2e.controlplane.argo import ARGO_NAMESPACE
from e2e.controlplane.binaries import (
    BINARIES,
    CACHE,
    DATA_FILES,
    HERE,
    STAGES_DIR,
    VERSIONS_FILE,
    cache_key_prefix,
    find_bin_dir,
    missing_in,
    read_versions,
)
from e2e.controlplane.components import POD_CIDR, SERVICE_CIDR, Layout
from e2e.controlplane.errors import ControlPlaneError
from e2e.controlplane.faults import ComponentControl
from e2e.controlplane.health import check_alive, wait_http, wait_until
from e2e.controlplane.kubeapi import served
from e2e.controlplane.kubeconfig import write_kubeconfig
from e2e.controlplane.kwok import (
    DELAY,
    EXIT_CODE,
    FAKE_NODE_ANNOTATION,
    MESSAGE,
    NODE,
    OUTCOME,
    TAINT,
    TAINTED_NODE,
)
from e2e.controlplane.pki import CertificateAuthority, KeyPair, write_pki
from e2e.controlplane.processes import (
    Component,
    StartupTimings,
    free_port,
    spawn,
    terminate_all,
)

__all__ = [
    "ARGO_NAMESPACE",
    "BINARIES",
    "CACHE",
    "DATA_FILES",
    "DELAY",
    "EXIT_CODE",
    "FAKE_NODE_ANNOTATION",
    "HERE",
    "MESSAGE",
    "NODE",
    "OUTCOME",
    "POD_CIDR",
    "SERVICE_CIDR",
    "STAGES_DIR",
    "TAINT",
    "TAINTED_NODE",
    "VERSIONS_FILE",
    "CertificateAuthority",
    "Component",
    "ControlPlaneError",
    "KeyPair",
    "LocalControlPlane",
    "StartupTimings",
    "cache_key_prefix",
    "find_bin_dir",
    "free_port",
    "main",
    "missing_in",
    "read_versions",
    "write_kubeconfig",
]


class LocalControlPlane(ClusterAccess, ComponentControl):
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

    def stage_files(self) -> list[Path]:
        return kwok.stage_files(self.bin_dir, self.extra_stage_files)

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
        running = list(self.components.values())
        controllers = [c for c in running if c.name not in ("kube-apiserver", "etcd")]
        for group in (
            controllers,
            [self.components.get("kube-apiserver")],
            [self.components.get("etcd")],
        ):
            terminate_all([c for c in group if c is not None])
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
        for name in components.PORTS:
            self.ports[name] = free_port()
        self._write_pki()
        t = self._phase("pki", t0)
        for name in ("etcd", "kube-apiserver"):
            self._launch(name)
            self._wait_healthy(name)
            t = self._phase(name, t)
        self._launch("kube-controller-manager")
        self._launch("kube-scheduler")
        self._install_kwok_crds()
        self._launch("kwok")
        with self._admin_api() as api:
            kwok.create_nodes(api)
        if self.argo:
            self._install_argo()
            t = self._phase("argo-crds", t)
        for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
            self._wait_healthy(name)
        t = self._phase("controllers", t)
        self._wait_nodes_ready()
        t = self._phase("nodes-ready", t)
        if self.argo:
            self._launch("workflow-controller")
            self._wait_healthy("workflow-controller")
            self._phase("workflow-controller", t)

    def _write_pki(self) -> None:
        self.ca, self._admin = write_pki(self.pki_dir, SERVICE_CIDR)
        write_kubeconfig(
            self.kubeconfig_path,
            server=f"https://127.0.0.1:{self.ports['apiserver']}",
            ca_pem=self.ca.pair.cert_pem,
            user="admin",
            client=self._admin,
        )

    def _layout(self) -> Layout:
        return Layout(
            bin_dir=self.bin_dir,
            workdir=self.workdir,
            pki_dir=self.pki_dir,
            ports=self.ports,
            kubeconfig=self.kubeconfig_path,
            argo_namespace=self.argo_namespace,
            stage_files=self.stage_files(),
        )

    def _launch(self, name: str) -> None:
        launch = components.COMMANDS[name](self._layout())
        spawn(
            name,
            launch.argv,
            into=self.components,
            logs_dir=self.logs_dir,
            cwd=self.workdir,
            env=launch.env,
            stop_signal=launch.stop_signal,
        )

    def _install_kwok_crds(self) -> None:
        with self._admin_api() as api:
            plurals = kwok.apply_crds(api, self.bin_dir)
            self._wait("kwok CRDs Established", lambda: served(api, kwok.KWOK_API_PATH) >= plurals)

    def _wait_nodes_ready(self) -> None:
        from kubernetes import client as k8s

        with self._admin_api() as api:
            core = k8s.CoreV1Api(api)
            self._wait(
                "nodes Ready and untainted",
                lambda: kwok.nodes_ready(core),
                watch=("kwok", "kube-controller-manager"),
            )

    def _install_argo(self) -> None:
        with self._admin_api() as api:
            plurals = argo.install(
                api, self.bin_dir, self.argo_crds, self.argo_namespace, self.ports["argo_metrics"]
            )
            self._wait("Argo CRDs Established", lambda: served(api, argo.ARGO_API_PATH) >= plurals)

    def _check_alive(self, names: Iterable[str] | None = None) -> None:
        check_alive(self.components, names)

    def _wait(
        self,
        what: str,
        condition: Callable[[], bool],
        *,
        timeout: float | None = None,
        watch: Sequence[str] = (),
    ) -> None:
        wait_until(
            what,
            condition,
            components=self.components,
            timeout=timeout or self.startup_timeout,
            watch=watch,
        )

    def _wait_http(self, name: str, url: str, *, client_cert: bool = False) -> None:
        wait_http(
            name,
            url,
            components=self.components,
            pki_dir=self.pki_dir,
            timeout=self.startup_timeout,
            client_cert=client_cert,
        )

    def _wait_healthy(self, name: str) -> None:
        url, client_cert = self.health_url(name)
        self._wait_http(name, url, client_cert=client_cert)


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
