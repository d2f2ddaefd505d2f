"""A WebSocket server peer written from RFC 6455 and docs/protocol.md, on blocking sockets.

The reference server shares the test's event loop, so it reads the runner's frames while its
own big write is still going: it sees close frames that a separate server process, blocked in
its write, would lose to a connection reset. This peer behaves like that process: it writes a
frame with ``sendall`` in its own thread and reads only after the write has finished.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked (server -> client) frame."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return header + payload


class BlockingPeer(threading.Thread):
    """Accept one runner, welcome it, send ``frames`` (text), then read until its close frame.

    ``close_code`` is the code in the runner's close frame, or None when the connection was
    reset before one could be read (what a WebSocket library reports as 1006).
    ``texts`` are the text frames the runner sent, after ``hello``."""

    def __init__(self, frames: list[str]) -> None:
        super().__init__(daemon=True)
        self.frames = frames
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.close_code: int | None = None
        self.texts: list[str] = []
        self.error: str | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def run(self) -> None:
        conn, _ = self.listener.accept()
        with conn, self.listener:
            conn.settimeout(20)
            try:
                self._handshake(conn)
                self._read_frame(conn)  # hello
                welcome = {"type": "welcome", "protocol": 1, "serverVersion": "1.11.1"}
                conn.sendall(_frame(0x1, json.dumps(welcome).encode()))
                for text in self.frames:
                    conn.sendall(_frame(0x1, text.encode("utf-8", "surrogatepass")))
                while True:
                    opcode, payload = self._read_frame(conn)
                    if opcode == 0x8:
                        self.close_code = struct.unpack("!H", payload[:2])[0] if payload else 1005
                        conn.sendall(_frame(0x8, payload[:2]))
                        return
                    if opcode == 0x1:
                        self.texts.append(payload.decode())
            except OSError as exc:
                self.error = f"{type(exc).__name__}: {exc}"

    def _handshake(self, conn: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the upgrade")
            request += chunk
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())  # RFC 6455: SHA-1
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )

    def _read_frame(self, conn: socket.socket) -> tuple[int, bytes]:
        first, second = self._exactly(conn, 2)
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", self._exactly(conn, 2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self._exactly(conn, 8))[0]
        mask = self._exactly(conn, 4) if second & 0x80 else b"\0\0\0\0"
        data = self._exactly(conn, size)
        return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(data))

    @staticmethod
    def _exactly(conn: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                raise ConnectionError("connection closed mid-frame")
            data += chunk
        return data
