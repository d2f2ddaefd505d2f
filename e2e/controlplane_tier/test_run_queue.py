"""Issue 24 on the local control plane: 200 runs under MAX_ACTIVE_RUNS=10, the queue kept in the
cluster as suspended Jobs, across two SIGKILLs of the runner.

The runner runs as a subprocess (``python -m runtime``) with the chart's Role. Ten runs whose
pods run until released hold the ten slots while 190 more arrive at once, so the whole queue
exists before any of it starts (its order is the runner's queued-at annotations, not a race
between launches). The runner is SIGKILLed with those 190 waiting and restarted: the time it
takes to re-adopt them is printed. The holders are released, and halfway through the queue the
runner is SIGKILLed and restarted once more. Meanwhile a thread lists the Jobs every ~100 ms
(the most unsuspended, unfinished Jobs at once) and a watch records the order in which Jobs are
resumed (exact: the API server's order of writes).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import watch

from e2e.runner_kit import (
    AGENT,
    FQN_OK,
    FQN_RUNNING,
    Deployment,
    RunnerProcess,
    eventually,
    run_frame,
    running_pod,
)

pytestmark = pytest.mark.e2e
CAP, HOLDERS, QUEUED = 10, 10, 190
QUEUED_AT = "hybrid-runner.io/queued-at"


#: A Job's terminal conditions: since Kubernetes 1.31 the Job controller sets SuccessCriteriaMet
#: (FailureTarget) once the Job's outcome is decided and its pods are done, and Complete (Failed)
#: a moment later, after their finalizers; the runner counts a run final at the first.
TERMINAL = ("SuccessCriteriaMet", "Complete", "FailureTarget", "Failed")


def finished(job: dict[str, Any], terminal: tuple[str, ...] = TERMINAL) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c.get("type") in terminal and c.get("status") == "True" for c in conditions)


def started(job: dict[str, Any]) -> bool:
    return not (job.get("spec") or {}).get("suspend") and not finished(job)


class JobSampler(threading.Thread):
    """Lists the namespace's Jobs every ~100 ms: the most that were unsuspended and unfinished
    at once."""

    def __init__(self, api: Any, namespace: str) -> None:
        super().__init__(name="job-sampler", daemon=True)
        self.batch, self.namespace = k8s.BatchV1Api(api), namespace
        self.stop = threading.Event()
        self.most = self.samples = self.most_until_complete = 0

    def run(self) -> None:
        while not self.stop.wait(0.1):
            answer = self.batch.list_namespaced_job(self.namespace, _preload_content=False)
            jobs = json.loads(answer.data)["items"]
            self.most = max(self.most, sum(map(started, jobs)))
            # For the record: counted until Complete, the few seconds of finalizing included.
            until_complete = sum(
                not j["spec"].get("suspend") and not finished(j, ("Complete", "Failed"))
                for j in jobs
            )
            self.most_until_complete = max(self.most_until_complete, until_complete)
            self.samples += 1


class ResumeOrder(threading.Thread):
    """Watches the Jobs: which were resumed, in the order the API server wrote it, and the most
    unsuspended and unfinished at once, replayed event by event."""

    def __init__(self, api: Any, namespace: str) -> None:
        super().__init__(name="resume-order", daemon=True)
        self.batch, self.namespace = k8s.BatchV1Api(api), namespace
        self.stop = threading.Event()
        self.resumed: list[str] = []
        self.active: set[str] = set()
        self.most = 0

    def run(self) -> None:
        version = ""
        while not self.stop.is_set():
            stream = watch.Watch().stream(
                self.batch.list_namespaced_job,
                self.namespace,
                resource_version=version,
                timeout_seconds=2,
            )
            for event in stream:
                job = self.batch.api_client.sanitize_for_serialization(event["object"])
                version = job["metadata"]["resourceVersion"]
                self.see(job)

    def see(self, job: dict[str, Any]) -> None:
        name = job["metadata"]["name"]
        if started(job) and name not in self.resumed:
            self.resumed.append(name)
        if started(job):
            self.active.add(name)
        else:
            self.active.discard(name)
        self.most = max(self.most, len(self.active))


async def ready_after_restart(rp: RunnerProcess, timeout: float = 60.0) -> float:
    """Restart the runner; seconds until its /readyz says 200 (re-adopted and connected)."""
    began = time.monotonic()
    rp.start()
    while True:
        answer = await asyncio.to_thread(rp.readyz)
        if answer is not None and answer[0] == 200:
            return time.monotonic() - began
        if not rp.alive() or time.monotonic() - began > timeout:
            pytest.fail(f"the restarted runner never turned ready:\n{rp.log_tail()}")
        await asyncio.sleep(0.05)


def readoption_line(rp: RunnerProcess) -> str:
    lines = [line for line in rp.log_tail(400).splitlines() if "runs re-adopted" in line]
    return lines[-1] if lines else "(no re-adoption line)"


def finals(d: Deployment) -> dict[str, str]:
    out: dict[str, str] = {}
    for event in d.server.events(AGENT, "run_update"):
        if event["state"] in ("success", "failed", "stopped", "partialSuccess"):
            out[event["runId"]] = event["state"]
    return out


async def launch_all(d: Deployment, run_ids: list[str], fqn: str) -> None:
    replies = await asyncio.gather(*(d.request(run_frame(r, fqn), timeout=60) for r in run_ids))
    assert all(r["ok"] and r["result"]["state"] == "queued" for r in replies), replies


async def status(d: Deployment) -> dict[str, Any]:
    reply = await d.request({"type": "status"})
    assert reply["ok"], reply
    result: dict[str, Any] = reply["result"]
    return result


async def until(what: str, probe: Callable[[], bool], rp: RunnerProcess, timeout: float) -> None:
    await eventually(what, lambda: probe() or None, timeout=timeout, describe=rp.log_tail)


async def test_two_hundred_runs_keep_the_cap_and_their_order_across_runner_restarts(
    deploy: Any, cluster: Any, tmp_path: Path
) -> None:
    d: Deployment = await deploy("simpleK8s")
    rp = RunnerProcess(d, tmp_path / "runner.log", MAX_ACTIVE_RUNS=str(CAP))
    sampler, order = JobSampler(d.admin, d.namespace), ResumeOrder(d.admin, d.namespace)
    began = time.monotonic()
    try:
        await ready_after_restart(rp)
        sampler.start()
        order.start()
        holders = [f"hold-{i:02d}" for i in range(HOLDERS)]
        for run_id in holders:  # one after the other: each takes a free slot at once
            await launch_all(d, [run_id], FQN_RUNNING)
        for run_id in holders:
            await d.wait_state(run_id, "running", timeout=60)
        queued = [f"wait-{i:03d}" for i in range(QUEUED)]
        await launch_all(d, queued, FQN_OK)
        assert (await status(d))["queuedRuns"] == QUEUED

        rp.sigkill()
        readopted = await ready_after_restart(rp)
        line = readoption_line(rp)
        now = await status(d)
        assert (now["activeRuns"], now["queuedRuns"]) == (HOLDERS, QUEUED), now
        print(f"\nrestart with {QUEUED} waiting: /readyz 200 after {readopted:.2f} s; {line}")

        for run_id in holders:
            pod = await eventually(f"{run_id}'s pod", lambda r=run_id: running_pod(d, r))
            await asyncio.to_thread(cluster.finish_pod, d.namespace, pod.metadata.name, exit_code=0)
        await until("half the queue done", lambda: len(finals(d)) >= 100, rp, 180)
        rp.sigkill()
        again = await ready_after_restart(rp)
        line = readoption_line(rp)
        print(f"restart mid-queue: /readyz 200 after {again:.2f} s; {line}")
        await until("all 200 runs final", lambda: len(finals(d)) == 200, rp, 240)
    finally:
        sampler.stop.set()
        order.stop.set()
        rp.stop()
    assert set(finals(d).values()) == {"success"}, finals(d)
    jobs = await asyncio.to_thread(d.workloads)
    assert len(jobs) == 200 and all(finished(job) for job in jobs)
    arrival = {
        j["metadata"]["name"]: int(j["metadata"]["annotations"][QUEUED_AT])
        for j in jobs
        if j["metadata"]["annotations"]["hybrid-runner.io/run-id"].startswith("wait-")
    }
    resumed = [name for name in order.resumed if name in arrival]
    assert resumed == sorted(arrival, key=arrival.__getitem__), "resumed out of arrival order"
    print(
        f"most unsuspended unfinished Jobs: {sampler.most} over {sampler.samples} samples "
        f"(~100 ms), {order.most} replaying the watch; cap {CAP}; "
        f"({sampler.most_until_complete} counting a Job until Complete rather than "
        f"SuccessCriteriaMet); {time.monotonic() - began:.0f} s in all"
    )
    assert sampler.most <= CAP and order.most <= CAP
    assert re.search(r"\d+ runs re-adopted", line), line
