"""Issue 24 on real pods (the kind tier), both executors: a run over the cap waits as a
suspended Workflow/Job that has no pod until the runner resumes it, and a pod no node can take
fails its run once UNSCHEDULABLE_GRACE_SECONDS has passed, the message naming the variable.

One release per executor, installed as a user would with ``extraEnvs``: MAX_ACTIVE_RUNS=1 and
a short UNSCHEDULABLE_GRACE_SECONDS. The scenarios run in order and each leaves no run active
(the one slot is shared).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from e2e.kind_tier.kind_kit import TAINT_VALUE, Release, run_frame, serving
from e2e.runner_kit import EXECUTORS, eventually, new_run_id

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(900)]
FINAL = ("success", "failed", "stopped", "partialSuccess")
GRACE = 20


class CappedRelease(Release):
    """The chart with MAX_ACTIVE_RUNS=1 and UNSCHEDULABLE_GRACE_SECONDS in ``extraEnvs``."""

    def values(self, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
        limits = {"MAX_ACTIVE_RUNS": "1", "UNSCHEDULABLE_GRACE_SECONDS": str(GRACE)}
        return super().values({**limits, **(extra_env or {})})


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=EXECUTORS)
async def release(request: pytest.FixtureRequest, kube: Any) -> AsyncIterator[Release]:
    async with serving(CappedRelease(kube, request.param)) as rel:
        yield rel


async def launch(release: Release, run_id: str, stand_in: dict[str, Any]) -> None:
    reply = await release.request(run_frame(run_id, stand_in))
    assert reply["ok"] is True and reply["result"]["state"] == "queued", reply


def workload(release: Release, run_id: str) -> dict[str, Any]:
    kind = "workflows.argoproj.io" if release.executor == "argo" else "jobs"
    items = release.kube.kubectl_json(
        "get", kind, "-n", release.namespace, "-l", f"hybrid-runner.io/run-id={run_id}"
    )["items"]
    (found,) = items
    found_workload: dict[str, Any] = found
    return found_workload


async def test_a_run_over_the_cap_has_no_pod_until_it_is_resumed(release: Release) -> None:
    first, second = new_run_id(), new_run_id()
    await launch(release, first, {"seconds": 600, "lines": 60})
    await release.wait_update(first, "running", timeout=120)
    await launch(release, second, {"seconds": 1, "env": True})
    waiting = await release.wait_update(second, "queued", reason="MaxActiveRuns", timeout=30)
    assert "MAX_ACTIVE_RUNS=1" in waiting["message"], waiting
    held = await asyncio.to_thread(workload, release, second)
    assert held["spec"]["suspend"] is True, held["spec"]
    # Absence over time: the cluster makes no pod of a suspended Workflow/Job.
    for _ in range(20):
        assert await asyncio.to_thread(release.pods, second) == []
        await asyncio.sleep(0.5)
    status = await release.request({"type": "status"})
    assert (status["result"]["activeRuns"], status["result"]["queuedRuns"]) == (1, 1), status

    resumed_at = time.monotonic()
    assert (await release.request({"type": "kill", "runId": first}))["ok"]
    final = await release.wait_update(second, *FINAL, timeout=180)
    assert final["state"] == "success", (final, await asyncio.to_thread(release.describe))
    assert release.states(second)[-2:] == ["running", "success"], release.updates(second)
    (pod,) = await asyncio.to_thread(release.pods, second)
    started = pod["status"]["startTime"]
    print(
        f"\n{release.executor}: the waiting run's pod started at {started}, "
        f"{time.monotonic() - resumed_at:.1f} s after its slot freed"
    )


async def test_a_pod_no_node_takes_fails_after_unschedulable_grace_seconds(
    release: Release,
) -> None:
    node = (await asyncio.to_thread(release.kube.kubectl_json, "get", "nodes"))["items"][0]
    name = node["metadata"]["name"]
    taint = f"dedicated={TAINT_VALUE}:NoSchedule"
    await asyncio.to_thread(release.kube.kubectl, "taint", "node", name, taint)
    try:
        run_id = new_run_id()
        await launch(release, run_id, {"seconds": 1})
        reported = await release.wait_update(run_id, "queued", reason="Unschedulable", timeout=60)
        since = time.monotonic()
        final = await release.wait_update(run_id, *FINAL, timeout=GRACE + 60)
        waited = time.monotonic() - since

        def ended() -> bool:  # the runner ended the workload, saying why, on the object
            annotations = workload(release, run_id)["metadata"].get("annotations") or {}
            return annotations.get("hybrid-runner.io/failure-reason") == "Unschedulable"

        await eventually("the runner to end the workload", ended, timeout=30)
    finally:
        await asyncio.to_thread(release.kube.kubectl, "taint", "node", name, f"{taint}-")
    assert (final["state"], final.get("reason")) == ("failed", "Unschedulable"), final
    assert f"past UNSCHEDULABLE_GRACE_SECONDS={GRACE}" in final["message"], final
    assert final["message"].endswith("or raise UNSCHEDULABLE_GRACE_SECONDS"), final
    assert "taint" in reported["message"], reported
    assert waited < GRACE + 30, waited
