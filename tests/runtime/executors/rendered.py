"""What a Kubernetes executor's dry run renders for one run or schedule: its workload, then the
config Secret it owns. Tests of the builders take the workload from here, after checking that
no config, and so no bot token, is left in the workload itself."""

from __future__ import annotations

import json
from typing import Any

from runtime.executors.kube.pod import CONFIG_KEY


def workload_of(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    """The workload of a rendered run, checked against its config Secret."""
    assert [m["kind"] for m in manifests][1:] == ["Secret"], manifests
    workload, secret = manifests
    name = workload["metadata"]["name"]
    assert secret["metadata"]["name"] == name
    assert secret["metadata"]["namespace"] == workload["metadata"]["namespace"]
    (owner,) = secret["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == (workload["kind"], name)
    assert secret["stringData"][CONFIG_KEY].startswith("(redacted: "), secret
    refs = [e for e in _envs(workload) if e["name"] == CONFIG_KEY]
    assert refs == [
        {"name": CONFIG_KEY, "valueFrom": {"secretKeyRef": {"name": name, "key": CONFIG_KEY}}}
    ]
    assert "jwtToken" not in json.dumps(workload), "the config is inline in the workload"
    return workload


def _envs(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = list(node["env"]) if node.get("name") == "main" and "env" in node else []
        return found + [e for value in node.values() for e in _envs(value)]
    if isinstance(node, list):
        return [e for value in node for e in _envs(value)]
    return []
