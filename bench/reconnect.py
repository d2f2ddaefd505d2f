"""Reconnect after the server returns: time from server start to the runner's session.

A runner (``python -m runtime``, RECONNECT_DELAY_SECONDS=1 and RECONNECT_MAX_DELAY_SECONDS=1, so
every backoff step is 1 s +-20% jitter, at most 1.2 s) is connected to a ReferenceServer in this
process. Each repetition stops the server, waits 2 s, starts it again on the same port and
measures from the start (listening again) to the runner's ``welcome`` (``Agent.connected_at``,
stamped by the server; ``wait_active`` polls every 20 ms, so it is only used to wait).

Baseline, same run: a bare aiohttp client's connect + upgrade to the restarted server (what a
reconnect costs once an attempt is made); the rest is the pause until the next attempt.

    uv run python -m bench.reconnect [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench._common import (
    AGENT,
    new_token,
    now_ns,
    runner_env,
    spawn_runner,
    stop_process,
    write_result,
)
from runtime.devkit.reference_server import ReferenceServer

DOWN_SECONDS = 2.0
STEP_SECONDS = 1.0
JITTER = 0.2


async def bare_connect(url: str) -> float:
    """Seconds for a bare aiohttp client to connect and upgrade (closed with 4401 at once)."""
    t0 = now_ns()
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        elapsed = (now_ns() - t0) / 1e9
        await ws.receive(timeout=5)
    return elapsed


async def main(quick: bool) -> dict[str, Any]:
    reps = 3 if quick else 5
    token = new_token()
    server = ReferenceServer({token: None}, heartbeat_seconds=30)
    port = await server.start()
    samples: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-reconnect-") as tmp:
        env = runner_env(
            server.ws_url(),
            token,
            Path(tmp),
            RECONNECT_DELAY_SECONDS=str(STEP_SECONDS),
            RECONNECT_MAX_DELAY_SECONDS=str(STEP_SECONDS),
        )
        runner = await spawn_runner(env)
        try:
            await server.wait_active(AGENT, timeout=30)
            for _ in range(reps):
                await server.stop()
                await asyncio.sleep(DOWN_SECONDS)
                await server.start(port=port)
                started_wall = time.time()
                started = now_ns()
                agent = await server.wait_active(AGENT, timeout=10)
                polled = (now_ns() - started) / 1e9
                assert agent.connected_at is not None
                baseline = await bare_connect(server.ws_url())
                samples.append(
                    {
                        "reconnect_s": agent.connected_at - started_wall,
                        "wait_active_s": polled,
                        "bare_connect_s": baseline,
                    }
                )
                print(
                    f"  reconnected {samples[-1]['reconnect_s']:.3f} s after the server returned "
                    f"(bare connect {baseline * 1000:.1f} ms)"
                )
        finally:
            await stop_process(runner)
            await server.stop()
    worst_step = STEP_SECONDS * (1 + JITTER)
    reconnects = [s["reconnect_s"] for s in samples]
    return {
        "params": {
            "reps": reps,
            "down_s": DOWN_SECONDS,
            "reconnect_delay_s": STEP_SECONDS,
            "reconnect_max_delay_s": STEP_SECONDS,
            "jitter": JITTER,
        },
        "targets": {"within_one_step_s": worst_step},
        "samples": samples,
        "median_s": statistics.median(reconnects),
        "max_s": max(reconnects),
        "bare_connect_median_s": statistics.median(s["bare_connect_s"] for s in samples),
        "all_within_one_step": all(r <= worst_step for r in reconnects),
    }


def report(data: dict[str, Any]) -> None:
    print(
        f"reconnect median {data['median_s']:.3f} s, max {data['max_s']:.3f} s; one backoff step "
        f"<= {data['targets']['within_one_step_s']:.1f} s; bare connect "
        f"{data['bare_connect_median_s'] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions instead of 5")
    args = parser.parse_args()
    result = asyncio.run(main(args.quick))
    report(result)
    write_result("reconnect", result)
