"""status with no selector, as the server sees it from a runner whose runs wait for slots:
``activeRuns`` counts runs started and not final, ``queuedRuns`` the ones waiting under
MAX_ACTIVE_RUNS, and ``/metrics`` says the same (``hybrid_runner_active_runs`` /
``hybrid_runner_queued_runs``)."""

from __future__ import annotations

from typing import Any

from runtime.devkit.reference_server import ReferenceServer
from tests.conftest import AGENT, MakeRunner, metric_value, wait_for


def run_frame(run_id: str, seconds: float) -> dict[str, Any]:
    return {
        "type": "run_pipeline",
        "runId": run_id,
        "pipelineType": "metadata",
        "pipelineFqn": "svc.pipeline",
        "config": {"source": {"type": "mysql"}, "standIn": {"seconds": seconds, "lines": 1}},
    }


async def test_status_and_metrics_tell_active_from_queued_runs(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    runner = await make_runner(MAX_ACTIVE_RUNS="1")
    for i, seconds in enumerate((30, 0.1, 0.1)):
        reply = await server.request(AGENT, {"id": f"r{i}", **run_frame(f"run-{i}", seconds)})
        assert reply["ok"] and reply["result"]["state"] == "queued", reply
    status = await server.request(AGENT, {"id": "s", "type": "status"})
    assert (status["result"]["activeRuns"], status["result"]["queuedRuns"]) == (1, 2), status
    assert status["result"]["trackedRuns"] == 3
    assert await metric_value(runner, "hybrid_runner_active_runs") == 1.0
    assert await metric_value(runner, "hybrid_runner_queued_runs") == 2.0
    waiting = await server.request(AGENT, {"id": "w", "type": "status", "runId": "run-2"})
    (run,) = waiting["result"]["runs"]
    assert (run["state"], run["reason"]) == ("queued", "MaxActiveRuns")
    killed = await server.request(AGENT, {"id": "k", "type": "kill", "runId": "run-0"})
    assert killed["result"]["runs"][0]["state"] == "stopped"
    table = runner.context.executor.table
    await wait_for(lambda: table.queued_count == 0 and table.active_count == 0, timeout=15)
    status = await server.request(AGENT, {"id": "s2", "type": "status"})
    assert (status["result"]["activeRuns"], status["result"]["queuedRuns"]) == (0, 0)
    assert await metric_value(runner, "hybrid_runner_queued_runs") == 0.0
