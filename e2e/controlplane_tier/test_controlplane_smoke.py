"""The local control plane itself: Jobs, scheduling, Argo Workflows and RBAC behave for real.

These check the platform the runner's e2e scenarios stand on, with plain API calls.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kubernetes import client as k8s

from e2e.controlplane.cluster import (
    DELAY,
    EXIT_CODE,
    OUTCOME,
    TAINT,
    TAINTED_NODE,
    LocalControlPlane,
)
from e2e.controlplane_tier.support import wait_for

pytestmark = pytest.mark.e2e

ARGO = {"group": "argoproj.io", "version": "v1alpha1", "plural": "workflows"}


def job(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": annotations or {}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox:1.36", "command": ["true"]}],
                },
            },
        },
    }


def job_condition(api: Any, namespace: str, name: str) -> str | None:
    status = k8s.BatchV1Api(api).read_namespaced_job_status(name, namespace).status
    for condition in status.conditions or []:
        if condition.type in ("Complete", "Failed") and condition.status == "True":
            return str(condition.type)
    return None


def describe_pods(api: Any, namespace: str) -> str:
    pods = k8s.CoreV1Api(api).list_namespaced_pod(namespace).items
    return "\n".join(
        f"pod {p.metadata.name}: phase={p.status.phase} node={p.spec.node_name} "
        f"conditions={[(c.type, c.status, c.reason) for c in p.status.conditions or []]}"
        for p in pods
    )


def test_job_pod_completes(api: Any, namespace: str) -> None:
    k8s.BatchV1Api(api).create_namespaced_job(namespace, job("ok"))
    started = time.monotonic()
    condition = wait_for(
        "the Job to finish",
        lambda: job_condition(api, namespace, "ok"),
        timeout=30,
        describe=lambda: describe_pods(api, namespace),
    )
    assert condition == "Complete", describe_pods(api, namespace)
    assert time.monotonic() - started < 30
    (pod,) = k8s.CoreV1Api(api).list_namespaced_pod(namespace, label_selector="job-name=ok").items
    assert pod.status.phase == "Succeeded"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 0


def test_job_pod_fails_when_its_annotation_says_so(
    cluster: LocalControlPlane, api: Any, namespace: str
) -> None:
    annotations = {OUTCOME: "failed", EXIT_CODE: "3", DELAY: "0s"}
    k8s.BatchV1Api(api).create_namespaced_job(namespace, job("bad", annotations))
    condition = wait_for(
        "the Job to finish",
        lambda: job_condition(api, namespace, "bad"),
        timeout=30,
        describe=lambda: describe_pods(api, namespace),
    )
    assert condition == "Failed"
    (pod,) = k8s.CoreV1Api(api).list_namespaced_pod(namespace, label_selector="job-name=bad").items
    assert pod.status.phase == "Failed"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 3

    # Its logs come through the apiserver from kwok, which stands in for the kubelet.
    cluster.set_pod_logs(namespace, pod.metadata.name, "Traceback ...\nValueError: boom")
    core = k8s.CoreV1Api(api)
    tail = wait_for(
        "the pod's logs",
        lambda: _logs(core, namespace, pod.metadata.name, tail_lines=1),
        timeout=10,
    )
    assert tail == "ValueError: boom\n"


def _logs(core: Any, namespace: str, name: str, **kwargs: Any) -> str | None:
    try:
        return str(core.read_namespaced_pod_log(name, namespace, container="main", **kwargs))
    except k8s.ApiException:
        return None


def test_pod_without_toleration_is_unschedulable(api: Any, namespace: str) -> None:
    core = k8s.CoreV1Api(api)
    selector = {TAINT["key"]: TAINT["value"]}
    container = {"name": "main", "image": "busybox:1.36", "command": ["sleep", "inf"]}
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "untolerated"},
            "spec": {"nodeSelector": selector, "containers": [container]},
        },
    )

    _assert_unschedulable_for_the_taint(core, namespace, "untolerated")

    # With the toleration the same pod lands on the tainted node and runs.
    toleration = {"key": TAINT["key"], "operator": "Equal", "value": TAINT["value"]}
    toleration["effect"] = TAINT["effect"]
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "tolerated"},
            "spec": {
                "nodeSelector": selector,
                "tolerations": [toleration],
                "containers": [container],
            },
        },
    )
    pod = wait_for(
        "the tolerated pod to run",
        lambda: (
            p
            if (p := core.read_namespaced_pod("tolerated", namespace)).status.phase == "Running"
            else None
        ),
        timeout=30,
    )
    assert pod.spec.node_name == TAINTED_NODE


def _assert_unschedulable_for_the_taint(core: Any, namespace: str, name: str) -> None:
    """The pod stays PodScheduled=False/Unschedulable, an event says why, the node has the taint."""

    def unschedulable() -> Any:
        pod = core.read_namespaced_pod(name, namespace)
        for c in pod.status.conditions or []:
            if c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable":
                return c
        return None

    condition = wait_for("PodScheduled=False/Unschedulable", unschedulable, timeout=30)
    # Since Kubernetes 1.35 (and patch releases of 1.34) the scheduler no longer names the taint
    # in pod status or events (kubernetes/kubernetes#134740): only that a taint was not tolerated.
    assert "1 node(s) had untolerated taint" in condition.message, condition.message
    events = wait_for(
        "a FailedScheduling event",
        lambda: (
            core.list_namespaced_event(
                namespace, field_selector=f"involvedObject.name={name},reason=FailedScheduling"
            ).items
        ),
        timeout=10,
    )
    assert any("untolerated taint" in (e.message or "") for e in events)
    # The taint itself is on the node, where a diagnosis can read it.
    node = core.read_node(TAINTED_NODE)
    assert [(t.key, t.value, t.effect) for t in node.spec.taints] == [
        (TAINT["key"], TAINT["value"], TAINT["effect"])
    ]


def workflow(name: str, pod_annotations: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "entrypoint": "main",
        "templates": [
            {
                "name": "main",
                "container": {"image": "busybox:1.36", "command": ["echo", "hello"]},
            }
        ],
    }
    if pod_annotations:
        spec["podMetadata"] = {"annotations": pod_annotations}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": spec,
    }


def read_workflow(api: Any, namespace: str, name: str) -> dict[str, Any]:
    wf: dict[str, Any] = k8s.CustomObjectsApi(api).get_namespaced_custom_object(
        ARGO["group"], ARGO["version"], namespace, ARGO["plural"], name
    )
    return wf


def workflow_phase(api: Any, namespace: str, name: str, phases: tuple[str, ...]) -> Any:
    wf = read_workflow(api, namespace, name)
    status = wf.get("status") or {}
    return wf if status.get("phase") in phases else None


def test_argo_workflow_succeeds(api: Any, namespace: str) -> None:
    k8s.CustomObjectsApi(api).create_namespaced_custom_object(
        ARGO["group"], ARGO["version"], namespace, ARGO["plural"], workflow("hello")
    )
    wf = wait_for(
        "the Workflow to finish",
        lambda: workflow_phase(api, namespace, "hello", ("Succeeded", "Failed", "Error")),
        timeout=60,
        describe=lambda: (
            f"{read_workflow(api, namespace, 'hello').get('status')}\n"
            + describe_pods(api, namespace)
        ),
    )
    assert wf["status"]["phase"] == "Succeeded", wf["status"]
    (pod,) = k8s.CoreV1Api(api).list_namespaced_pod(namespace).items
    assert pod.metadata.owner_references[0].kind == "Workflow"
    assert {c.name for c in pod.spec.containers} >= {"main", "wait"}


def test_argo_workflow_terminate(cluster: LocalControlPlane, api: Any, namespace: str) -> None:
    custom = k8s.CustomObjectsApi(api)
    core = k8s.CoreV1Api(api)
    custom.create_namespaced_custom_object(
        ARGO["group"],
        ARGO["version"],
        namespace,
        ARGO["plural"],
        workflow("forever", {OUTCOME: "running"}),
    )
    pod = wait_for(
        "the Workflow's pod to run",
        lambda: next(
            (p for p in core.list_namespaced_pod(namespace).items if p.status.phase == "Running"),
            None,
        ),
        timeout=60,
        describe=lambda: describe_pods(api, namespace),
    )
    wait_for(
        "the Workflow to be Running",
        lambda: workflow_phase(api, namespace, "forever", ("Running",)),
        timeout=30,
    )
    custom.patch_namespaced_custom_object(
        ARGO["group"],
        ARGO["version"],
        namespace,
        ARGO["plural"],
        "forever",
        {"spec": {"shutdown": "Terminate"}},
    )
    # The controller signals the containers through pods/exec, which a simulated pod ignores:
    # end the pod as the signal would have.
    time.sleep(1)
    cluster.finish_pod(namespace, pod.metadata.name, exit_code=143)
    wf = wait_for(
        "the Workflow to stop",
        lambda: workflow_phase(api, namespace, "forever", ("Succeeded", "Failed", "Error")),
        timeout=60,
        describe=lambda: str(read_workflow(api, namespace, "forever").get("status")),
    )
    assert wf["status"]["phase"] == "Failed", wf["status"]
    assert wf["status"]["message"] == "Stopped with strategy 'Terminate'"


def test_rbac_of_a_role_is_enforced(cluster: LocalControlPlane, namespace: str) -> None:
    kubeconfig = cluster.kubeconfig_for_role(
        namespace,
        "pod-reader",
        rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
    )
    limited = cluster.api_client(kubeconfig)
    try:
        with pytest.raises(k8s.ApiException) as refused:
            k8s.BatchV1Api(limited).create_namespaced_job(namespace, job("nope"))
        assert refused.value.status == 403
        message = json.loads(refused.value.body)["message"]
        assert 'User "pod-reader" cannot create resource "jobs"' in message
        # What the Role grants is allowed: a get of a missing pod is 404, not 403.
        with pytest.raises(k8s.ApiException) as missing:
            k8s.CoreV1Api(limited).read_namespaced_pod("absent", namespace)
        assert missing.value.status == 404
    finally:
        limited.close()
