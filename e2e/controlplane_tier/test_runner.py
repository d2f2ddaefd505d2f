"""The runner against the local control plane: both executors, the chart's RBAC enforced.

Scenarios of issue 6 (see docs/testing.md for which run here and how long they take).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from e2e.controlplane.cluster import TAINTED_NODE
from e2e.runner_kit import (
    AGENT,
    EXECUTORS,
    FQN_FAILED,
    FQN_OK,
    FQN_RUNNING,
    Deployment,
    eventually,
    new_run_id,
    pipeline_config,
    run_frame,
)
from runtime.devkit.reference_server import ReferenceServer

MESSAGES = Path(__file__).resolve().parents[2] / "tests" / "messages"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((MESSAGES / name).read_text())
    return data


pytestmark = pytest.mark.e2e

MANAGED_BY = ("app.kubernetes.io/managed-by", "hybrid-ingestion-runner")


def in_order(seq: list[str], wanted: list[str]) -> bool:
    """``wanted`` is a subsequence of ``seq``."""
    it = iter(seq)
    return all(any(x == w for x in it) for w in wanted)


@pytest.mark.parametrize("executor", EXECUTORS)
async def test_run_pipeline_succeeds(deploy: Any, executor: str) -> None:
    d: Deployment = await deploy(executor)
    await d.start_runner()
    run_id = new_run_id()
    reply = await d.request(run_frame(run_id))
    assert reply["ok"] is True, reply
    assert reply["result"]["state"] == "queued", reply

    (workload,) = await eventually("the run's workload", lambda: d.workloads(run_id))
    meta = workload["metadata"]
    labels = meta["labels"]
    assert labels[MANAGED_BY[0]] == MANAGED_BY[1]
    assert labels["hybrid-runner.io/agent-id"] == AGENT
    assert labels["hybrid-runner.io/run-id"] == run_id
    assert labels["hybrid-runner.io/pipeline-type"] == "metadata"
    assert labels["hybrid-runner.io/kind"] == "pipeline"
    assert labels["hybrid-runner.io/pipeline"] == FQN_OK
    assert meta["annotations"]["hybrid-runner.io/pipeline-fqn"] == FQN_OK
    assert meta["annotations"]["hybrid-runner.io/run-id"] == run_id
    env = {e["name"]: e.get("value") for e in d.main_container(workload)["env"]}
    assert env["pipelineType"] == "metadata"
    assert env["pipelineRunId"] == run_id
    assert env["ingestionPipelineFQN"] == FQN_OK
    assert env["config"] is None, "the config (the bot's token) is not in the workload"
    config = d.run_config(workload)
    assert config["ingestionPipelineFQN"] == FQN_OK
    assert config["source"]["serviceName"] == "e2e_svc"

    await d.wait_state(run_id, "success", "failed", timeout=60)
    status = await d.request({"type": "status", "runId": run_id})
    assert status["ok"] is True, status
    (run,) = status["result"]["runs"]
    assert run["state"] == "success", (run, d.describe())
    states = d.states(run_id)
    # Strictly in order: a run is running once its pod is, never running -> queued -> running
    # (docs/testing.md, "Runner bugs found", 2). queued can repeat with a new reason.
    changes = [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]
    assert changes == ["queued", "running", "success"], states


@pytest.mark.parametrize("executor", EXECUTORS)
async def test_failing_pod_fails_with_reason_and_logs(
    deploy: Any, executor: str, cluster: Any, namespace: str
) -> None:
    d: Deployment = await deploy(executor)
    # Every pod of the namespace logs this (kwok ClusterLogs), set before the pod exists so the
    # runner's capture at the end of the run sees it.
    text = "starting ingestion\nTraceback (most recent call last):\nValueError: boom"
    cluster.set_namespace_logs(namespace, text)
    await d.start_runner()
    run_id = new_run_id()
    reply = await d.request(run_frame(run_id, FQN_FAILED))
    assert reply["ok"] is True, reply
    final = await d.wait_state(run_id, "success", "failed", timeout=60)
    assert final["state"] == "failed", (final, d.describe())
    assert final.get("reason"), final
    status = await d.request({"type": "status", "runId": run_id})
    (run,) = status["result"]["runs"]
    assert run["state"] == "failed"
    assert run["reason"], run
    assert in_order(d.states(run_id), ["queued", "failed"]), d.states(run_id)

    logs = await d.request({"type": "logs", "runId": run_id, "after": "0"})
    assert logs["ok"] is True, logs
    assert "ValueError: boom" in logs["result"]["content"], logs


@pytest.mark.parametrize("executor", EXECUTORS)
async def test_kill_of_a_finished_or_unknown_run(deploy: Any, executor: str) -> None:
    d: Deployment = await deploy(executor)
    await d.start_runner()
    done = new_run_id()
    assert (await d.request(run_frame(done)))["ok"]
    await d.wait_state(done, "success", "failed", timeout=60)
    killed_done = await d.request({"type": "kill", "runId": done})
    assert killed_done["ok"] is True, killed_done
    assert killed_done["result"]["runs"][0]["state"] == "success", killed_done
    status = await d.request({"type": "status", "runId": done})
    assert status["result"]["runs"][0]["state"] == "success", status

    unknown = await d.request({"type": "kill", "runId": "no-such-run"})
    assert unknown["ok"] is False
    assert unknown["error"]["code"] == "not_found", unknown


@pytest.mark.parametrize("executor", ["argo", "simpleK8s"])
async def test_kill_of_a_running_run(
    deploy: Any, executor: str, cluster: Any, namespace: str
) -> None:
    d: Deployment = await deploy(executor)
    await d.start_runner()
    run_id = new_run_id()
    assert (await d.request(run_frame(run_id, FQN_RUNNING)))["ok"]
    await d.wait_state(run_id, "running", timeout=60)
    pod = await eventually(
        "the running pod",
        lambda: next(
            (
                p
                for p in d.pods()
                if p.status.phase == "Running"
                and p.metadata.labels.get("hybrid-runner.io/run-id") == run_id
            ),
            None,
        ),
        describe=d.describe,
    )
    killed = await d.request({"type": "kill", "runId": run_id})
    assert killed["ok"] is True, killed
    if executor == "argo":
        # Argo signals the containers through pods/exec, which simulated pods ignore: end the pod
        # as the signal would have.
        await eventually(
            "spec.shutdown on the Workflow",
            lambda: (d.workloads(run_id) or [{}])[0].get("spec", {}).get("shutdown"),
        )
        cluster.finish_pod(namespace, pod.metadata.name, exit_code=143)
    final = await d.wait_state(run_id, "stopped", "failed", "success", timeout=60)
    assert final["state"] == "stopped", (final, d.describe())
    status = await d.request({"type": "status", "runId": run_id})
    assert status["result"]["runs"][0]["state"] == "stopped", status


@pytest.mark.parametrize("executor", EXECUTORS)
async def test_same_run_twice_and_across_a_server_restart_makes_one_workload(
    deploy: Any, executor: str
) -> None:
    d: Deployment = await deploy(executor)
    await d.start_runner()
    run_id = new_run_id()
    frame = run_frame(run_id, FQN_RUNNING)
    first, second = await asyncio.gather(d.request(frame), d.request(frame))
    assert first["ok"] is True, first
    assert second["ok"] is True, second
    assert first["result"]["runName"] == second["result"]["runName"]
    assert len(await asyncio.to_thread(d.workloads, run_id)) == 1

    # The server goes away and comes back on the same port; the runner reconnects.
    port = d.server.port
    await d.server.stop()
    d.server = new_server_like(d.server)
    await d.server.start(port=port)
    await d.server.wait_active(AGENT, timeout=30)
    again = await d.request(frame)
    assert again["ok"] is True, again
    assert again["result"]["runName"] == first["result"]["runName"]
    workloads = await asyncio.to_thread(d.workloads)
    assert [w["metadata"]["annotations"]["hybrid-runner.io/run-id"] for w in workloads] == [run_id]


def new_server_like(old: ReferenceServer) -> ReferenceServer:
    return ReferenceServer(dict(old.tokens), heartbeat_seconds=30)


@pytest.mark.parametrize("executor", EXECUTORS)
async def test_test_connection_with_secret_reference(
    deploy: Any, executor: str, namespace: str, api: Any
) -> None:
    d: Deployment = await deploy(executor)
    await d.start_runner()
    frame = sample("test_connection.json")
    frame.pop("id")
    refs = ("mysql-password", "collate-ingestion-bot-jwt")

    # Missing: refused before anything is created.
    missing = await d.request({**frame, "runId": new_run_id()})
    assert missing["ok"] is False, missing
    assert missing["error"]["code"] == "secret_not_found", missing
    assert await asyncio.to_thread(d.workloads) == []

    core = k8s.CoreV1Api(api)
    for name in refs:
        core.create_namespaced_secret(
            namespace, {"metadata": {"name": name}, "stringData": {"value": "s3cr3t"}}
        )
    run_id = new_run_id()
    launched = await d.request({**frame, "runId": run_id})
    assert launched["ok"] is True, launched
    (workload,) = await eventually("the automation workload", lambda: d.workloads(run_id))
    assert workload["metadata"]["labels"]["hybrid-runner.io/kind"] == "automation"
    env = {e["name"]: e.get("value") for e in d.main_container(workload)["env"]}
    assert env["KUBERNETES_IN_CLUSTER"] == "true"
    config = d.run_config(workload)
    assert config["openMetadataServerConnection"]["secretsManagerProvider"] == "kubernetes"
    # The reference goes to the pod as is: the value never leaves the Secret.
    assert "s3cr3t" not in json.dumps(workload)
    final = await d.wait_state(run_id, "success", "failed", timeout=60)
    assert final["state"] == "success", final


async def test_100_concurrent_run_pipeline_requests(deploy: Any) -> None:
    d: Deployment = await deploy("argo")
    await d.start_runner()
    run_ids = [new_run_id() for _ in range(100)]
    started = time.monotonic()
    replies = await asyncio.gather(*(d.request(run_frame(r), timeout=60) for r in run_ids))
    elapsed = time.monotonic() - started
    print(f"\n100 concurrent run_pipeline (argo): all replied in {elapsed:.2f}s")
    assert all(r["ok"] for r in replies), [r for r in replies if not r["ok"]][:3]
    workloads = await asyncio.to_thread(d.workloads)
    ids = [w["metadata"]["annotations"]["hybrid-runner.io/run-id"] for w in workloads]
    assert sorted(ids) == sorted(run_ids)
    assert len({w["metadata"]["name"] for w in workloads}) == 100
    result_file = os.environ.get("BENCH_RESULT_FILE")
    if result_file:  # bench/concurrent_launches.py runs this test and reports the figure
        Path(result_file).write_text(
            json.dumps({"count": 100, "elapsed_s": elapsed, "created": len(workloads)})
        )
    assert elapsed < 30, f"100 launches took {elapsed:.1f}s (target < 5 s)"


@pytest.mark.parametrize("executor", EXECUTORS)
async def test_deploy_toggle_delete_pipeline(deploy: Any, executor: str) -> None:
    d: Deployment = await deploy(executor)
    await d.start_runner()
    fqn = "e2e_svc.scheduled_ingestion"
    deploy_frame = {
        "type": "deploy_pipeline",
        "pipelineFqn": fqn,
        "pipelineType": "metadata",
        "schedule": "0 2 * * *",
        "timezone": "Europe/Madrid",
        "enabled": True,
        "config": pipeline_config(fqn),
    }
    deployed = await d.request(deploy_frame)
    assert deployed["ok"] is True, deployed
    (schedule,) = await asyncio.to_thread(d.schedules)
    assert schedule["metadata"]["name"] == deployed["result"]["scheduleName"]
    assert schedule["spec"].get("suspend") in (False, None)
    assert schedule["metadata"]["annotations"]["hybrid-runner.io/pipeline-fqn"] == fqn

    toggled = await d.request({"type": "toggle_pipeline", "pipelineFqn": fqn, "enabled": False})
    assert toggled["ok"] is True, toggled
    (schedule,) = await asyncio.to_thread(d.schedules)
    assert schedule["spec"]["suspend"] is True

    toggled = await d.request({"type": "toggle_pipeline", "pipelineFqn": fqn, "enabled": True})
    assert toggled["ok"] is True, toggled
    (schedule,) = await asyncio.to_thread(d.schedules)
    assert schedule["spec"]["suspend"] is False

    deleted = await d.request({"type": "delete_pipeline", "pipelineFqn": fqn})
    assert deleted["ok"] is True, deleted
    await eventually("the schedule to be gone", lambda: d.schedules() == [])


NODE_SELECTOR = {"dedicated": "metadata"}
UNTOLERATED = {"metadata": {"nodeSelector": NODE_SELECTOR}}
TOLERATED = {
    "argo": {"metadata": {"nodeSelector": NODE_SELECTOR, "toleration": "metadata"}},
    "simpleK8s": {
        "metadata": {
            "nodeSelector": NODE_SELECTOR,
            "tolerations": [
                {
                    "key": "dedicated",
                    "operator": "Equal",
                    "value": "metadata",
                    "effect": "NoSchedule",
                }
            ],
        }
    },
}
PLACEMENT_VARIABLE = {
    "argo": "ARGO_PIPELINE_TYPE_CONFIGS",
    "simpleK8s": "SIMPLEK8S_PIPELINE_TYPE_CONFIGS",
}


@pytest.mark.parametrize("executor", EXECUTORS)
async def test_tainted_node(deploy: Any, executor: str) -> None:
    d: Deployment = await deploy(executor)
    variable = PLACEMENT_VARIABLE[executor]
    runner = await d.start_runner(**{variable: json.dumps(UNTOLERATED)})
    stuck = new_run_id()
    assert (await d.request(run_frame(stuck)))["ok"]

    async def unschedulable() -> Any:
        status = await d.request({"type": "status", "runId": stuck})
        run = status["result"]["runs"][0]
        return run if run.get("reason") == "Unschedulable" else None

    deadline = time.monotonic() + 30
    run = await unschedulable()
    while run is None and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        run = await unschedulable()
    assert run is not None, d.describe()
    assert run["state"] == "queued", run
    # Kubernetes >= 1.35 does not name the taint in the scheduler's message
    # (kubernetes/kubernetes#134740): only that one was not tolerated.
    assert "taint" in (run.get("message") or ""), run
    await runner.stop(grace=2)
    d.runners.remove(runner)

    await d.start_runner(**{variable: json.dumps(TOLERATED[executor])})
    run_id = new_run_id()
    assert (await d.request(run_frame(run_id, FQN_RUNNING)))["ok"]
    await d.wait_state(run_id, "running", timeout=60)
    pod = await eventually(
        "the tolerated pod",
        lambda: next(
            (
                p
                for p in d.pods()
                if p.metadata.labels.get("hybrid-runner.io/run-id") == run_id and p.spec.node_name
            ),
            None,
        ),
    )
    assert pod.spec.node_name == TAINTED_NODE
