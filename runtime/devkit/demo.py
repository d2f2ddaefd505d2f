"""``hybrid-runner demo``: the reference server and a local-executor runner, end to end.

Everything runs on 127.0.0.1 in temporary directories. The runs are the ingestion stand-in
(runtime/devkit/stand_in.py), not real ingestion. Each step checks what it got and the demo exits
non-zero at the first step that misbehaves.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shlex
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import attrs

from runtime.composition import build_runner
from runtime.devkit.reference_server import ReferenceServer
from runtime.observability.logsetup import configure
from runtime.settings import Settings

AGENT = "demo-runner"


class DemoFailure(Exception):
    pass


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise DemoFailure(what)


def _short(reply: dict[str, Any]) -> str:
    if reply.get("ok"):
        result = reply.get("result") or {}
        if "runs" in result:
            return "ok " + ", ".join(f"{r['runId']}={r['state']}" for r in result["runs"])
        if "state" in result:
            return f"ok {result['runName']} {result['state']}"
        return "ok"
    error = reply.get("error") or {}
    return f"error {error.get('code')}: {error.get('message')}"


STAND_IN = shlex.join([sys.executable, "-m", "runtime.devkit.stand_in"])


def local_runner_env(
    server_url: str, token: str, state_dir: str, agent_id: str = AGENT, **overrides: str
) -> dict[str, str]:
    """The environment of a runner on the local executor running the ingestion stand-in,
    connected to a reference server on 127.0.0.1: the demo's, and the tests' and benchmarks'
    (with their own overrides)."""
    env = {
        "AGENT_ID": agent_id,
        "AUTH_TOKEN": token,
        "SERVER_URL": server_url,
        "ALLOW_INSECURE_WS": "true",
        "EXECUTOR_TYPE": "local",
        "LOCAL_PIPELINE_COMMAND": STAND_IN,
        "LOCAL_AUTOMATION_COMMAND": STAND_IN,
        "STATE_DIR": state_dir,
        "METRICS_SERVER_HOST": "127.0.0.1",
        "METRICS_SERVER_PORT": "0",
        "KILL_GRACE_SECONDS": "3",
    }
    env.update(overrides)
    return env


async def run_demo(verbose: bool = False) -> int:
    configure("INFO" if verbose else "ERROR", "text")
    token = secrets.token_urlsafe(24)
    server = ReferenceServer({token: AGENT}, server_version="1.11.1", heartbeat_seconds=5)
    await server.start()
    with tempfile.TemporaryDirectory(prefix="hybrid-runner-demo-") as state_dir:
        settings = Settings.from_env(
            local_runner_env(server.ws_url(), token, state_dir), require_server=True
        )
        runner = build_runner(settings)
        print(f"reference server: {server.ws_url()}")
        print(f"runner: agent {AGENT}, local executor, state in {state_dir}")
        step = "start"
        try:
            await runner.start()
            step = "connect"
            await server.wait_active(AGENT, timeout=15)
            print(f"  ok   runner connected; server lists it as {server.agents[AGENT].status}")
            for step, action in _Demo(server, runner).steps():
                line = await action()
                print(f"  ok   {step}: {line}")
        except (DemoFailure, TimeoutError, LookupError, aiohttp.ClientError) as exc:
            print(f"  FAIL {step}: {exc or type(exc).__name__}")
            print("demo FAILED")
            return 1
        finally:
            await runner.stop(grace=5)
            await server.stop()
    print("demo OK: every step answered as documented")
    return 0


@attrs.define
class _Demo:
    """The demo's steps against one reference server and one runner, each a short check."""

    server: ReferenceServer
    runner: Any
    quick_run: str = attrs.Factory(lambda: f"demo-{uuid.uuid4().hex[:8]}")
    long_run: str = attrs.Factory(lambda: f"demo-long-{uuid.uuid4().hex[:8]}")
    check_run: str = attrs.Factory(lambda: f"demo-check-{uuid.uuid4().hex[:8]}")

    async def _final_state(self, run_id: str, timeout: float = 20) -> dict[str, Any]:
        return await self.server.wait_event(
            AGENT,
            lambda e: (
                e["type"] == "run_update"
                and e["runId"] == run_id
                and e["state"] in ("success", "failed", "stopped", "partialSuccess")
            ),
            timeout=timeout,
        )

    async def test_connection(self) -> str:
        reply = await self.server.request(
            AGENT,
            {
                "type": "test_connection",
                "runId": self.check_run,
                "workflow": {
                    "name": "demo-check",
                    "workflowType": "TEST_CONNECTION",
                    "request": {"connection": {"config": {"type": "Mysql"}}},
                    "standIn": {"seconds": 0.3},
                },
            },
        )
        _expect(reply.get("ok") is True, f"test_connection refused: {_short(reply)}")
        event = await self._final_state(self.check_run)
        _expect(event["state"] == "success", f"automation ended {event['state']}")
        return f"{_short(reply)} -> run_update {event['state']}"

    async def run_pipeline(self) -> str:
        reply = await self.server.request(
            AGENT,
            {
                "type": "run_pipeline",
                "runId": self.quick_run,
                "pipelineType": "metadata",
                "pipelineFqn": "demo_mysql.demo_metadata_pipeline",
                "config": {"source": {"type": "mysql"}, "standIn": {"seconds": 0.5, "lines": 3}},
            },
        )
        _expect(reply.get("ok") is True, f"run_pipeline refused: {_short(reply)}")
        event = await self._final_state(self.quick_run)
        _expect(event["state"] == "success", f"pipeline ended {event['state']}")
        events = self.server.events(AGENT, "run_update")
        states = [e["state"] for e in events if e["runId"] == self.quick_run]
        return f"{_short(reply)} -> run_update {' -> '.join(states)}"

    async def status_of_run(self) -> str:
        reply = await self.server.request(AGENT, {"type": "status", "runId": self.quick_run})
        runs = (reply.get("result") or {}).get("runs") or [{}]
        _expect(runs[0].get("state") == "success", f"status says {_short(reply)}")
        return _short(reply)

    async def duplicate(self) -> str:
        frame = {
            "type": "run_pipeline",
            "id": "demo-dup-1",
            "runId": self.quick_run,
            "pipelineType": "metadata",
            "pipelineFqn": "demo_mysql.demo_metadata_pipeline",
            "config": {"standIn": {"seconds": 0.1}},
        }
        first = await self.server.request(AGENT, frame)
        second = await self.server.request(AGENT, frame)
        _expect(first == second, "a re-sent request id got a different reply")
        runs = self.runner.context.executor.table.for_pipeline("demo_mysql.demo_metadata_pipeline")
        _expect(len(runs) == 1, f"{len(runs)} runs exist for one runId")
        return f"same runId and re-sent id -> {_short(first)}, still 1 run"

    async def kill_long_run(self) -> str:
        reply = await self.server.request(
            AGENT,
            {
                "type": "run_pipeline",
                "runId": self.long_run,
                "pipelineType": "profiler",
                "pipelineFqn": "demo_mysql.demo_profiler_pipeline",
                "config": {"standIn": {"seconds": 120}},
            },
        )
        _expect(reply.get("ok") is True, f"long run refused: {_short(reply)}")
        await self.server.wait_event(
            AGENT,
            lambda e: (
                e["type"] == "run_update"
                and e["runId"] == self.long_run
                and e["state"] == "running"
            ),
        )
        started = time.monotonic()
        killed = await self.server.request(AGENT, {"type": "kill", "runId": self.long_run})
        runs = (killed.get("result") or {}).get("runs") or [{}]
        _expect(runs[0].get("state") == "stopped", f"kill answered {_short(killed)}")
        return f"{_short(killed)} in {time.monotonic() - started:.2f}s"

    async def unknown_type(self) -> str:
        reply = await self.server.request(AGENT, {"type": "reticulate_splines"})
        error = reply.get("error") or {}
        _expect(error.get("code") == "unknown_message_type", f"got {_short(reply)}")
        return _short(reply)

    async def runner_status(self) -> str:
        reply = await self.server.request(AGENT, {"type": "status"})
        result = reply.get("result") or {}
        _expect(result.get("connected") is True, f"status says {_short(reply)}")
        return (
            f"agent {result['agentId']} v{result['version']}, {result['executor']} executor, "
            f"{result['trackedRuns']} runs tracked, {result['activeRuns']} active"
        )

    async def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.runner.port}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            text = await response.text()
        _expect("collate_hybrid_agent_connected 1.0" in text, "metrics do not show connected")
        return "collate_hybrid_agent_connected 1.0"

    def steps(self) -> list[tuple[str, Callable[[], Awaitable[str]]]]:
        return [
            ("test_connection", self.test_connection),
            ("run_pipeline", self.run_pipeline),
            ("status (run)", self.status_of_run),
            ("re-sent request", self.duplicate),
            ("kill (long run)", self.kill_long_run),
            ("unknown message type", self.unknown_type),
            ("status (runner)", self.runner_status),
            ("/metrics", self.metrics),
        ]


if __name__ == "__main__":
    logging.basicConfig()
    sys.exit(asyncio.run(run_demo()))
