"""AUTH_TOKEN_FILE against the reference server: the token is read at every connection attempt,
so a rotated Secret is used at the next reconnect without a restart."""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path

import aiohttp
import pytest

from runtime.devkit.reference_server import ReferenceServer
from runtime.serving.reconnect import CLOSE_BAD_TOKEN
from tests.conftest import AGENT, MakeRunner, http_get, metric_value, sample, wait_for


def new_token() -> str:
    return "jwt-" + secrets.token_hex(16)


async def close_code_for(server: ReferenceServer, token: str) -> int | None:
    """What the server answers a fresh upgrade with this token (the runner's first frame is
    never needed: a bad token is closed at once)."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(server.ws_url(), headers={"Authorization": f"Bearer {token}"}) as ws,
    ):
        await ws.receive()
        return ws.close_code


@pytest.fixture
def token_file(server: ReferenceServer, tmp_path: Path) -> Path:
    path = tmp_path / "token"
    # A Secret's file often ends with a newline: it is stripped.
    path.write_text(next(iter(server.tokens)) + "\n")
    return path


async def test_a_rotated_token_is_used_at_the_next_reconnect_without_a_restart(
    server: ReferenceServer,
    make_runner: MakeRunner,
    token_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    old = next(iter(server.tokens))
    runner = await make_runner(AUTH_TOKEN="", AUTH_TOKEN_FILE=str(token_file))
    rotated = new_token()
    token_file.write_text(rotated)
    server.set_tokens({rotated: None})
    await server.disconnect(AGENT)
    await wait_for(lambda: server.agents[AGENT].sessions == 2)
    await asyncio.wait_for(runner.connection.connected_event.wait(), 10)
    reply = await server.request(AGENT, sample("status.json"))
    assert reply["result"]["connected"] is True
    assert await close_code_for(server, old) == CLOSE_BAD_TOKEN
    assert await metric_value(runner, "hybrid_runner_auth_failures_total") == 0.0
    lines = [r.getMessage() for r in caplog.records]
    assert not [line for line in lines if old in line or rotated in line]


async def test_a_refused_token_rereads_the_file_and_retries_at_once_when_it_changed(
    server: ReferenceServer, make_runner: MakeRunner, token_file: Path
) -> None:
    runner = await make_runner(
        AUTH_TOKEN="", AUTH_TOKEN_FILE=str(token_file), AUTH_FAILURE_RETRY_SECONDS="300"
    )
    rotated = new_token()
    # The order a rotation takes: the new token reaches the file, the server revokes the old
    # one and closes the session with 4401.
    token_file.write_text(rotated)
    server.set_tokens({rotated: None})
    await server.disconnect(AGENT, CLOSE_BAD_TOKEN)
    await wait_for(lambda: server.agents[AGENT].sessions == 2)
    assert runner.connection.last_close_code == CLOSE_BAD_TOKEN
    assert await metric_value(runner, "hybrid_runner_auth_failures_total") == 1.0


async def test_a_refused_token_that_did_not_change_waits_the_auth_pause(
    server: ReferenceServer, make_runner: MakeRunner, token_file: Path
) -> None:
    token_file.write_text(new_token())  # never accepted
    runner = await make_runner(
        connect=False,
        AUTH_TOKEN="",
        AUTH_TOKEN_FILE=str(token_file),
        AUTH_FAILURE_RETRY_SECONDS="300",
    )
    await wait_for(lambda: runner.connection.last_close_code == CLOSE_BAD_TOKEN)
    await asyncio.sleep(1.0)  # at the normal 0.05 s backoff this would be many attempts
    assert server.connection_attempts == 1


async def test_an_empty_or_missing_file_is_one_line_and_the_backoff_then_it_connects(
    server: ReferenceServer,
    make_runner: MakeRunner,
    token_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = token_file.read_text()
    token_file.write_text("  \n")
    runner = await make_runner(connect=False, AUTH_TOKEN="", AUTH_TOKEN_FILE=str(token_file))
    await wait_for(lambda: runner.connection.sessions >= 3)
    token_file.unlink()
    sessions = runner.connection.sessions
    await wait_for(lambda: runner.connection.sessions >= sessions + 2)
    assert server.connection_attempts == 0
    assert (await http_get(f"http://127.0.0.1:{runner.port}/healthz"))[0] == 200
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"AUTH_TOKEN_FILE {token_file} is empty" in warnings
    assert f"cannot read AUTH_TOKEN_FILE {token_file}: No such file or directory" in warnings
    assert not [r for r in caplog.records if r.exc_info]
    token_file.write_text(token)
    await asyncio.wait_for(runner.connection.connected_event.wait(), 10)


async def test_the_file_wins_over_auth_token_and_says_so_once(
    server: ReferenceServer,
    make_runner: MakeRunner,
    token_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    await make_runner(AUTH_TOKEN="stale-" + new_token(), AUTH_TOKEN_FILE=str(token_file))
    await server.disconnect(AGENT)
    await wait_for(lambda: server.agents[AGENT].sessions == 2)
    notes = [r for r in caplog.records if "both set" in r.getMessage()]
    assert [r.getMessage() for r in notes] == [
        "AUTH_TOKEN and AUTH_TOKEN_FILE are both set: the token file is used"
    ]
