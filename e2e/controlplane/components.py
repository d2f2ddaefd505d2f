"""The command line of each control-plane process, in the order they start.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and Argo's
workflow-controller: what each is told (ports, certificates, kubeconfig, flags) and why, as pure
functions of a ``Layout``, so ``start()`` and a fault test's ``start_component`` run the very
same command.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from e2e.controlplane.kwok import FAKE_NODE_ANNOTATION

SERVICE_CIDR = "10.0.0.0/24"  # virtual: no kube-proxy, nothing ever connects to a ClusterIP
POD_CIDR = "127.1.0.0/16"  # simulated pods get loopback addresses, so nothing leaves the host
PORTS = ("etcd", "etcd_peer", "apiserver", "kcm", "scheduler", "kwok", "argo_metrics")
ORDER = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "workflow-controller",
)


@dataclass(frozen=True)
class Layout:
    """Where a control plane's files are and which ports it listens on."""

    bin_dir: Path
    workdir: Path
    pki_dir: Path
    ports: Mapping[str, int]
    kubeconfig: Path
    argo_namespace: str
    stage_files: Sequence[Path]


@dataclass(frozen=True)
class Command:
    argv: list[str]
    env: Mapping[str, str] | None = None
    stop_signal: signal.Signals = signal.SIGTERM


def etcd(layout: Layout) -> Command:
    client = f"http://127.0.0.1:{layout.ports['etcd']}"
    peer = f"http://127.0.0.1:{layout.ports['etcd_peer']}"
    return Command(
        [
            str(layout.bin_dir / "etcd"),
            "--name=default",
            f"--data-dir={layout.workdir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}",
            "--unsafe-no-fsync=true",
            "--max-request-bytes=10485760",
            "--quota-backend-bytes=4294967296",
            "--log-level=warn",
        ]
    )


def apiserver(layout: Layout) -> Command:
    pki = layout.pki_dir
    return Command(
        [
            str(layout.bin_dir / "kube"),
            "kube-apiserver",
            f"--etcd-servers=http://127.0.0.1:{layout.ports['etcd']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={layout.ports['apiserver']}",
            f"--cert-dir={layout.workdir / 'apiserver'}",
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
        ]
    )


def controller_manager(layout: Layout) -> Command:
    kubeconfig = str(layout.kubeconfig)
    pki = layout.pki_dir
    return Command(
        [
            str(layout.bin_dir / "kube"),
            "kube-controller-manager",
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={layout.ports['kcm']}",
            f"--cert-dir={layout.workdir / 'kcm'}",
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
        ]
    )


def scheduler(layout: Layout) -> Command:
    kubeconfig = str(layout.kubeconfig)
    return Command(
        [
            str(layout.bin_dir / "kube"),
            "kube-scheduler",
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={layout.ports['scheduler']}",
            f"--cert-dir={layout.workdir / 'scheduler'}",
            "--leader-elect=false",
            "--profiling=false",
            "--v=1",
        ]
    )


def kwok(layout: Layout) -> Command:
    """Writes kwok's stage file (one multi-document file of Stage objects), then its command."""
    docs: list[str] = []
    for path in layout.stage_files:
        docs.extend(d for d in path.read_text().split("\n---\n") if d.strip())
    config = layout.workdir / "kwok-stages.yaml"
    config.write_text("\n---\n".join(docs))
    port = layout.ports["kwok"]
    return Command(
        [
            str(layout.bin_dir / "kwok"),
            f"--kubeconfig={layout.kubeconfig}",
            f"--config={config}",
            "--manage-nodes-with-annotation-selector=" + "=".join(FAKE_NODE_ANNOTATION),
            "--node-ip=127.0.0.1",
            f"--node-port={port}",
            f"--cidr={POD_CIDR}",
            f"--server-address=127.0.0.1:{port}",
            f"--tls-cert-file={layout.pki_dir / 'serving.crt'}",
            f"--tls-private-key-file={layout.pki_dir / 'serving.key'}",
            "--node-lease-duration-seconds=40",
            "--enable-crds=Logs,ClusterLogs",
        ]
    )


def workflow_controller(layout: Layout) -> Command:
    return Command(
        [
            str(layout.bin_dir / "workflow-controller"),
            f"--kubeconfig={layout.kubeconfig}",
            f"--namespace={layout.argo_namespace}",
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


COMMANDS: Mapping[str, Callable[[Layout], Command]] = {
    "etcd": etcd,
    "kube-apiserver": apiserver,
    "kube-controller-manager": controller_manager,
    "kube-scheduler": scheduler,
    "kwok": kwok,
    "workflow-controller": workflow_controller,
}
