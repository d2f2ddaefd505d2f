"""Replies written in one loop iteration leave in as few TCP segments as fit.

With several requests in flight their replies are written one after the other in one iteration;
corked (Linux ``TCP_CORK``), they leave in as few segments as fit, instead of one segment (and
one wake-up of the server) each. The cork is released at the end of the iteration, so nothing
is held back longer. Elsewhere than Linux it is a no-op. The connection corks only with more
than one request in flight, so a lone reply is not delayed at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

_TCP_CORK: int | None = getattr(socket, "TCP_CORK", None)


class Cork:
    """Holds back partial segments of one socket until the end of this loop iteration."""

    def __init__(self) -> None:
        self.held = False

    def hold(self, sock: socket.socket | None) -> None:
        if self.held or _TCP_CORK is None or sock is None:
            return
        try:
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK, 1)
        except OSError:
            return
        self.held = True
        asyncio.get_running_loop().call_soon(self._release, sock)

    def _release(self, sock: socket.socket) -> None:
        self.held = False
        with contextlib.suppress(OSError):  # the connection may have closed meanwhile
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK or 0, 0)
