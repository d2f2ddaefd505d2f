"""Cluster-side faults (issue 7) against the local control plane, with the chart's RBAC.

Each ends with: no run lost, none duplicated, the runner still serving.

* the kube-apiserver stopped (SIGKILL, as a crash) for 30 s or more while a run is active and
  while launches are attempted, then started again on the same port with the same etcd: the
  watch alone (no request in between) must bring the active run's end;
* the network between runner and apiserver partitioned for 30 s (a fault-injecting proxy drops
  every byte and closes nothing, as when a NAT forgets the connections): the runner's silent
  watch is noticed and replaced, and what happened meanwhile is reported after the partition;
* 403 on create (a Role without ``create``);
* a Workflow/Job deleted by a human while its run is running.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from e2e.runner_kit import (
    EXECUTORS,
    FQN_OK,
    FQN_RUNNING,
    USER,
    Deployment,
    chart_role_rules,
    eventually,
    new_run_id,
    run_frame,
    running_pod,
    use_kubeconfig,
)
from tests.faultproxy import FaultProxy

pytestmark = pytest.mark.e2e

OUTAGE_SECONDS = 30.0
# After the outage the watch waits at most its backoff cap (8 s, +20% jitter) plus one list;
# the rest is slack for a busy 2-core machine.
WATCH_RESUME_BOUND = 20.0
WORKLOAD_RESOURCE = {"argo": "workflows", "simpleK8s": "jobs"}


def run_ids(d: Deployment) -> list[str]:
    return sorted(w["metadata"]["annotations"]["hybrid-runner.io/run-id"] for w in d.workloads())


@pytest.mark.timeout(300)  # a 30 s outage, then Argo's controller resumes on its own backoff
async def test_apiserver_outage_during_a_run_and_launches(deploy: Any, cluster: Any) -> None:
    try:
        await _apiserver_outage(deploy, cluster)
    finally:
        # The controllers may still be backing off; the next tests start with fresh ones.
        took = await asyncio.to_thread(cluster.restart_controllers)
        print(f"controllers restarted after the outage test in {took:.1f}s")


async def _apiserver_outage(deploy: Any, cluster: Any) -> None:
    d: Deployment = await deploy("argo")
    await d.start_runner()
    active, doomed = new_run_id(), new_run_id()
    for run_id in (active, doomed):
        assert (await d.request(run_frame(run_id, FQN_RUNNING)))["ok"]
    for run_id in (active, doomed):
        await d.wait_state(run_id, "running", timeout=60)
    pod = await eventually("the running pod", lambda: running_pod(d, active), describe=d.describe)
    (doomed_workflow,) = await asyncio.to_thread(d.workloads, doomed)

    late = new_run_id()
    await _through_the_outage(d, cluster, active, late)

    # The watch resumes by itself, with no request in between: a Workflow deleted by hand right
    # after the outage is seen by the runner's watch alone (no controller involved).
    back = time.monotonic()
    await _deletion_seen_by_the_watch(d, doomed, doomed_workflow["metadata"]["name"], back)

    # The active run's end needs Argo's controller to resume its own watches too.
    await asyncio.to_thread(cluster.finish_pod, d.namespace, pod.metadata.name, exit_code=0)
    final = await d.wait_state(active, "success", "failed", "stopped", timeout=90)
    assert final["state"] == "success", (final, d.describe())
    print(f"active run's success seen {time.monotonic() - back:.1f}s after the apiserver was back")

    await _resent_launch_after_the_outage(d, late)
    await _no_run_lost_none_duplicated(d, active, late)


async def _through_the_outage(d: Deployment, cluster: Any, active: str, late: str) -> None:
    """The apiserver killed for OUTAGE_SECONDS: launches fail retryably, status still answers."""
    down = time.monotonic()
    stop_took = await asyncio.to_thread(cluster.stop_component, "kube-apiserver", kill=True)
    try:
        # Launches during the outage: a retryable error, answered in bounded time.
        attempts = []
        for _ in range(2):
            t0 = time.monotonic()
            reply = await d.request(run_frame(late), timeout=30)
            attempts.append(time.monotonic() - t0)
            assert reply["ok"] is False, reply
            assert reply["error"]["code"] == "executor_unavailable", reply
            assert reply["error"]["retryable"] is True, reply
            assert "unavailable" in reply["error"]["message"].lower(), reply
            await asyncio.sleep(1)
        # The runner keeps serving from its table.
        status = await d.request({"type": "status", "runId": active})
        assert status["ok"] is True, status
        assert status["result"]["runs"][0]["state"] == "running", status
        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down)))
    finally:
        start_took = await asyncio.to_thread(cluster.start_component, "kube-apiserver")
        restarted = await asyncio.to_thread(cluster.restart_dead_components)
    outage = time.monotonic() - down
    print(
        f"\napiserver outage {outage:.1f}s (stop {stop_took:.1f}s, start {start_took:.1f}s); "
        f"launches during it answered in {', '.join(f'{a:.1f}s' for a in attempts)}; "
        f"components restarted besides the apiserver: {restarted or 'none'}"
    )


async def _deletion_seen_by_the_watch(
    d: Deployment, doomed: str, workflow: str, back: float
) -> None:
    await asyncio.to_thread(
        k8s.CustomObjectsApi(d.admin).delete_namespaced_custom_object,
        "argoproj.io",
        "v1alpha1",
        d.namespace,
        "workflows",
        workflow,
    )
    gone = await d.wait_state(doomed, "failed", "stopped", "success", timeout=60)
    resumed = time.monotonic() - back
    assert (gone["state"], gone.get("reason")) == ("failed", "Deleted"), gone
    print(f"deletion seen {resumed:.1f}s after the apiserver was back (the runner's watch alone)")
    assert resumed < WATCH_RESUME_BOUND, f"the watch took {resumed:.1f}s to resume"


async def _resent_launch_after_the_outage(d: Deployment, late: str) -> None:
    """The same launch, re-sent (twice at once) after the outage: exactly one Workflow."""
    resent = time.monotonic()
    first, second = await asyncio.gather(
        d.request(run_frame(late), timeout=60), d.request(run_frame(late), timeout=60)
    )
    assert first["ok"] is True, first
    assert second["ok"] is True, second
    assert first["result"]["runName"] == second["result"]["runName"]
    print(f"re-sent launch accepted {time.monotonic() - resent:.1f}s after the watch resumed")

    final = await d.wait_state(late, "success", "failed", "stopped", timeout=90)
    assert final["state"] == "success", (final, d.describe())


async def _no_run_lost_none_duplicated(d: Deployment, active: str, late: str) -> None:
    """No run lost, none duplicated, the table right, still serving."""
    assert await asyncio.to_thread(run_ids, d) == sorted([active, late])
    for run_id in (active, late):
        status = await d.request({"type": "status", "runId": run_id})
        assert [r["state"] for r in status["result"]["runs"]] == ["success"], status
    assert d.states(active)[-1] == "success"
    assert d.states(late).count("success") == 1, d.states(late)
    another = new_run_id()
    assert (await d.request(run_frame(another, FQN_OK)))["ok"]
    final = await d.wait_state(another, "success", "failed", timeout=60)
    assert final["state"] == "success", final


PARTITION_SECONDS = 33.0  # not a multiple of the stall limit: the heal lands mid-wait
STALL_SECONDS = 10
# A stalled stream is noticed after STALL_SECONDS; a connection opened just before the heal may
# hang for the client's 10 s connect timeout; then at most one 8 s (+20%) backoff and a list.
PARTITION_RECOVERY_BOUND = 40.0


@pytest.mark.timeout(300)
async def test_partition_between_runner_and_apiserver_during_a_watch(
    deploy: Any, cluster: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    d: Deployment = await deploy("simpleK8s")
    # The runner reaches the apiserver only through the proxy; everyone else goes direct.
    config = yaml.safe_load(d.kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]["server"]
    proxy = FaultProxy(int(server.rsplit(":", 1)[1]))
    port = await proxy.start()
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    proxied = tmp_path / "kubeconfig-through-proxy"
    proxied.write_text(yaml.safe_dump(config))
    use_kubeconfig(monkeypatch, proxied)
    try:
        await d.start_runner(WATCH_STALL_SECONDS=str(STALL_SECONDS))
        run_id = new_run_id()
        assert (await d.request(run_frame(run_id, FQN_RUNNING)))["ok"]
        await d.wait_state(run_id, "running", timeout=60)
        pod = await eventually("the running pod", lambda: running_pod(d, run_id))

        proxy.partition()
        cut = time.monotonic()
        # The run ends while the runner hears nothing (the Job controller is not partitioned).
        await asyncio.to_thread(cluster.finish_pod, d.namespace, pod.metadata.name, exit_code=0)
        await asyncio.sleep(3)
        status = await d.request({"type": "status", "runId": run_id})
        assert [r["state"] for r in status["result"]["runs"]] == ["running"], status
        await asyncio.sleep(max(0.0, PARTITION_SECONDS - (time.monotonic() - cut)))
        assert d.states(run_id)[-1] == "running", "nothing can arrive through the partition"
        proxy.heal()
        healed = time.monotonic()

        final = await d.wait_state(run_id, "success", "failed", "stopped", timeout=120)
        recovered = time.monotonic() - healed
        assert final["state"] == "success", (final, d.describe())
        print(
            f"\npartition {healed - cut:.1f}s; the run's success reported {recovered:.1f}s after "
            f"the heal; proxy connections {proxy.connections}"
        )
        assert recovered < PARTITION_RECOVERY_BOUND, f"recovery took {recovered:.1f}s"

        # No run lost or duplicated, still serving.
        assert await asyncio.to_thread(run_ids, d) == [run_id]
        assert d.states(run_id).count("success") == 1, d.states(run_id)
        another = new_run_id()
        assert (await d.request(run_frame(another, FQN_OK)))["ok"]
        assert (await d.wait_state(another, "success", "failed", timeout=60))["state"] == "success"
    finally:
        await proxy.stop()


def without_create(rules: list[dict[str, Any]], resource: str) -> list[dict[str, Any]]:
    out = []
    for rule in rules:
        rule = dict(rule)
        if resource in rule.get("resources", []):
            rule["verbs"] = [v for v in rule["verbs"] if v not in ("create", "*")]
        out.append(rule)
    return out


@pytest.mark.parametrize("executor", EXECUTORS)
async def test_forbidden_create_is_a_clear_error_a_failed_run_and_not_retried(
    deploy: Any, executor: str, cluster: Any, namespace: str
) -> None:
    d: Deployment = await deploy(executor)
    resource = WORKLOAD_RESOURCE[executor]
    rules = chart_role_rules(executor)
    await asyncio.to_thread(
        cluster.kubeconfig_for_role, namespace, USER, rules=without_create(rules, resource)
    )
    await d.start_runner()
    run_id = new_run_id()
    t0 = time.monotonic()
    reply = await d.request(run_frame(run_id), timeout=30)
    took = time.monotonic() - t0
    assert reply["ok"] is False, reply
    error = reply["error"]
    assert error["code"] == "forbidden", reply
    assert error["retryable"] is False, reply
    assert "create" in error["message"] and resource in error["message"], reply
    assert namespace in error["message"], reply
    assert took < 5, f"the refusal took {took:.1f}s"

    # The run is reported failed, with the reason and the same explanation.
    update = await d.wait_state(run_id, "failed", timeout=10)
    assert update["reason"] == "Forbidden", update
    assert update["message"] == error["message"], update
    status = await d.request({"type": "status", "runId": run_id})
    assert status["ok"] is True, status
    assert [(r["state"], r["reason"]) for r in status["result"]["runs"]] == [
        ("failed", "Forbidden")
    ], status

    # Nothing retried in the background: once create is allowed again, nothing appears.
    await asyncio.sleep(0.5)
    await asyncio.to_thread(cluster.kubeconfig_for_role, namespace, USER, rules=rules)
    await asyncio.sleep(2.5)
    assert await asyncio.to_thread(d.workloads) == []
    # A failed run stays failed: the same runId answers its state and creates nothing.
    again = await d.request(run_frame(run_id), timeout=30)
    assert again["ok"] is True and again["result"]["state"] == "failed", again
    assert await asyncio.to_thread(d.workloads) == []
    assert d.states(run_id) == ["failed"], d.states(run_id)
    # Still serving: a new run launches exactly one workload.
    retry_id = new_run_id()
    assert (await d.request(run_frame(retry_id), timeout=30))["ok"] is True
    final = await d.wait_state(retry_id, "success", "failed", timeout=60)
    assert final["state"] == "success", final
    assert await asyncio.to_thread(run_ids, d) == [retry_id]


@pytest.mark.parametrize("executor", EXECUTORS)
async def test_workload_deleted_by_a_human_is_reported_and_not_resurrected(
    deploy: Any, executor: str, namespace: str
) -> None:
    d: Deployment = await deploy(executor)
    await d.start_runner()
    run_id = new_run_id()
    assert (await d.request(run_frame(run_id, FQN_RUNNING)))["ok"]
    await d.wait_state(run_id, "running", timeout=60)
    (workload,) = await asyncio.to_thread(d.workloads, run_id)
    name = workload["metadata"]["name"]

    # kubectl delete (foreground-free: the default background propagation).
    if executor == "argo":
        k8s.CustomObjectsApi(d.admin).delete_namespaced_custom_object(
            "argoproj.io", "v1alpha1", namespace, "workflows", name
        )
    else:
        k8s.BatchV1Api(d.admin).delete_namespaced_job(
            name, namespace, propagation_policy="Background"
        )
    final = await d.wait_state(run_id, "failed", "stopped", "success", timeout=30)
    assert final["state"] == "failed", final
    assert final.get("reason") == "Deleted", final
    assert name in (final.get("message") or ""), final

    # Not resurrected: no object for the run comes back, the run stays failed.
    await asyncio.sleep(2)
    assert await asyncio.to_thread(d.workloads, run_id) == []
    status = await d.request({"type": "status", "runId": run_id})
    assert [r["state"] for r in status["result"]["runs"]] == ["failed"], status
    assert d.states(run_id).count("failed") == 1, d.states(run_id)

    # Still serving.
    other = new_run_id()
    assert (await d.request(run_frame(other)))["ok"]
    assert (await d.wait_state(other, "success", "failed", timeout=60))["state"] == "success"
    assert await asyncio.to_thread(run_ids, d) == [other]


@pytest.mark.parametrize("executor", EXECUTORS)
async def test_409_storm_makes_one_workload_per_run(deploy: Any, executor: str) -> None:
    """Ten runs, each sent 5 times at once: the first create of each wins, the others meet 409
    AlreadyExists and adopt it; every request is answered ok with the same run name."""
    d: Deployment = await deploy(executor)
    await d.start_runner()
    run_ids = [new_run_id() for _ in range(10)]
    frames = [run_frame(run_id, FQN_RUNNING) for run_id in run_ids for _ in range(5)]
    replies = await asyncio.gather(*(d.request(frame, timeout=60) for frame in frames))
    assert all(r["ok"] for r in replies), [r for r in replies if not r["ok"]][:3]
    names: dict[str, set[str]] = {}
    for frame, reply in zip(frames, replies, strict=True):
        names.setdefault(str(frame["runId"]), set()).add(reply["result"]["runName"])
    assert all(len(n) == 1 for n in names.values()), names
    workloads = await asyncio.to_thread(d.workloads)
    ids = sorted(w["metadata"]["annotations"]["hybrid-runner.io/run-id"] for w in workloads)
    assert ids == sorted(run_ids)
    status = await d.request({"type": "status"})
    assert status["result"]["trackedRuns"] == 10, status
