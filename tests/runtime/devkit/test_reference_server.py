"""The reference server's token rotation through its HTTP API (docs/protocol.md)."""

from __future__ import annotations

import aiohttp

from runtime.devkit.reference_server import ReferenceServer
from runtime.serving.reconnect import CLOSE_BAD_TOKEN
from tests.conftest import server_token


async def upgrade_close_code(session: aiohttp.ClientSession, url: str, token: str) -> int | None:
    headers = {"Authorization": f"Bearer {token}"}
    async with session.ws_connect(url, headers=headers) as ws:
        await ws.send_str('{"type": "hello", "protocol": 1, "agentId": "a", "version": "0",'
                          ' "executor": "local", "capabilities": []}')  # fmt: skip
        message = await ws.receive()
        return None if message.type == aiohttp.WSMsgType.TEXT else ws.close_code


async def test_put_tokens_replaces_the_accepted_tokens(server: ReferenceServer) -> None:
    old = server_token(server)
    api = f"http://127.0.0.1:{server.port}/api/tokens"
    async with aiohttp.ClientSession() as session:
        async with session.put(api, json={"rotated-token-value": None}) as response:
            assert response.status == 200
            assert await response.json() == {"tokens": 1}
        assert await upgrade_close_code(session, server.ws_url(), old) == CLOSE_BAD_TOKEN
        assert await upgrade_close_code(session, server.ws_url(), "rotated-token-value") is None
        for body in ({}, {"t": 5}, ["t"]):
            async with session.put(api, json=body) as response:
                assert response.status == 400
        async with session.put(api, data="{not json") as response:
            assert response.status == 400
    assert server.tokens == {"rotated-token-value": None}
