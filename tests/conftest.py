"""Shared fixtures: the reference server on 127.0.0.1 and in-process runners connected to it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from runtime.composition import build_runner
from runtime.devkit.demo import local_runner_env
from runtime.devkit.reference_server import ReferenceServer
from runtime.serving.app import Runner
from runtime.settings import Settings

MESSAGES = Path(__file__).parent / "messages"
AGENT = "test-agent"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((MESSAGES / name).read_text())
    return data


@pytest.fixture
async def server() -> AsyncIterator[ReferenceServer]:
    srv = ReferenceServer({"tok-" + secrets.token_hex(12): None}, heartbeat_seconds=30)
    await srv.start()
    yield srv
    await srv.stop()


def server_token(srv: ReferenceServer) -> str:
    return next(iter(srv.tokens))


def runner_env(srv: ReferenceServer | None, state_dir: Path, **overrides: str) -> dict[str, str]:
    """The demo's runner environment with fast reconnects and no secret preflight."""
    defaults = {
        "RECONNECT_DELAY_SECONDS": "0.05",
        "RECONNECT_MAX_DELAY_SECONDS": "0.2",
        "KILL_GRACE_SECONDS": "2",
        "SECRETS_PREFLIGHT": "false",
    }
    return local_runner_env(
        srv.ws_url() if srv else f"ws://127.0.0.1:{free_port()}/ws",
        server_token(srv) if srv else "unused-token",
        str(state_dir),
        AGENT,
        **{**defaults, **overrides},
    )


MakeRunner = Callable[..., Awaitable[Runner]]


@pytest.fixture
async def make_runner(server: ReferenceServer, tmp_path: Path) -> AsyncIterator[MakeRunner]:
    """Start in-process runners (local executor, stand-in ingestion) against ``server``."""
    runners: list[Runner] = []

    async def make(connect: bool = True, state_dir: Path | None = None, **env: str) -> Runner:
        settings = Settings.from_env(
            runner_env(server, state_dir or tmp_path / f"state{len(runners)}", **env),
            require_server=True,
        )
        runner = build_runner(settings, registry=CollectorRegistry())
        await runner.start()
        runners.append(runner)
        if connect:
            await asyncio.wait_for(runner.connection.connected_event.wait(), 10)
        return runner

    yield make
    for runner in runners:
        await runner.stop(grace=2)
        # Local runs outlive their runner by design; a test's runs must not outlive the test.
        executor = runner.context.executor
        for record in executor.table.all():
            private = getattr(executor, "private", None)
            pid = private.get(record.run_id).pid if private and not record.final else 0
            if pid:
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)


async def http_get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def metric_value(runner: Runner, name: str) -> float | None:
    _, text = await http_get(f"http://127.0.0.1:{runner.port}/metrics")
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)
