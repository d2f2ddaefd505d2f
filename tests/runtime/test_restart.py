"""Runner killed with SIGKILL at random points of a launch, then restarted (local executor).

Twenty trials. After each restart the server re-sends the launch, as it would after losing the
connection: the run exists exactly once, and its state is true (it ran, or it is reported as a
launch the runner never got to start).
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.devkit.reference_server import ReferenceServer
from tests.conftest import AGENT, runner_env, sample

TRIALS = 20


def start_runner(server: ReferenceServer, state: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **runner_env(server, state)}
    return subprocess.Popen(
        [sys.executable, "-m", "runtime"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def final_state(server: ReferenceServer, run_id: str) -> dict[str, object]:
    for _ in range(200):
        reply = await server.request(AGENT, {"type": "status", "runId": run_id})
        run = reply["result"]["runs"][0]
        if run["state"] not in ("queued", "running"):
            return dict(run)
        await asyncio.sleep(0.05)
    raise TimeoutError(run_id)


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_sigkill_during_launches_loses_and_duplicates_nothing(
    server: ReferenceServer, tmp_path: Path
) -> None:
    rng = random.Random(20261123)
    state = tmp_path / "state"
    outcomes: dict[str, str] = {}
    for trial in range(TRIALS):
        proc = start_runner(server, state)
        try:
            await server.wait_active(AGENT, timeout=20)
            frame = {
                **sample("run_pipeline.json"),
                "id": f"launch-{trial}",
                "runId": f"trial-{trial}",
                "config": {"standIn": {"seconds": 0.2}},
            }
            agent = server.agents[AGENT]
            assert agent.ws is not None
            await agent.ws.send_json(frame)
            await asyncio.sleep(rng.uniform(0, 0.06))
        finally:
            proc.kill()
            proc.wait()
        await asyncio.sleep(0.1)

        proc = start_runner(server, state)
        try:
            await server.wait_active(AGENT, timeout=20)
            reply = await server.request(AGENT, {**frame, "id": f"resend-{trial}"})
            assert reply["ok"] is True, reply
            run = await final_state(server, frame["runId"])
            outcomes[frame["runId"]] = f"{run['state']}/{run.get('reason')}"
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        await asyncio.sleep(0.05)

    run_dirs = sorted(p.name for p in (state / "runs").iterdir())
    assert len(run_dirs) == TRIALS  # one directory per runId: nothing launched twice
    allowed = {"success/None", "failed/LaunchInterrupted"}
    assert set(outcomes.values()) <= allowed, outcomes
    assert "success/None" in outcomes.values()
