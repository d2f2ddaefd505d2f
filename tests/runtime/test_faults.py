"""Server-side faults: every scenario ends with no run lost, none duplicated, runner serving."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.devkit.reference_server import ReferenceServer
from tests.conftest import AGENT, MakeRunner, http_get, metric_value, sample, server_token, wait_for
from tests.faultproxy import FaultProxy
from tests.tlsutil import make_ca_and_server_cert


@pytest.fixture(autouse=True)
def token_never_logged(caplog: pytest.LogCaptureFixture, server: ReferenceServer) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    token = server_token(server)
    assert token not in caplog.text
    assert all(token not in str(r.args) for r in caplog.records)


@pytest.fixture
async def proxy(server: ReferenceServer) -> AsyncIterator[FaultProxy]:
    assert server.port is not None
    fault = FaultProxy(server.port)
    await fault.start()
    yield fault
    await fault.stop()


def launch_frame(seconds: float = 30) -> dict[str, Any]:
    return {**sample("run_pipeline.json"), "config": {"standIn": {"seconds": seconds}}}


def run_dirs(runner: object) -> list[Path]:
    state = Path(runner.settings.state_dir) / "runs"  # type: ignore[attr-defined]
    return list(state.iterdir()) if state.exists() else []


async def test_connection_dropped_before_the_reply(
    server: ReferenceServer, proxy: FaultProxy, make_runner: MakeRunner
) -> None:
    runner = await make_runner(SERVER_URL=f"ws://127.0.0.1:{proxy.port}/ws")
    frame = launch_frame()
    proxy.upstream_paused.set()  # the runner's reply will not get through
    first = asyncio.ensure_future(server.request(AGENT, frame, timeout=30))
    await wait_for(lambda: runner.context.executor.table.get(frame["runId"]) is not None)
    proxy.drop_all()
    proxy.upstream_paused.clear()
    await wait_for(
        lambda: server.agents[AGENT].sessions == 2 and server.agents[AGENT].status == "Active"
    )
    resent = await server.request(AGENT, frame)  # at-least-once: the server sends it again
    assert resent["ok"] is True
    assert (await first) == resent
    assert len(run_dirs(runner)) == 1
    assert len(runner.context.executor.table) == 1


async def test_connection_dropped_after_the_reply(
    server: ReferenceServer, proxy: FaultProxy, make_runner: MakeRunner
) -> None:
    runner = await make_runner(SERVER_URL=f"ws://127.0.0.1:{proxy.port}/ws")
    frame = launch_frame()
    first = await server.request(AGENT, frame)
    proxy.drop_all()
    await wait_for(
        lambda: server.agents[AGENT].sessions == 2 and server.agents[AGENT].status == "Active"
    )
    assert await server.request(AGENT, frame) == first
    assert len(run_dirs(runner)) == 1


async def test_server_restarted_twenty_times_in_a_row(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    runner = await make_runner()
    frame = launch_frame(seconds=60)
    assert (await server.request(AGENT, frame))["ok"] is True
    port = server.port
    current = server
    try:
        for _ in range(20):
            await current.stop()
            current = ReferenceServer(server.tokens)
            await current.start(port=port or 0)
            await current.wait_active(AGENT, timeout=10)
            status = await current.request(AGENT, {"type": "status", "runId": frame["runId"]})
            assert status["result"]["runs"][0]["state"] == "running"
        assert await current.request(AGENT, frame) == await current.request(AGENT, frame)
    finally:
        if current is not server:
            await current.stop()
    assert runner.connection.sessions >= 21
    assert len(run_dirs(runner)) == 1
    assert runner.context.executor.table.active_count == 1


async def test_a_server_that_stops_reading_is_detected_and_reconnected(
    server: ReferenceServer, proxy: FaultProxy, make_runner: MakeRunner
) -> None:
    runner = await make_runner(
        SERVER_URL=f"ws://127.0.0.1:{proxy.port}/ws", HEARTBEAT_SECONDS="0.5"
    )
    proxy.upstream_paused.set()
    # Events keep coming while the server reads nothing.
    for index in range(20):
        await server.agents[AGENT].ws.send_json(  # type: ignore[union-attr]
            {**launch_frame(seconds=0.1), "id": f"bp-{index}", "runId": f"bp-{index}"}
        )
    started = time.monotonic()
    await wait_for(lambda: not runner.context.runner.connected, timeout=10)
    detected = time.monotonic() - started
    assert detected < 5  # websocket pings go unanswered: a few heartbeat periods
    assert len(runner.connection._outbox) <= 10_000
    proxy.upstream_paused.clear()
    await asyncio.wait_for(runner.connection.connected_event.wait(), 20)
    reply = await server.request(AGENT, sample("status.json"))
    assert reply["ok"] is True
    # Events held back while the server did not read arrive after the reconnect.
    finals = {
        e["runId"]
        for e in server.events(AGENT, "run_update")
        if e["runId"].startswith("bp-") and e["state"] == "success"
    }
    await wait_for(
        lambda: (
            len(
                {
                    e["runId"]
                    for e in server.events(AGENT, "run_update")
                    if e["runId"].startswith("bp-") and e["state"] == "success"
                }
            )
            == 20
        ),
        timeout=15,
    )
    assert len(finals) <= 20
    assert len(run_dirs(runner)) == 20


async def test_a_slow_server_is_still_served(
    server: ReferenceServer, proxy: FaultProxy, make_runner: MakeRunner
) -> None:
    proxy.latency = 0.25
    runner = await make_runner(SERVER_URL=f"ws://127.0.0.1:{proxy.port}/ws")
    frame = launch_frame(seconds=0.2)
    reply = await server.request(AGENT, frame, timeout=10)
    assert reply["ok"] is True
    await server.wait_event(
        AGENT, lambda e: e["type"] == "run_update" and e["state"] == "success", timeout=15
    )
    assert runner.connection.sessions == 1


async def test_token_rotation_4401_backs_off_without_a_storm(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    runner = await make_runner(AUTH_FAILURE_RETRY_SECONDS="30")
    frame = launch_frame(seconds=60)
    assert (await server.request(AGENT, frame))["ok"] is True
    server.tokens = {"rotated-token-value": None}
    attempts = server.connection_attempts
    await server.disconnect(AGENT, 4401)
    await wait_for(lambda: runner.connection.last_close_code == 4401)
    await asyncio.sleep(1.0)
    assert server.connection_attempts == attempts
    assert await metric_value(runner, "hybrid_runner_auth_failures_total") == 1.0
    assert (await http_get(f"http://127.0.0.1:{runner.port}/readyz"))[0] == 503
    # Runs go on and are still tracked while the runner cannot talk to the server.
    assert runner.context.executor.table.get(frame["runId"]).state == "running"  # type: ignore[union-attr]
    assert (await http_get(f"http://127.0.0.1:{runner.port}/healthz"))[0] == 200


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return ca, context


async def test_tls_with_a_custom_ca_is_accepted_when_configured(
    server: ReferenceServer, make_runner: MakeRunner, tls_files: tuple[Path, ssl.SSLContext]
) -> None:
    ca, context = tls_files
    secure = ReferenceServer(server.tokens)
    await secure.start(ssl_context=context)
    try:
        assert secure.ws_url().startswith("wss://")
        await make_runner(
            SERVER_URL=secure.ws_url(), ALLOW_INSECURE_WS="false", SERVER_CA_FILE=str(ca)
        )
        reply = await secure.request(AGENT, sample("status.json"))
        assert reply["result"]["connected"] is True
    finally:
        await secure.stop()


async def test_tls_without_the_ca_is_refused(
    server: ReferenceServer, make_runner: MakeRunner, tls_files: tuple[Path, ssl.SSLContext]
) -> None:
    _ca, context = tls_files
    secure = ReferenceServer(server.tokens)
    await secure.start(ssl_context=context)
    try:
        runner = await make_runner(
            connect=False, SERVER_URL=secure.ws_url(), ALLOW_INSECURE_WS="false"
        )
        await asyncio.sleep(1.0)
        assert not runner.context.runner.connected
        assert secure.agents == {}
        failures = await metric_value(runner, "hybrid_runner_connection_failures_total")
        assert failures is not None and failures >= 2
    finally:
        await secure.stop()
