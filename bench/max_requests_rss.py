"""Runner RSS under streams of maximal requests: memory is bounded per request in bytes.

Issue 13 found 150 ``status`` requests with distinct 1 MB ids taking the runner from 53 to
207 MB (the reply cache held 4,096 replies of any size). This benchmark starts
``python -m runtime`` (local executor, configured as tests/conftest.py does) against a
ReferenceServer in this process and sends, one phase after the other:

- ``max_frames``: ``status`` frames just under MAX_FRAME_BYTES (a 256-character id and an
  unknown member padding the frame to 4 MiB);
- ``max_ids``: ``status`` with distinct ids of the maximal 256 characters, more than the reply
  cache's 4,096 entries;
- ``log_chunks``: ``logs`` requests with distinct ids, each answered with a full 64 KiB chunk
  (the replies the cache used to keep 4,096 of);
- ``long_ids``: ``status`` with distinct 1 MB ids (refused as ``invalid_message`` now).

RSS (psutil) is read every ``--every`` requests. "Flat" is judged on the second half of each
phase: once the bounds are reached, more requests must not add memory.

    uv run python -m bench.max_requests_rss [--quick] [--source DIR]

``--source DIR`` runs the runner from another checkout (e.g. ``git archive main`` unpacked),
for a before/after comparison; the server and the requests stay the same.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from bench._common import AGENT, ROOT, new_token, runner_env, stop_process, write_result
from runtime.devkit.reference_server import ReferenceServer

MIB = 1024 * 1024
MAX_FRAME = 4 * MIB
FINAL = {"success", "failed", "partialSuccess", "stopped"}


def rss_mib(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss / MIB)


def max_id(phase: str, i: int) -> str:
    return f"{phase}-{i}-".ljust(256, "x")


async def spawn_runner_from(source: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    """``python -m runtime`` with ``source`` as its working directory and import root."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runtime",
        cwd=source,
        env={**env, "PYTHONPATH": str(source)},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def phase(
    server: ReferenceServer, pid: int, n: int, every: int, frame: Callable[[int], dict[str, Any]]
) -> dict[str, Any]:
    """Send ``n`` requests (4 in flight) and sample the runner's RSS every ``every`` of them."""
    samples: list[tuple[int, float]] = [(0, rss_mib(pid))]
    codes: dict[str, int] = {}
    sent = 0

    async def one(i: int) -> None:
        reply = await server.request(AGENT, frame(i), timeout=60)
        code = "ok" if reply.get("ok") else reply["error"]["code"]
        codes[code] = codes.get(code, 0) + 1

    while sent < n:
        batch = range(sent, min(n, sent + every))
        for start in range(batch.start, batch.stop, 4):
            await asyncio.gather(*(one(i) for i in range(start, min(batch.stop, start + 4))))
        sent = batch.stop
        samples.append((sent, rss_mib(pid)))
    half = [mib for count, mib in samples if count >= n // 2]
    return {
        "requests": n,
        "replies": codes,
        "rss_start_mib": samples[0][1],
        "rss_end_mib": samples[-1][1],
        "rss_max_mib": max(mib for _, mib in samples),
        "second_half_growth_mib": half[-1] - half[0],
        "samples": samples,
    }


async def big_log_run(server: ReferenceServer) -> tuple[str, int]:
    """A finished stand-in run with a log of about 1 MB; its id and log size."""
    frame = {
        "type": "run_pipeline",
        "runId": "bench-max-log",
        "pipelineType": "metadata",
        "pipelineFqn": "bench.max_log",
        "config": {"standIn": {"seconds": 0, "lines": 30_000}},
    }
    reply = await server.request(AGENT, frame)
    if not reply.get("ok"):
        raise RuntimeError(reply)
    for _ in range(600):
        status = await server.request(AGENT, {"type": "status", "runId": "bench-max-log"})
        if status["result"]["runs"][0]["state"] in FINAL:
            break
        await asyncio.sleep(0.1)
    first = await server.request(AGENT, {"type": "logs", "runId": "bench-max-log"})
    return "bench-max-log", int(first["result"]["total"])


async def run_phases(server: ReferenceServer, pid: int, quick: bool) -> dict[str, Any]:
    n_frames, n_ids, n_logs, n_long = (40, 2000, 300, 60) if quick else (200, 6000, 1000, 150)
    pad = "x" * (MAX_FRAME - 1024)
    run_id, total = await big_log_run(server)
    last_start = max(1, total - 65536)
    phases: dict[str, Any] = {}
    phases["max_frames"] = await phase(
        server, pid, n_frames, 20, lambda i: {"type": "status", "id": max_id("f", i), "pad": pad}
    )
    phases["max_ids"] = await phase(
        server, pid, n_ids, 500, lambda i: {"type": "status", "id": max_id("i", i)}
    )
    phases["log_chunks"] = await phase(
        server,
        pid,
        n_logs,
        100,
        lambda i: {
            "type": "logs",
            "id": max_id("l", i),
            "runId": run_id,
            "after": str((i * 4099) % last_start),
        },
    )
    phases["long_ids"] = await phase(
        server, pid, n_long, 15, lambda i: {"type": "status", "id": f"{i}-".ljust(MIB, "L")}
    )
    return phases


async def main(quick: bool, source: Path) -> dict[str, Any]:
    token = new_token()
    server = ReferenceServer({token: None}, heartbeat_seconds=30)
    await server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-maxreq-") as tmp:
            env = runner_env(server.ws_url(), token, Path(tmp))
            runner = await spawn_runner_from(source, env)
            try:
                await server.wait_active(AGENT, timeout=30)
                await asyncio.sleep(1)
                idle = rss_mib(runner.pid)
                phases = await run_phases(server, runner.pid, quick)
            finally:
                await stop_process(runner)
    finally:
        await server.stop()
    peak = max(p["rss_max_mib"] for p in phases.values())
    return {
        "params": {"quick": quick, "source": str(source), "max_frame_bytes": MAX_FRAME},
        "targets": {"second_half_growth_mib_max": 5.0},
        "rss_idle_mib": idle,
        "rss_peak_mib": peak,
        "flat": all(p["second_half_growth_mib"] < 5.0 for p in phases.values()),
        "phases": phases,
    }


def report(data: dict[str, Any]) -> None:
    print(f"runner from {data['params']['source']}: idle RSS {data['rss_idle_mib']:.1f} MiB")
    for name, p in data["phases"].items():
        print(
            f"{name:<11} {p['requests']:>5} requests  RSS {p['rss_start_mib']:6.1f} -> "
            f"{p['rss_end_mib']:6.1f} MiB (max {p['rss_max_mib']:6.1f}; second half "
            f"{p['second_half_growth_mib']:+.1f})  replies {p['replies']}"
        )
    print(f"peak RSS {data['rss_peak_mib']:.1f} MiB; flat: {data['flat']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests per phase")
    parser.add_argument("--source", type=Path, default=ROOT, help="checkout to run the runner from")
    args = parser.parse_args()
    result = asyncio.run(main(args.quick, args.source.resolve()))
    report(result)
    if args.source.resolve() == ROOT:
        write_result("max_requests_rss", result)
