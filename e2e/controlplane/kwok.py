"""kwok's side of the control plane: the fake nodes, the simulated pods' fate and their logs.

kwok manages the nodes annotated ``kwok.x-k8s.io/node=fake`` and moves pods through its stages
(``stages/pod-outcome.yaml`` reads the annotations below). What ``pods/log`` returns is chosen
with kwok's ``Logs`` / ``ClusterLogs`` objects naming a CRI log file; ``finish_pod`` writes the
terminated status a kubelet would, for pods that a signal should have ended.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from e2e.controlplane.binaries import STAGES_DIR
from e2e.controlplane.kubeapi import create_or_replace, server_side_apply_crd, slug

FAKE_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
NODE = "kwok-node-0"
TAINTED_NODE = "kwok-node-tainted"
TAINT = {"key": "dedicated", "value": "metadata", "effect": "NoSchedule"}

# Annotations read by stages/pod-outcome.yaml.
OUTCOME = "e2e.hybrid-runner/outcome"
DELAY = "e2e.hybrid-runner/delay"
EXIT_CODE = "e2e.hybrid-runner/exit-code"
MESSAGE = "e2e.hybrid-runner/message"

KWOK_API = ("kwok.x-k8s.io", "v1alpha1")
KWOK_API_PATH = "/apis/kwok.x-k8s.io/v1alpha1"


def stage_files(bin_dir: Path, extra: Iterable[Path] = ()) -> list[Path]:
    upstream = bin_dir / "kwok-stages"
    return [
        upstream / "node-initialize.yaml",
        upstream / "node-heartbeat-with-lease.yaml",
        upstream / "pod-ready.yaml",
        upstream / "pod-delete.yaml",
        STAGES_DIR / "pod-outcome.yaml",
        *extra,
    ]


def apply_crds(api: Any, bin_dir: Path) -> set[str]:
    """Applies kwok's ``Logs``/``ClusterLogs`` CRDs; returns their plurals (to wait for)."""
    texts = [p.read_text() for p in sorted((bin_dir / "kwok-crds").glob("*.yaml"))]
    return {server_side_apply_crd(api, text) for text in texts}


def node_body(name: str, extra_labels: dict[str, str], taints: list[Any]) -> dict[str, Any]:
    labels = {
        "type": "kwok",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        **extra_labels,
    }
    return {
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


def create_nodes(api: Any) -> None:
    """``kwok-node-0``, and ``kwok-node-tainted`` labelled and tainted with ``TAINT``."""
    from kubernetes import client as k8s

    core = k8s.CoreV1Api(api)
    core.create_node(node_body(NODE, {}, []))
    core.create_node(node_body(TAINTED_NODE, {TAINT["key"]: TAINT["value"]}, [TAINT]))


def nodes_ready(core: Any) -> bool:
    """Both nodes Ready, and the node lifecycle controller has removed their not-ready taint."""
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


def write_cri_log(workdir: Path, name: str, text: str) -> Path:
    """``text`` as a log file in the CRI format a kubelet reads from disk (kwok serves it)."""
    directory = workdir / "pod-logs"
    directory.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
    lines = [f"{stamp} stdout F {line}" for line in text.splitlines()]
    path = directory / f"{slug(name)}.log"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def pod_logs(namespace: str, pod: str, path: Path, containers: Sequence[str]) -> dict[str, Any]:
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Logs",
        "metadata": {"name": pod, "namespace": namespace},
        "spec": {"logs": [{"containers": list(containers), "logsFile": str(path)}]},
    }


def namespace_logs(namespace: str, path: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "ClusterLogs",
        "metadata": {"name": f"ns-{namespace}"},
        "spec": {
            "selector": {"matchNamespaces": [namespace]},
            "logs": [{"containers": [], "logsFile": str(path)}],
        },
    }


def apply_object(api: Any, body: dict[str, Any], *, namespaced: bool) -> None:
    """Creates a kwok object, or patches its spec if it exists."""
    from kubernetes import client as k8s

    custom = k8s.CustomObjectsApi(api)
    plural = body["kind"].lower()
    name = body["metadata"]["name"]
    patch = {"spec": body["spec"]}
    if namespaced:
        ns = body["metadata"]["namespace"]
        create_or_replace(
            lambda: custom.create_namespaced_custom_object(*KWOK_API, ns, plural, body),
            lambda: custom.patch_namespaced_custom_object(*KWOK_API, ns, plural, name, patch),
        )
    else:
        create_or_replace(
            lambda: custom.create_cluster_custom_object(*KWOK_API, plural, body),
            lambda: custom.patch_cluster_custom_object(*KWOK_API, plural, name, patch),
        )


def terminated_statuses(
    pod: Any, exit_code: int, reason: str, message: str | None
) -> list[dict[str, Any]]:
    """Every container terminated with ``exit_code`` (Argo's ``wait`` with 0, Completed)."""
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
    return statuses


def finish_pod(
    api: Any, namespace: str, name: str, exit_code: int, reason: str, message: str | None
) -> None:
    """Writes the pod's terminated status: phase Failed, or Succeeded for exit code 0."""
    from kubernetes import client as k8s

    core = k8s.CoreV1Api(api)
    pod = core.read_namespaced_pod(name, namespace)
    statuses = terminated_statuses(pod, exit_code, reason, message)
    phase = "Succeeded" if exit_code == 0 else "Failed"
    core.patch_namespaced_pod_status(
        name, namespace, {"status": {"phase": phase, "containerStatuses": statuses}}
    )
