"""Status round trips over a real WebSocket on 127.0.0.1, against a bare aiohttp echo baseline.

Layout (two processes, like production: the runner dials out, the server sends requests):

  bench process (server side)            child process (client side)
  aiohttp web server, ``/ws`` and        ``python -m runtime`` (local executor), or
  ``/echo``; drives requests and         ``python -m bench._echo_peer`` (bare aiohttp client
  times them with perf_counter_ns        answering each frame with a same-size reply)

The server side of ``/ws`` is a minimal harness: bearer check, ``hello`` -> ``welcome`` (as the
ReferenceServer does), then raw ``status`` frames. Each frame gets a fresh ``id`` (the runner's
reply cache never answers). Modes: sequential (one in flight) and a window of K in flight.
Echo and runner repetitions are interleaved on the same loop with the same frames; the figure is
the median over repetitions. A second section drives the same runner through
``ReferenceServer.request()`` (what the tests and the HTTP API use) to show that path's cost.

    uv run python -m bench.status_roundtrip [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
from aiohttp import web

from bench._common import (
    AGENT,
    latency_summary,
    median_of,
    new_token,
    now_ns,
    runner_env,
    spawn,
    spawn_runner,
    stop_process,
    write_result,
)
from bench._ws_harness import (
    PIPELINE_FQN,
    QUERIES,
    RUN_ID,
    WINDOW,
    Harness,
    ask,
    drive,
    drive_measured,
    frames,
)
from runtime.devkit.reference_server import ReferenceServer


async def prepare_run(ws: web.WebSocketResponse) -> None:
    """Launch one short local run and wait until it is final, so ``status {runId}`` is stable."""
    launch = {
        "type": "run_pipeline",
        "id": "launch-1",
        "runId": RUN_ID,
        "pipelineType": "metadata",
        "pipelineFqn": PIPELINE_FQN,
        "config": {"standIn": {"seconds": 0.05, "lines": 1}},
    }
    reply, _ = await ask(ws, launch)
    if not reply.get("ok"):
        raise RuntimeError(f"launch failed: {reply}")
    for _ in range(200):
        ((_, text),) = frames(1, "status_run")
        reply, _ = await ask(ws, json.loads(text))
        if reply["result"]["runs"][0]["state"] == "success":
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the stand-in run did not finish")


async def raw_section(reps: int, n_seq: int, n_win: int, warmup: int) -> dict[str, Any]:
    token = new_token()
    harness = Harness(token)
    await harness.start()
    with tempfile.TemporaryDirectory(prefix="bench-rt-") as tmp:
        runner = await spawn_runner(runner_env(harness.url("/ws"), token, Path(tmp)))
        echo = None
        try:
            await asyncio.wait_for(harness.arrived["runner"].wait(), 30)
            rws = harness.peers["runner"]
            await prepare_run(rws)
            sizes: dict[str, tuple[int, int]] = {}
            for query in QUERIES:
                ((_, text),) = frames(1, query)
                _, size = await ask(rws, json.loads(text))
                sizes[query] = (len(text), size)
            echo = await spawn(
                [
                    sys.executable,
                    "-m",
                    "bench._echo_peer",
                    harness.url("/echo"),
                    *(f"{req}:{rep}" for req, rep in sizes.values()),
                ]
            )
            await asyncio.wait_for(harness.arrived["echo"].wait(), 30)
            peers = {"echo": harness.peers["echo"], "runner": rws}
            procs = {"echo": psutil.Process(echo.pid), "runner": psutil.Process(runner.pid)}
            samples = await measure(peers, procs, reps, (n_seq, n_win), warmup)
            return summarize(samples, sizes)
        finally:
            await stop_process(runner)
            if echo is not None:
                await stop_process(echo)
            await harness.stop()


MODES = ("sequential", f"window{WINDOW}")
Samples = dict[tuple[str, str, str], list[dict[str, float]]]


async def measure(
    peers: dict[str, web.WebSocketResponse],
    procs: dict[str, psutil.Process],
    reps: int,
    counts: tuple[int, int],
    warmup: int,
) -> Samples:
    """Every repetition of every query and mode on both peers, echo and runner back to back."""
    for ws in peers.values():
        for query in QUERIES:
            await drive(ws, warmup, 1, query)
            await drive(ws, warmup, WINDOW, query)
    modes = tuple(zip(MODES, counts, (1, WINDOW), strict=True))
    samples: Samples = {}
    for rep in range(reps):
        for query in QUERIES:
            for mode, n, window in modes:
                # Alternate which goes first so drift does not favour one side.
                order = ["echo", "runner"] if rep % 2 == 0 else ["runner", "echo"]
                for name in order:
                    result = await drive_measured(peers[name], n, window, query, procs[name])
                    samples.setdefault((query, mode, name), []).append(result)
    return samples


def summarize(samples: Samples, sizes: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """The medians per query, mode and peer, and the runner/echo throughput ratios."""
    out: dict[str, Any] = {
        "sizes": {q: {"request_bytes": a, "reply_bytes": b} for q, (a, b) in sizes.items()}
    }
    for (query, mode, name), reps_ in samples.items():
        slot = out.setdefault(query, {}).setdefault(mode, {})
        slot[name] = median_of(reps_)
        slot.setdefault("reps", {})[name] = reps_
    for query in QUERIES:
        for mode in MODES:
            slot = out[query][mode]
            # Runner and echo of one repetition ran back to back: pair them, so that
            # load from other processes, which comes and goes, hits both sides alike.
            paired = [
                r["throughput_rps"] / e["throughput_rps"]
                for r, e in zip(slot["reps"]["runner"], slot["reps"]["echo"], strict=True)
            ]
            slot["throughput_ratio"] = statistics.median(paired)
            slot["throughput_ratio_reps"] = paired
    return out


async def reference_section(reps: int, n_seq: int, n_win: int, warmup: int) -> dict[str, Any]:
    token = new_token()
    server = ReferenceServer({token: None}, heartbeat_seconds=60)
    await server.start()
    with tempfile.TemporaryDirectory(prefix="bench-rt-ref-") as tmp:
        runner = await spawn_runner(runner_env(server.ws_url(), token, Path(tmp)))
        try:
            await server.wait_active(AGENT, timeout=30)

            async def one(latencies: list[int]) -> None:
                t0 = now_ns()
                reply = await server.request(AGENT, {"type": "status"})
                latencies.append(now_ns() - t0)
                if not reply.get("ok"):
                    raise RuntimeError(reply)

            async def run(n: int, window: int) -> dict[str, float]:
                latencies: list[int] = []
                todo = iter(range(n))

                async def worker() -> None:
                    for _ in todo:
                        await one(latencies)

                started = now_ns()
                await asyncio.gather(*(worker() for _ in range(window)))
                elapsed = now_ns() - started
                return {"throughput_rps": n / (elapsed / 1e9), **latency_summary(latencies)}

            await run(warmup, 1)
            await run(warmup, WINDOW)
            seq = [await run(n_seq, 1) for _ in range(reps)]
            win = [await run(n_win, WINDOW) for _ in range(reps)]
            return {"sequential": median_of(seq), f"window{WINDOW}": median_of(win)}
        finally:
            await stop_process(runner)
            await server.stop()


# Where a status request's time goes: functions of the runner, by cumulative time. Nested:
# _answer = handle_frame + encode + send; handle_frame = decode + dispatch; dispatch > _run >
# context, handler. "spawn" (one task per frame, made by the read loop) is outside _answer.
# A label may sum several functions; "~" marks a C builtin.
PROFILED: dict[str, tuple[str, ...]] = {
    "answer": ("runtime/serving/connection.py:_answer",),
    "handle_frame": ("runtime/serving/dispatch.py:handle_frame",),
    "decode": ("runtime/wire/codec.py:decode_request",),
    "dispatch": ("runtime/serving/dispatch.py:dispatch",),
    "run": ("runtime/serving/dispatch.py:_run",),
    "handler": ("handlers/status.py:handle",),
    "context": ("runtime/serving/dispatch.py:_context_for",),
    "timeout": ("asyncio/timeouts.py:__aenter__", "asyncio/timeouts.py:__aexit__"),
    "wait_for": ("asyncio/tasks.py:wait_for",),
    "labels": ("prometheus_client/metrics.py:labels",),
    "inc": ("prometheus_client/metrics.py:inc",),
    "observe": ("prometheus_client/metrics.py:observe",),
    "encode": ("runtime/wire/codec.py:encode",),
    "send": ("runtime/serving/connection.py:_send",),
    "socket_send": ("~:<method 'send' of '_socket.socket' objects>",),
    "spawn": ("asyncio/tasks.py:create_task",),
}


async def profile_section(n: int) -> dict[str, Any]:
    """The runner under cProfile answering n plain ``status`` with 16 in flight (not timed)."""
    import pstats

    token = new_token()
    harness = Harness(token)
    await harness.start()
    with tempfile.TemporaryDirectory(prefix="bench-rt-prof-") as tmp:
        out = Path(tmp) / "runner.prof"
        env = runner_env(harness.url("/ws"), token, Path(tmp) / "state")
        runner = await spawn(
            [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "runtime"], env
        )
        try:
            await asyncio.wait_for(harness.arrived["runner"].wait(), 30)
            await drive(harness.peers["runner"], n, WINDOW)
        finally:
            await stop_process(runner)
            await harness.stop()
        stats = pstats.Stats(str(out)).stats  # type: ignore[attr-defined]
    cumulative: dict[str, float] = dict.fromkeys(PROFILED, 0.0)
    for (filename, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.items():
        for label, places in PROFILED.items():
            for where in places:
                path, name = where.split(":", 1)
                if func == name and filename.endswith(path):
                    cumulative[label] += ct
    # With asyncio.wait_for the handler ran in a task of its own, outside _answer's time.
    nested = cumulative["wait_for"] < 0.5 * cumulative["handler"]
    total = cumulative["answer"] + (0.0 if nested else cumulative["handler"])
    return {
        "requests": n,
        "us_per_request_profiled": total / n * 1e6,
        "handler_nested": nested,
        "share": {k: v / total for k, v in cumulative.items()} if total else {},
    }


async def main(quick: bool) -> dict[str, Any]:
    reps, n_seq, n_win, warmup = (3, 500, 1000, 200) if quick else (5, 2000, 4000, 1000)
    raw = await raw_section(reps, n_seq, n_win, warmup)
    ref = await reference_section(reps, n_seq, n_win, warmup)
    prof = await profile_section(1000 if quick else 3000)
    return {
        "params": {
            "reps": reps,
            "sequential_n": n_seq,
            "window_n": n_win,
            "window": WINDOW,
            "warmup": warmup,
        },
        "targets": {"throughput_ratio_min": 0.5, "p99_ms_max": 2.0},
        "raw": raw,
        "reference_server": ref,
        "profile": prof,
    }


def report(data: dict[str, Any]) -> None:
    raw = data["raw"]
    prof = data["profile"]
    print(f"profile ({prof['requests']} status, runner under cProfile): share of a request")
    for label, share in prof["share"].items():
        print(f"  {share:6.1%}  {label}")
    for query in QUERIES:
        size = raw["sizes"][query]
        print(f"{query}: request {size['request_bytes']} B, reply {size['reply_bytes']} B")
        for mode in ("sequential", f"window{WINDOW}"):
            for name in ("echo", "runner"):
                r = raw[query][mode][name]
                print(
                    f"  {mode:<11} {name:<6} {r['throughput_rps']:9.0f} req/s  "
                    f"p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  "
                    f"peer CPU {r['peer_cpu_util']:.0%} ({r['peer_cpu_us_per_request']:.0f} us/req)"
                    f"  harness CPU {r['harness_cpu_util']:.0%}"
                )
            print(f"  {mode:<11} runner/echo throughput {raw[query][mode]['throughput_ratio']:.2f}")
    for mode, r in data["reference_server"].items():
        print(
            f"ReferenceServer.request status {mode:<11} {r['throughput_rps']:9.0f} req/s  "
            f"p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (smoke run)")
    args = parser.parse_args()
    result = asyncio.run(main(args.quick))
    report(result)
    write_result("status_roundtrip", result)
