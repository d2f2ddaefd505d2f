"""Start-up to ready: from spawning ``python -m runtime`` to ``/readyz`` answering 200.

The runner (local executor) connects to a ReferenceServer in this process; readiness needs the
metrics server up, earlier runs re-adopted and the session accepted. Same-run baseline: spawning
``python -c "import aiohttp"`` to its exit (the interpreter and aiohttp import alone).

    uv run python -m bench.startup [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench._common import AGENT, new_token, runner_env, write_result
from runtime.devkit.reference_server import ReferenceServer


async def ready_after(server: ReferenceServer, token: str, state: Path) -> float:
    # A free port for /readyz: ask the kernel for one, then hand it to the runner.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = runner_env(server.ws_url(), token, state, METRICS_SERVER_PORT=str(port))
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "runtime"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                        if response.status == 200:
                            return time.perf_counter() - started
                except aiohttp.ClientError:
                    pass
                if time.perf_counter() - started > 60:
                    raise TimeoutError("runner not ready within 60 s")
                await asyncio.sleep(0.01)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def baseline() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import aiohttp"], check=True)
    return time.perf_counter() - started


async def measure(reps: int) -> dict[str, object]:
    token = new_token()
    server = ReferenceServer({token: None})
    await server.start()
    samples: list[float] = []
    bases: list[float] = []
    try:
        for rep in range(reps):
            with tempfile.TemporaryDirectory() as tmp:
                samples.append(await ready_after(server, token, Path(tmp)))
            bases.append(await asyncio.to_thread(baseline))
            # The reference server must see the old session end before the next one.
            while server.agents.get(AGENT) and server.agents[AGENT].status == "Active":
                await asyncio.sleep(0.02)
            print(f"rep {rep + 1}: ready in {samples[-1]:.3f} s (baseline {bases[-1]:.3f} s)")
    finally:
        await server.stop()
    return {
        "samples_s": samples,
        "median_s": statistics.median(samples),
        "max_s": max(samples),
        "baseline_median_s": statistics.median(bases),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(measure(3 if args.quick else 7))
    write_result("startup", result)


if __name__ == "__main__":
    main()
