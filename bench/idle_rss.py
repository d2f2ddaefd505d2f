"""Memory of the runner process: idle, after 1000 status requests, after 50 local runs.

Starts ``python -m runtime`` (local executor, configured as tests/conftest.py does) against a
ReferenceServer in this process, waits until it is connected and then 5 s idle, and reads its
RSS and USS with psutil. Only the runner process is measured: its children (the local runs'
supervisors) are counted separately and are gone by the time of each reading.

Baselines, measured in the same run: a bare interpreter (``python -c`` sleeping) and a bare
aiohttp WebSocket client connected to the same server (``bench._echo_peer``), both idle 5 s.

    uv run python -m bench.idle_rss [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
from aiohttp import web

from bench._common import (
    AGENT,
    new_token,
    now_ns,
    runner_env,
    spawn,
    spawn_runner,
    stop_process,
    write_result,
)
from runtime.devkit.reference_server import ReferenceServer

MIB = 1024 * 1024
FINAL = {"success", "failed", "partialSuccess", "stopped"}


def memory(pid: int) -> dict[str, Any]:
    proc = psutil.Process(pid)
    info = proc.memory_full_info()
    children = proc.children(recursive=True)
    return {
        "rss_mib": info.rss / MIB,
        "uss_mib": getattr(info, "uss", float("nan")) / MIB,
        "pss_mib": getattr(info, "pss", float("nan")) / MIB,
        "threads": proc.num_threads(),
        "children": len(children),
        "children_rss_mib": sum(c.memory_info().rss for c in children) / MIB,
    }


async def statuses(server: ReferenceServer, n: int, window: int = 8) -> None:
    todo = iter(range(n))

    async def worker() -> None:
        for _ in todo:
            reply = await server.request(AGENT, {"type": "status"})
            if not reply.get("ok"):
                raise RuntimeError(reply)

    await asyncio.gather(*(worker() for _ in range(window)))


async def launches(server: ReferenceServer, n: int) -> float:
    """Launch n stand-in runs (0.05 s each), wait until all are final; seconds taken."""
    started = now_ns()
    ids = [f"bench-rss-run-{i:04d}" for i in range(n)]
    for i, run_id in enumerate(ids):
        reply = await server.request(
            AGENT,
            {
                "type": "run_pipeline",
                "runId": run_id,
                "pipelineType": "metadata",
                "pipelineFqn": f"bench_mysql.pipeline_{i % 5}",
                "config": {"standIn": {"seconds": 0.05}},
            },
        )
        if not reply.get("ok"):
            raise RuntimeError(reply)
    pending = set(ids)
    for _ in range(600):
        for run_id in list(pending):
            reply = await server.request(AGENT, {"type": "status", "runId": run_id})
            if reply.get("ok") and reply["result"]["runs"][0]["state"] in FINAL:
                pending.discard(run_id)
        if not pending:
            return (now_ns() - started) / 1e9
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{len(pending)} runs did not finish")


async def idle_baselines(idle: float) -> dict[str, Any]:
    """A bare interpreter, and a bare aiohttp WebSocket client holding a connection, idle."""
    closing = asyncio.Event()

    async def hold(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await closing.wait()
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/echo", hold)
    app_runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await app_runner.setup()
    site = web.TCPSite(app_runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    bare = await spawn([sys.executable, "-c", "import time; time.sleep(3600)"])
    client = await spawn([sys.executable, "-m", "bench._echo_peer", f"ws://127.0.0.1:{port}/echo"])
    try:
        await asyncio.sleep(idle)
        if client.returncode is not None:
            raise RuntimeError("the baseline WebSocket client exited")
        return {"python": memory(bare.pid), "aiohttp_ws_client": memory(client.pid)}
    finally:
        await stop_process(bare)
        await stop_process(client)
        closing.set()
        await app_runner.cleanup()


async def main(quick: bool) -> dict[str, Any]:
    idle = 2.0 if quick else 5.0
    n_status, n_runs = (200, 10) if quick else (1000, 50)
    token = new_token()
    server = ReferenceServer({token: None}, heartbeat_seconds=30)
    await server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp:
            runner = await spawn_runner(runner_env(server.ws_url(), token, Path(tmp)))
            try:
                t0 = now_ns()
                await server.wait_active(AGENT, timeout=30)
                connect_s = (now_ns() - t0) / 1e9
                await asyncio.sleep(idle)
                at_idle = memory(runner.pid)
                await statuses(server, n_status)
                await asyncio.sleep(1)
                after_status = memory(runner.pid)
                runs_s = await launches(server, n_runs)
                await asyncio.sleep(1)
                after_runs = memory(runner.pid)
                # Which native libraries take the most resident memory.
                modules = await loaded_packages(runner.pid)
            finally:
                await stop_process(runner)
            breakdown = await rss_breakdown(runner_env(server.ws_url(), token, Path(tmp)))
        baselines = await idle_baselines(idle)
    finally:
        await server.stop()
    return {
        "params": {"idle_seconds": idle, "status_requests": n_status, "local_runs": n_runs},
        "targets": {"idle_rss_mib_max": 60.0},
        "start_to_connected_s": connect_s,
        "runs_wall_s": runs_s,
        "runner": {
            "idle": at_idle,
            "after_status": after_status,
            "after_runs": after_runs,
        },
        "baseline": baselines,
        "mapped_files": modules,
        "breakdown_mib": breakdown,
    }


async def rss_breakdown(env: dict[str, str]) -> dict[str, float]:
    """RSS of a fresh interpreter after each import step of the runner (bench._rss_breakdown)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench._rss_breakdown",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await proc.communicate()
    steps: dict[str, float] = json.loads(out)
    return steps


async def loaded_packages(pid: int) -> list[str]:
    """Shared objects mapped by the runner (from /proc/PID/maps), the largest native parts."""
    try:
        maps = psutil.Process(pid).memory_maps(grouped=True)
    except (psutil.Error, OSError):
        return []
    libs = sorted(
        ((m.rss, m.path) for m in maps if m.path.endswith(".so") or ".so." in m.path),
        reverse=True,
    )
    return [f"{rss / MIB:.1f} MiB {Path(path).name}" for rss, path in libs[:8]]


def report(data: dict[str, Any]) -> None:
    r = data["runner"]
    for label, key in (
        ("idle", "idle"),
        (f"after {data['params']['status_requests']} status", "after_status"),
        (f"after {data['params']['local_runs']} local runs", "after_runs"),
    ):
        m = r[key]
        print(
            f"runner {label:<22} RSS {m['rss_mib']:6.1f} MiB  USS {m['uss_mib']:6.1f} MiB  "
            f"threads {m['threads']}  children {m['children']}"
        )
    for name, m in data["baseline"].items():
        print(f"baseline {name:<20} RSS {m['rss_mib']:6.1f} MiB  USS {m['uss_mib']:6.1f} MiB")
    print("largest native libraries:", json.dumps(data["mapped_files"], indent=1))
    print("RSS by import step (fresh interpreter):")
    for step, mib in data["breakdown_mib"].items():
        print(f"  {mib:6.1f} MiB  {step}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter idle, fewer requests")
    args = parser.parse_args()
    result = asyncio.run(main(args.quick))
    report(result)
    write_result("idle_rss", result)
