"""Issue 24 on the local control plane, both executors: a deadline that fires, a waiting run's
deadline that does not run down while it waits, and a scheduled run's id.

The real Job controller counts a Job's ``activeDeadlineSeconds`` from its resume; Argo's
workflow-controller counts a Workflow's from ``startedAt``, set when it was created suspended:
the runner sets the deadline again when it resumes a Workflow, plus the time it waited. The
test holds the one slot (MAX_ACTIVE_RUNS=1) with a run whose pod never ends, so it fails
``DeadlineExceeded``, while a second run waits longer than its own deadline and must then
succeed. The first run's deadline comes from its pipeline type (``activeDeadlineSeconds`` in
``*_PIPELINE_TYPE_CONFIGS``), the second's from RUN_TIMEOUT_SECONDS. (For Argo the pod's own
deadline, which Argo sets and a kubelet enforces, is enforced by the test: kwok does not.)

A scheduled run is made here from its CronWorkflow / CronJob the way the cron controllers make
one (the template's metadata and spec, an ownerReference): waiting in the queue like any run
(the cap holds for schedules too), then resumed; its pod's ``pipelineRunId`` is the workload's
uid (Argo substitutes ``{{workflow.uid}}``; a Job's pod carries the Job controller's
``batch.kubernetes.io/controller-uid`` label the Downward API reads), which is the ``runId``
the runner reports.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from typing import Any

import pytest
from kubernetes import client as k8s

from e2e.runner_kit import (
    AGENT,
    ARGO,
    EXECUTORS,
    FQN_OK,
    FQN_RUNNING,
    Deployment,
    eventually,
    new_run_id,
    pipeline_config,
    run_frame,
    running_pod,
)

pytestmark = pytest.mark.e2e
DEADLINE, HELD = 6, 10
FINAL = ("success", "failed", "stopped")


async def launch(d: Deployment, run_id: str, fqn: str, pipeline_type: str = "metadata") -> float:
    """Launch; when the request was sent (its workload is made after)."""
    sent = time.monotonic()
    reply = await d.request(run_frame(run_id, fqn, pipeline_type))
    assert reply["ok"] and reply["result"]["state"] == "queued", reply
    return sent


def kubelet_deadline(d: Deployment, run_id: str) -> None:
    """What a kubelet does to a pod past its ``activeDeadlineSeconds`` (Argo gives each pod the
    time its Workflow has left), which kwok does not: fail it, reason DeadlineExceeded. Argo
    itself acts on a Workflow's deadline only when something about it changes."""
    core = k8s.CoreV1Api(d.admin)
    pod = running_pod(d, run_id)
    assert pod is not None and pod.spec.active_deadline_seconds, "Argo gave the pod its deadline"
    ends = pod.status.start_time.timestamp() + pod.spec.active_deadline_seconds
    time.sleep(max(0.0, ends - time.time()))
    status = {
        "phase": "Failed",
        "reason": "DeadlineExceeded",
        "message": "Pod was active on the node longer than the specified deadline",
    }
    core.patch_namespaced_pod_status(pod.metadata.name, d.namespace, {"status": status})


async def waits_for_a_slot(d: Deployment, run_id: str) -> dict[str, Any]:
    """The run_update saying the run waits (a first plain ``queued`` may come before it)."""
    return await d.server.wait_event(
        AGENT,
        lambda e: e.get("runId") == run_id and e.get("reason") == "MaxActiveRuns",
        timeout=20,
    )


@pytest.mark.parametrize("executor", EXECUTORS)
async def test_a_deadline_fires_and_a_waiting_runs_deadline_waits_with_it(
    deploy: Any, executor: str
) -> None:
    d: Deployment = await deploy(executor)
    variable = (
        "ARGO_PIPELINE_TYPE_CONFIGS" if executor == "argo" else "SIMPLEK8S_PIPELINE_TYPE_CONFIGS"
    )
    # The stuck run's type has a longer deadline: the run behind it waits longer than its own.
    configs = json.dumps({"profiler": {"activeDeadlineSeconds": HELD}})
    await d.start_runner(
        MAX_ACTIVE_RUNS="1", RUN_TIMEOUT_SECONDS=str(DEADLINE), **{variable: configs}
    )
    stuck, waiting = new_run_id(), new_run_id()
    stuck_at = await launch(d, stuck, FQN_RUNNING, "profiler")
    await d.wait_state(stuck, "running", timeout=60)
    launched_at = await launch(d, waiting, FQN_OK)
    await waits_for_a_slot(d, waiting)

    if executor == "argo":
        await asyncio.to_thread(kubelet_deadline, d, stuck)
    failed = await d.wait_state(stuck, *FINAL, timeout=60)
    assert (failed["state"], failed.get("reason")) == ("failed", "DeadlineExceeded"), failed
    assert failed["message"] == (
        f"ran longer than its deadline of {HELD}s (activeDeadlineSeconds={HELD} of pipeline "
        f"type profiler in {variable}); raise it there"
    ), failed
    lasted = time.monotonic() - stuck_at
    # Whole seconds: a Job's startTime; for Argo also the pod's share of the Workflow's time
    # and the pod's startTime, which the kubelet counts from: each rounds down.
    assert lasted >= HELD - (1 if executor == "simpleK8s" else 3), "not before its deadline"

    running = await d.wait_state(waiting, "running", *FINAL, timeout=60)
    waited = time.monotonic() - launched_at
    done = await d.wait_state(waiting, *FINAL, timeout=60)
    assert (running["state"], done["state"]) == ("running", "success"), (done, d.describe())
    assert waited > DEADLINE, "it waited longer than its own deadline, and still ran"
    (workload,) = await asyncio.to_thread(d.workloads, waiting)
    if executor == "argo":
        # Set again at the resume: the limit plus the time it waited suspended.
        assert workload["spec"]["activeDeadlineSeconds"] > DEADLINE, workload["spec"]
    print(
        f"\n{executor}: DeadlineExceeded {lasted:.1f} s after the launch (deadline {HELD} s); "
        f"the run behind it (deadline {DEADLINE} s) waited {waited:.1f} s, then succeeded"
    )


def schedule_frame(fqn: str) -> dict[str, Any]:
    return {
        "type": "deploy_pipeline",
        "pipelineFqn": fqn,
        "pipelineType": "metadata",
        "schedule": "0 2 * * *",
        "config": pipeline_config(fqn),
    }


def fire(d: Deployment, schedule: dict[str, Any]) -> dict[str, Any]:
    """What the cron controller makes of ``schedule`` at its next time (as the admin)."""
    name = f"{schedule['metadata']['name']}-{int(time.time())}"
    owner = {  # a listed item has no apiVersion or kind of its own
        "apiVersion": "argoproj.io/v1alpha1" if d.executor == "argo" else "batch/v1",
        "kind": "CronWorkflow" if d.executor == "argo" else "CronJob",
        "name": schedule["metadata"]["name"],
        "uid": schedule["metadata"]["uid"],
        "controller": True,
    }
    if d.executor == "argo":
        template, spec = schedule["spec"]["workflowMetadata"], schedule["spec"]["workflowSpec"]
        kind, api_version = "Workflow", "argoproj.io/v1alpha1"
    else:
        template = schedule["spec"]["jobTemplate"]["metadata"]
        spec = schedule["spec"]["jobTemplate"]["spec"]
        kind, api_version = "Job", "batch/v1"
    body = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": d.namespace,
            "labels": dict(template["labels"]),
            "annotations": dict(template["annotations"]),
            "ownerReferences": [owner],
        },
        "spec": copy.deepcopy(spec),
    }
    if d.executor == "argo":
        made: dict[str, Any] = k8s.CustomObjectsApi(d.admin).create_namespaced_custom_object(
            ARGO["group"], ARGO["version"], d.namespace, "workflows", body
        )
        return made
    job = k8s.BatchV1Api(d.admin).create_namespaced_job(d.namespace, body)
    created: dict[str, Any] = d.admin.sanitize_for_serialization(job)
    return created


def pod_of(d: Deployment, workload: dict[str, Any]) -> Any:
    uid = workload["metadata"]["uid"]
    for pod in d.pods():
        if any(o.uid == uid for o in pod.metadata.owner_references or []):
            return pod
    return None


@pytest.mark.parametrize("executor", EXECUTORS)
async def test_a_scheduled_run_waits_its_turn_and_its_pod_knows_its_run_id(
    deploy: Any, executor: str
) -> None:
    d: Deployment = await deploy(executor)
    await d.start_runner(MAX_ACTIVE_RUNS="1")
    holder = new_run_id()
    await launch(d, holder, FQN_RUNNING)
    await d.wait_state(holder, "running", timeout=60)
    fqn = f"{FQN_OK}_scheduled"
    deployed = await d.request(schedule_frame(fqn))
    assert deployed["ok"], deployed
    (schedule,) = await asyncio.to_thread(d.schedules)
    workload = await asyncio.to_thread(fire, d, schedule)
    uid, name = workload["metadata"]["uid"], workload["metadata"]["name"]
    assert workload["spec"]["suspend"] is True, "with a cap a schedule's runs wait in the queue"

    assert (await waits_for_a_slot(d, uid))["runName"] == name
    pod = await eventually("the holder's pod", lambda: running_pod(d, holder))
    assert (await d.request({"type": "kill", "runId": holder}))["ok"]
    if executor == "argo":  # a simulated pod ignores Argo's signals: end it as they would
        await asyncio.to_thread(d.cluster.finish_pod, d.namespace, pod.metadata.name)
    final = await d.wait_state(uid, *FINAL, timeout=60)
    assert (final["state"], final["runName"]) == ("success", name), (final, d.describe())

    scheduled_pod = await eventually("the scheduled run's pod", lambda: pod_of(d, workload))
    (main,) = [c for c in scheduled_pod.spec.containers if c.name == "main"]
    (run_id,) = [e for e in main.env if e.name == "pipelineRunId"]
    if executor == "argo":
        assert run_id.value == uid, "Argo substituted {{workflow.uid}}"
    else:
        assert run_id.value_from.field_ref.field_path == (
            "metadata.labels['batch.kubernetes.io/controller-uid']"
        )
        assert scheduled_pod.metadata.labels["batch.kubernetes.io/controller-uid"] == uid
    status = await d.request({"type": "status", "runId": uid})
    assert status["result"]["runs"][0]["runName"] == name, status
