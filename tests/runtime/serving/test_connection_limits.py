"""Hostile frames over real websockets on 127.0.0.1: every readable id is answered exactly once.

Issue 13: the frames a hostile or buggy server can send within the size limit (lone surrogates,
over-long integers, deep nesting, megabyte ids) and the one beyond it (a 10 MB frame).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from runtime.composition import build_runner
from runtime.devkit.reference_server import ReferenceServer
from runtime.settings import Settings
from tests.blocking_peer import BlockingPeer
from tests.conftest import AGENT, MakeRunner, runner_env, sample, wait_for


async def send_and_wait(server: ReferenceServer, raw: str, request_id: str | None) -> Any:
    waiter = asyncio.ensure_future(server.next_reply(AGENT, request_id, timeout=10))
    await asyncio.sleep(0)
    await server.send_raw(AGENT, raw)
    return await waiter


async def test_a_lone_surrogate_in_the_id_is_answered_once_with_that_id(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    runner = await make_runner()
    # The escape as written in the JSON text: it decodes to a string with no UTF-8 form.
    reply = await send_and_wait(server, r'{"type":"status","id":"sur-\ud800"}', "sur-\ud800")
    assert reply["id"] == "sur-\ud800"
    assert reply["error"]["code"] == "invalid_message"
    assert "$.id" in reply["error"]["message"]
    with pytest.raises(TimeoutError):  # exactly once: no second reply follows
        await server.next_reply(AGENT, "sur-\ud800", timeout=0.5)
    assert runner.context.runner.connected
    assert (await server.request(AGENT, sample("status.json")))["ok"] is True


async def test_a_lone_surrogate_in_pipeline_fqn_is_refused_before_anything_is_recorded(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    runner = await make_runner()
    frame = json.dumps({**sample("run_pipeline.json"), "id": "fqn-1"})
    raw = frame.replace('"pipelineFqn": "', '"pipelineFqn": "x\\udc80', 1)
    reply = await send_and_wait(server, raw, "fqn-1")
    assert reply["error"]["code"] == "invalid_message"
    assert reply["error"]["message"].startswith("$.pipelineFqn: ")
    assert runner.context.executor.table.all() == []
    assert not list(Path(runner.settings.state_dir).rglob("*.json"))
    assert not server.events(AGENT, "run_update")


async def test_a_huge_integer_in_an_unknown_member_does_not_lose_the_id(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    await make_runner()
    raw = '{"type":"status","id":"big-int","extra":' + "7" * 5000 + "}"
    reply = await send_and_wait(server, raw, "big-int")
    assert reply["ok"] is True
    assert reply["result"]["agentId"] == AGENT


async def test_a_config_nested_900_levels_is_invalid_message_naming_it(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    runner = await make_runner()
    frame = {**sample("run_pipeline.json"), "id": "deep"}
    nested: object = 1
    for _ in range(900):
        nested = {"a": nested}
    frame["config"] = nested
    reply = await send_and_wait(server, json.dumps(frame), "deep")
    assert reply["error"]["code"] == "invalid_message"
    assert reply["error"]["message"].startswith("$.config.a.a")
    assert "nested deeper than 64 levels" in reply["error"]["message"]
    assert runner.context.executor.table.all() == []


async def test_an_over_long_id_is_refused_and_not_remembered(
    server: ReferenceServer, make_runner: MakeRunner
) -> None:
    runner = await make_runner()
    long_id = "L" * 1_000_000
    reply = await send_and_wait(server, json.dumps({"type": "status", "id": long_id}), long_id)
    assert reply["error"]["code"] == "invalid_message"
    assert "$.id: longer than 256 characters" in reply["error"]["message"]
    assert len(runner.dispatcher.cache) == 0
    longest = "m" * 256
    assert (await server.request(AGENT, {"type": "status", "id": longest}))["ok"] is True


async def test_a_ten_megabyte_frame_reaches_the_server_as_close_code_1009(
    tmp_path: Path,
) -> None:
    # Far more than the socket buffers hold: most of the frame is still unread when the runner
    # closes. That used to reset the connection, and the server lost the close frame (1006).
    peer = BlockingPeer([json.dumps({"type": "status", "id": "big", "pad": "x" * 10_000_000})])
    peer.start()
    env = runner_env(None, tmp_path / "state", SERVER_URL=peer.url, MAX_FRAME_BYTES="65536")
    runner = build_runner(Settings.from_env(env, require_server=True), registry=CollectorRegistry())
    await runner.start()
    try:
        await wait_for(lambda: not peer.is_alive(), timeout=20)
        assert (peer.close_code, peer.error) == (1009, None)
        assert runner.connection.last_close_code == 1009
    finally:
        await runner.stop(grace=1)
