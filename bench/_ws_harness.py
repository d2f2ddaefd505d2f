"""The server side of the status round-trip benchmark (bench/status_roundtrip.py): a bare
aiohttp server that accepts one runner on ``/ws`` and one echo peer on ``/echo``, and drives
``status`` frames over either socket, timing each reply with perf_counter_ns.

Kept apart from the benchmark's phases because the cProfile run drives the runner through it too.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import psutil  # type: ignore[import-untyped]
from aiohttp import WSMsgType, web

from bench._common import latency_summary, now_ns
from runtime.wire import codec
from runtime.wire.messages import PROTOCOL_VERSION, Hello, Welcome


class Harness:
    """The server side: accepts one runner on /ws and one echo peer on /echo."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.peers: dict[str, web.WebSocketResponse] = {}
        self.arrived: dict[str, asyncio.Event] = {
            "runner": asyncio.Event(),
            "echo": asyncio.Event(),
        }
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/ws", self._runner_ws)
        app.router.add_get("/echo", self._echo_ws)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self._closing.set()
        for ws in self.peers.values():
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    async def _runner_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=4 * 1024 * 1024)
        await ws.prepare(request)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            await ws.close(code=4401, message=b"bad token")
            return ws
        first = await ws.receive(timeout=10)
        hello = codec.decode_runner_frame(first.data)
        assert isinstance(hello, Hello)
        assert hello.protocol == PROTOCOL_VERSION
        welcome = Welcome(protocol=PROTOCOL_VERSION, server_version="1.11.1", heartbeat_seconds=60)
        await ws.send_str(codec.encode(welcome))
        return await self._hold("runner", ws)

    async def _echo_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=4 * 1024 * 1024)
        await ws.prepare(request)
        return await self._hold("echo", ws)

    async def _hold(self, name: str, ws: web.WebSocketResponse) -> web.WebSocketResponse:
        # The benchmark is the only reader of this socket; the handler just keeps it open.
        self.peers[name] = ws
        self.arrived[name].set()
        await self._closing.wait()
        return ws


WINDOW = 16  # requests in flight in the windowed mode
_ids = iter(range(1, 1 << 62))
RUN_ID = "5b0f6c1e-bench-4a7e-9d0c-status-roundtrip"
PIPELINE_FQN = "bench_mysql.bench_metadata_ingestion"
# What is asked: the runner's own status, and one run's status (a finished local run).
QUERIES: dict[str, str] = {
    "status": "",
    "status_run": f',"runId":"{RUN_ID}"',
}


def frames(n: int, query: str = "status") -> list[tuple[str, str]]:
    """n ``status`` frames with fresh ids of a fixed width (same size every time)."""
    extra = QUERIES[query]
    out = []
    for _ in range(n):
        rid = f"q{next(_ids):010d}"
        out.append((rid, f'{{"type":"status","id":"{rid}"{extra}}}'))
    return out


async def drive(
    ws: web.WebSocketResponse, n: int, window: int, query: str = "status"
) -> dict[str, float]:
    """Send n frames keeping ``window`` in flight; per-frame latency and overall throughput."""
    todo = frames(n, query)
    sent: dict[str, int] = {}
    latencies: list[int] = []
    it = iter(todo)
    started = now_ns()
    for _ in range(min(window, n)):
        rid, text = next(it)
        sent[rid] = now_ns()
        await ws.send_str(text)
    remaining = n
    while remaining:
        msg = await ws.receive(timeout=30)
        t = now_ns()
        if msg.type != WSMsgType.TEXT:
            raise RuntimeError(f"peer went away: {msg.type!r}")
        data = json.loads(msg.data)
        if data.get("type") != "reply":
            continue  # heartbeat / run_update
        if not data.get("ok", False):
            raise RuntimeError(f"error reply: {data}")
        latencies.append(t - sent.pop(data["id"]))
        remaining -= 1
        nxt = next(it, None)
        if nxt is not None:
            sent[nxt[0]] = now_ns()
            await ws.send_str(nxt[1])
    elapsed = now_ns() - started
    return {"throughput_rps": n / (elapsed / 1e9), **latency_summary(latencies)}


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


async def drive_measured(
    ws: web.WebSocketResponse, n: int, window: int, query: str, peer: psutil.Process
) -> dict[str, float]:
    """``drive`` plus the CPU the peer process and this (server-side) process used meanwhile."""
    me = psutil.Process()
    peer0, me0 = cpu_seconds(peer), cpu_seconds(me)
    result = await drive(ws, n, window, query)
    peer_cpu, my_cpu = cpu_seconds(peer) - peer0, cpu_seconds(me) - me0
    elapsed = n / result["throughput_rps"]
    return {
        **result,
        "peer_cpu_util": peer_cpu / elapsed,
        "peer_cpu_us_per_request": peer_cpu / n * 1e6,
        "harness_cpu_util": my_cpu / elapsed,
    }


async def ask(ws: web.WebSocketResponse, frame: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """One request, waiting for its reply (skipping events); the reply and its size."""
    await ws.send_str(json.dumps(frame, separators=(",", ":")))
    while True:
        msg = await ws.receive(timeout=10)
        data = json.loads(msg.data)
        if data.get("id") == frame["id"]:
            return data, len(msg.data)
