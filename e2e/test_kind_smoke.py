"""The runner installed with the project's Helm chart on a real cluster (E2E_BACKEND=kind|existing).

Real pods run the ingestion stand-in image (e2e/images/): run_pipeline -> success, `status`,
and `kill` of a running run -> stopped. Skipped on the local backend (fixture ``kube``), and
without Docker/kind with the reason (see docs/testing.md: none of this has run on the project's
own machines).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from e2e.runner_kit import AGENT, EXECUTORS, FQN_OK, new_run_id, new_server, pipeline_config

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


def _frame(run_id: str, stand_in: dict[str, Any]) -> dict[str, Any]:
    config = pipeline_config(FQN_OK, run_id)
    config["standIn"] = stand_in
    return {
        "type": "run_pipeline",
        "runId": run_id,
        "pipelineType": "metadata",
        "pipelineFqn": FQN_OK,
        "config": config,
    }


@pytest.mark.parametrize("executor", EXECUTORS)
async def test_helm_installed_runner_runs_and_kills_real_pods(kube: Any, executor: str) -> None:
    server = new_server()
    # The kind network's gateway (or E2E_SERVER_HOST): reachable from the pods, never 0.0.0.0.
    await server.start(host=kube.server_host, port=0)
    namespace = f"e2e-kind-{uuid.uuid4().hex[:8]}"
    release = "hir"
    installed = False

    async def request(frame: dict[str, Any]) -> dict[str, Any]:
        frame = {"id": f"req-{uuid.uuid4().hex[:10]}", **frame}
        return await server.request(AGENT, frame, timeout=60)

    async def wait_state(run_id: str, *states: str, timeout: float = 300) -> dict[str, Any]:
        return await server.wait_event(
            AGENT,
            lambda e: (
                e["type"] == "run_update" and e.get("runId") == run_id and e["state"] in states
            ),
            timeout=timeout,
        )

    def describe() -> str:
        return f"{kube.describe(namespace)}\nevents: {server.events(AGENT)[-20:]}"

    try:
        await asyncio.to_thread(kube.create_namespace, namespace)
        # Blocking for minutes (helm --wait): in a thread, so the server keeps answering.
        await asyncio.to_thread(
            kube.helm_install,
            release,
            namespace,
            executor=executor,
            server_url=server.ws_url(kube.server_host),
            token=next(iter(server.tokens)),
            agent_id=AGENT,
        )
        installed = True
        await server.wait_active(AGENT, timeout=120)

        # run_pipeline -> the stand-in pod runs and exits 0 -> success.
        run_id = new_run_id()
        reply = await request(_frame(run_id, {"seconds": 3, "lines": 3}))
        assert reply["ok"] is True, reply
        final = await wait_state(run_id, "success", "failed", "stopped")
        assert final["state"] == "success", (final, await asyncio.to_thread(describe))
        status = await request({"type": "status", "runId": run_id})
        assert status["ok"] is True, status
        (run,) = status["result"]["runs"]
        assert run["state"] == "success", run
        states = [
            str(e["state"]) for e in server.events(AGENT, "run_update") if e.get("runId") == run_id
        ]
        assert states[0] == "queued" and states[-1] == "success", states

        # kill of a running run -> stopped (the stand-in exits 143 on SIGTERM).
        long_id = new_run_id()
        assert (await request(_frame(long_id, {"seconds": 600, "lines": 60})))["ok"]
        await wait_state(long_id, "running")
        killed = await request({"type": "kill", "runId": long_id})
        assert killed["ok"] is True, killed
        final = await wait_state(long_id, "stopped", "failed", "success")
        assert final["state"] == "stopped", (final, await asyncio.to_thread(describe))
    except BaseException:
        print(await asyncio.to_thread(describe))
        raise
    finally:
        if installed:
            await asyncio.to_thread(kube.helm_uninstall, release, namespace)
        await asyncio.to_thread(kube.delete_namespace, namespace)
        await server.stop()
