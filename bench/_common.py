"""Shared pieces of the benchmarks: machine facts, percentiles, results files, runner processes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runtime.devkit.demo import local_runner_env

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
AGENT = "bench-agent"


# ---------------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: p99 of 1000 samples is the 990th value)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil
    return float(ordered[int(rank) - 1])


def latency_summary(samples_ns: Sequence[int]) -> dict[str, float]:
    """p50/p99/max in milliseconds of a list of nanosecond durations."""
    ms = [s / 1e6 for s in samples_ns]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms) if ms else float("nan"),
        "mean_ms": statistics.fmean(ms) if ms else float("nan"),
    }


def median_of(reps: list[dict[str, float]]) -> dict[str, float]:
    """Per-key median over repetitions."""
    keys = reps[0].keys()
    return {k: float(statistics.median(r[k] for r in reps)) for k in keys}


# ---------------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    import aiohttp

    commit = ""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "cpu_model": model,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "aiohttp": aiohttp.__version__,
        "git_commit": commit,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": name, "machine": machine(), **data}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return path


# ---------------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def new_token() -> str:
    return "tok-" + secrets.token_hex(12)


def runner_env(server_url: str, token: str, state_dir: Path, **overrides: str) -> dict[str, str]:
    """The runner's environment, as tests/conftest.py builds it (local executor, stand-in), for
    a separate process: only PATH, HOME, LANG and TMPDIR of this process's own environment."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    defaults = {
        "PYTHONPATH": str(ROOT),
        "RECONNECT_DELAY_SECONDS": "0.05",
        "RECONNECT_MAX_DELAY_SECONDS": "0.2",
        "KILL_GRACE_SECONDS": "2",
        "SECRETS_PREFLIGHT": "false",
    }
    env.update(
        local_runner_env(server_url, token, str(state_dir), AGENT, **{**defaults, **overrides})
    )
    return env


async def spawn(args: list[str], env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    """A child process in this checkout, its output discarded (a log on a pipe nobody reads
    could block it)."""
    return await asyncio.create_subprocess_exec(
        *args,
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def spawn_runner(env: dict[str, str]) -> asyncio.subprocess.Process:
    """``python -m runtime`` (the real entry point), the same interpreter as this process."""
    return await spawn([sys.executable, "-m", "runtime"], env)


async def stop_process(proc: asyncio.subprocess.Process, timeout: float = 10.0) -> None:
    if proc.returncode is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), timeout)
    except ProcessLookupError:
        pass
    except TimeoutError:
        proc.kill()
        await proc.wait()


def now_ns() -> int:
    return time.perf_counter_ns()


# ---------------------------------------------------------------------------------- e2e figures


def e2e_figures(test: str, env: dict[str, str]) -> dict[str, Any] | None:
    """Runs one e2e test that writes its figures to BENCH_RESULT_FILE; None if it failed."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        result_file = Path(tmp) / "result.json"
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", test, "-q", "-p", "no:cacheprovider"],
            cwd=ROOT,
            env={**os.environ, **env, "BENCH_RESULT_FILE": str(result_file), "E2E_REQUIRE": "1"},
            check=False,
        )
        if proc.returncode != 0 or not result_file.exists():
            return None
        data: dict[str, Any] = json.loads(result_file.read_text())
        return data
