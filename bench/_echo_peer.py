"""The baseline peer of bench.status_roundtrip: a bare aiohttp WebSocket client that echoes.

``python -m bench._echo_peer URL REQUEST_BYTES:REPLY_BYTES ...`` dials URL and answers every text
frame at once with a reply carrying the frame's ``id`` (one ``json.loads``, one f-string), padded
to the REPLY_BYTES given for that REQUEST_BYTES (else as long as the request): the same
connection direction, frame sizes and process layout as the runner, without the runner's
decode / dispatch / handler / encode work.
"""

from __future__ import annotations

import asyncio
import json
import sys

import aiohttp


async def main(url: str, sizes: dict[int, int]) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            request_id = json.loads(msg.data).get("id", "")
            reply_bytes = sizes.get(len(msg.data), len(msg.data))
            head = f'{{"type":"reply","id":"{request_id}","ok":true,"result":{{"pad":"'
            tail = '"}}'
            pad = "x" * max(0, reply_bytes - len(head) - len(tail))
            await ws.send_str(head + pad + tail)


if __name__ == "__main__":
    pairs = (arg.split(":") for arg in sys.argv[2:])
    asyncio.run(main(sys.argv[1], {int(a): int(b) for a, b in pairs}))
