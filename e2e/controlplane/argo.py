"""Argo Workflows' side of the control plane: its CRDs and the workflow-controller's ConfigMap.

The controller itself is started like any component (``components.workflow_controller``); here
is what must exist in the apiserver before it starts.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from e2e.controlplane.kubeapi import server_side_apply_crd

ARGO_NAMESPACE = "argo"
ARGO_API_PATH = "/apis/argoproj.io/v1alpha1"


def install(api: Any, bin_dir: Path, crds: str, namespace: str, metrics_port: int) -> set[str]:
    """Applies Argo's ``full`` or ``minimal`` CRDs, creates ``namespace`` and the controller's
    ConfigMap in it; returns the CRDs' plurals (to wait for)."""
    from kubernetes import client as k8s

    crd_dir = bin_dir / "argo" / "crds" / crds
    texts = [p.read_text() for p in sorted(crd_dir.glob("*.yaml"))]
    # Two at a time: the apiserver's work per CRD (schema, OpenAPI) is CPU-bound.
    with ThreadPoolExecutor(2) as pool:
        plurals = list(pool.map(lambda text: server_side_apply_crd(api, text), texts))
    core = k8s.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": namespace}})
    configmap = yaml.safe_load(
        (bin_dir / "argo" / "workflow-controller-configmap.yaml").read_text()
    )
    configmap["data"] = {
        # The controller panics if its metrics port is taken: use a free one, plain HTTP,
        # on which readiness is checked.
        "metricsConfig": yaml.safe_dump({"enabled": True, "port": metrics_port, "secure": False}),
        "telemetryConfig": yaml.safe_dump({"enabled": False}),
    }
    core.create_namespaced_config_map(namespace, configmap)
    return set(plurals)
