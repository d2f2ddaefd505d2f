"""A small fault-injecting TCP proxy on 127.0.0.1 for the fault tests.

It forwards bytes both ways and can drop every connection, stop forwarding one direction (a
peer that stops reading), add latency, or partition the network: connections go silent
without being closed, as when a NAT or a firewall forgets them. It only ever listens on and
connects to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib


class FaultProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port: int | None = None
        self.latency = 0.0
        self.upstream_paused = asyncio.Event()  # set: runner -> server bytes are held back
        self.downstream_paused = asyncio.Event()  # set: server -> runner bytes are held back
        self.connections = 0
        self.partitioned = False
        self._silenced: set[int] = set()  # connections whose bytes are dropped, for good
        self._open: set[int] = set()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        self.drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()

    def drop_all(self) -> None:
        """Cut every current connection (no close handshake: a network failure)."""
        for writer in list(self._writers):
            transport = writer.transport
            if transport is not None:
                transport.abort()
        self._writers.clear()

    def partition(self) -> None:
        """Silence every connection: bytes are dropped both ways, nothing is closed. Those open
        now stay silent for good; new ones are silent until ``heal()``."""
        self.partitioned = True
        self._silenced.update(self._open)

    def heal(self) -> None:
        """New connections work again (the silenced ones stay dead, as after a NAT reset)."""
        self.partitioned = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = self.connections
        self._open.add(conn)
        if self.partitioned:
            self._silenced.add(conn)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update({writer, up_writer})
        for source, sink, paused in (
            (reader, up_writer, self.upstream_paused),
            (up_reader, writer, self.downstream_paused),
        ):
            task = asyncio.create_task(self._pump(source, sink, paused, conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        paused: asyncio.Event,
        conn: int,
    ) -> None:
        try:
            while True:
                while paused.is_set():  # noqa: ASYNC110  (a pause flag, polled)
                    # Not reading at all: the sender's socket buffers fill up.
                    await asyncio.sleep(0.01)
                data = await source.read(65536)
                if not data:
                    break
                if conn in self._silenced:
                    continue  # lost on the way: the peer never hears of it, nor of a close
                if self.latency:
                    await asyncio.sleep(self.latency)
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._open.discard(conn)
            if conn not in self._silenced:
                with contextlib.suppress(Exception):
                    sink.close()
