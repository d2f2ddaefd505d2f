"""Keeps the connection's socket open after a close, so that the close frame reaches the server.

After refusing an oversized frame the runner sends close code 1009 and aiohttp closes the
socket at once. The rest of the big frame is still arriving, and closing a socket with unread
data makes the kernel send a reset instead of a FIN; the peer's kernel then discards what it
had not yet read, our close frame included, and the server sees 1006 instead of the documented
1009. Holding a duplicate of the descriptor keeps the socket alive past aiohttp's close; reading
and discarding until the server closes its side (or a time limit) lets the close frame through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Any

log = logging.getLogger("runtime.serving.connection")

# Long enough for a server to finish writing a frame of a few MiB on a slow link and answer the
# close; short enough not to hold up the reconnect for long.
DRAIN_SECONDS = 5.0


class HeldSocket:
    """A duplicate descriptor of a transport's socket, or nothing when there is none."""

    def __init__(self, transport_socket: Any) -> None:
        self._sock: socket.socket | None = None
        if transport_socket is None:
            return
        try:
            self._sock = socket.socket(fileno=os.dup(transport_socket.fileno()))
        except OSError:
            self._sock = None

    async def release(self, *, drain: bool, timeout: float = DRAIN_SECONDS) -> None:
        """Close the duplicate; with ``drain``, first discard what arrives until EOF."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            if drain:
                sock.setblocking(False)
                with contextlib.suppress(TimeoutError, OSError):
                    await asyncio.wait_for(_discard_until_eof(sock), timeout)
        finally:
            sock.close()


async def _discard_until_eof(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    discarded = 0
    while data := await loop.sock_recv(sock, 256 * 1024):
        discarded += len(data)
    log.debug("discarded %d bytes after the close so that the close frame arrives", discarded)
