"""Scenario 8 (issue 6): the runner SIGKILLed while a run is active, restarted, re-adopts it.

The runner runs as a subprocess (``python -m runtime``) with the environment ``runner_kit``
builds and the kubeconfig of the user bound to the chart's Role. To make "``/readyz`` only after
re-adoption" observable deterministically (not a race against a fast list), the user's
RoleBinding is removed while the runner is down: the restarted runner connects to the server but
cannot list its workloads, so ``/readyz`` must say 503 "not yet re-adopted"; once the binding is
back, the watch's retry lists, re-adopts the run and ``/readyz`` turns 200.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from e2e.runner_kit import (
    AGENT,
    EXECUTORS,
    FQN_RUNNING,
    USER,
    Deployment,
    RunnerProcess,
    chart_role_rules,
    eventually,
    new_run_id,
    run_frame,
    running_pod,
)

pytestmark = pytest.mark.e2e


async def wait_readyz(rp: RunnerProcess, status: int, timeout: float = 30.0) -> str:
    async def probe() -> str | None:
        got = await asyncio.to_thread(rp.readyz)
        return got[1] if got is not None and got[0] == status else None

    deadline = time.monotonic() + timeout
    while True:
        body = await probe()
        if body is not None:
            return body
        if not rp.alive() or time.monotonic() > deadline:
            pytest.fail(f"/readyz never answered {status}; runner log:\n{rp.log_tail()}")
        await asyncio.sleep(0.1)


async def stays_unready_until_readopted(rp: RunnerProcess) -> None:
    """Connected to the server, runs not re-adopted: 503 for that reason alone, and it stays
    503 (no 200 sneaks in) for as long as the list is refused."""
    body = await wait_readyz(rp, 503)
    deadline = time.monotonic() + 20
    while "not connected" in body and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        got = await asyncio.to_thread(rp.readyz)
        assert got is not None and got[0] == 503, (got, rp.log_tail())
        body = got[1]
    assert body.strip() == "earlier runs not yet re-adopted", (body, rp.log_tail())
    for _ in range(15):
        await asyncio.sleep(0.1)
        got = await asyncio.to_thread(rp.readyz)
        assert got is not None and got[0] == 503, (got, rp.log_tail())


@pytest.mark.parametrize("executor", EXECUTORS)
async def test_sigkill_restart_readopts_the_run(
    deploy: Any, executor: str, cluster: Any, namespace: str, tmp_path: Path
) -> None:
    d: Deployment = await deploy(executor)
    rp = RunnerProcess(d, tmp_path / "runner.log")
    rbac = k8s.RbacAuthorizationV1Api(d.admin)
    try:
        rp.start()
        await d.server.wait_active(AGENT, timeout=30)
        await wait_readyz(rp, 200)

        run_id = new_run_id()
        reply = await d.request(run_frame(run_id, FQN_RUNNING))
        assert reply["ok"] is True, reply
        await d.wait_state(run_id, "running", timeout=60)
        pod = await eventually(
            "the running pod", lambda: running_pod(d, run_id), describe=d.describe
        )

        rp.sigkill()
        # While the runner is down, its user loses its RoleBinding: the restarted runner can
        # connect but cannot list (403), so it cannot re-adopt yet.
        bindings = rbac.list_namespaced_role_binding(namespace).items
        assert bindings, "the deploy fixture bound no Role"
        for b in bindings:
            rbac.delete_namespaced_role_binding(b.metadata.name, namespace)

        restarted = time.monotonic()
        rp.start()
        await d.server.wait_active(AGENT, timeout=30)
        await stays_unready_until_readopted(rp)

        # The binding is back: the watch's retry lists, re-adopts the run, /readyz turns 200.
        await asyncio.to_thread(
            cluster.kubeconfig_for_role, namespace, USER, rules=chart_role_rules(executor)
        )
        restored = time.monotonic()
        await wait_readyz(rp, 200, timeout=45)
        ready_after = time.monotonic() - restored
        print(
            f"\n{executor}: /readyz 200 {ready_after:.1f}s after the RoleBinding returned "
            f"({time.monotonic() - restarted:.1f}s after the restart)"
        )

        status = await d.request({"type": "status", "runId": run_id})
        assert status["ok"] is True, status
        (run,) = status["result"]["runs"]
        assert run["state"] == "running", (run, rp.log_tail())

        # The pod finishes while the restarted runner watches: it reports the final state.
        await asyncio.to_thread(cluster.finish_pod, namespace, pod.metadata.name, exit_code=0)
        await reports_success_on_the_one_workload(d, rp, run_id)
    finally:
        rp.stop()


async def reports_success_on_the_one_workload(
    d: Deployment, rp: RunnerProcess, run_id: str
) -> None:
    final = await d.wait_state(run_id, "success", "failed", "stopped", timeout=60)
    assert final["state"] == "success", (final, d.describe(), rp.log_tail())
    status = await d.request({"type": "status", "runId": run_id})
    assert status["result"]["runs"][0]["state"] == "success", status
    # Nothing re-created: one workload for the run, and only that one.
    workloads = await asyncio.to_thread(d.workloads)
    assert [w["metadata"]["annotations"]["hybrid-runner.io/run-id"] for w in workloads] == [run_id]
    assert rp.alive(), rp.log_tail()
