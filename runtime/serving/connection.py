"""The runner's one outbound WebSocket: handshake, requests in, replies and events out, reconnect.

One session is: upgrade with ``Authorization: Bearer`` (directly, or tunnelled through the
egress proxy: ``runtime.egress.proxy``), send ``hello``, wait for ``welcome``, then answer requests
(each in its own task, through the dispatcher) while sending heartbeats and queued events. When
a session ends, the close code decides the pause before the next attempt: exponential backoff
with jitter for ordinary failures, a long pause after the server refused the token or the agent
(none when AUTH_TOKEN_FILE has changed since), a slow standby pace when another replica holds
the agent id. ``runtime.serving.dialing`` reads the token and says why a connect failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import aiohttp
import attrs

from runtime.egress import proxy
from runtime.observability.logsetup import redactor
from runtime.observability.metrics import Metrics
from runtime.serving import dialing
from runtime.serving.context import RunnerState
from runtime.serving.cork import Cork
from runtime.serving.dispatch import Dispatcher, error_reply
from runtime.serving.linger import HeldSocket
from runtime.serving.reconnect import CLOSE_BAD_TOKEN, Backoff, Outcome, classify_close
from runtime.settings import Settings
from runtime.wire import codec
from runtime.wire.errors import InvalidMessage
from runtime.wire.messages import PROTOCOL_VERSION, Heartbeat, Hello, RunUpdate, Welcome

log = logging.getLogger("runtime.serving.connection")

GOING_AWAY = 1001
MESSAGE_TOO_BIG = 1009
OUTBOX_LIMIT = 10_000


class Connection:
    def __init__(
        self,
        settings: Settings,
        dispatcher: Dispatcher,
        state: RunnerState,
        metrics: Metrics,
        *,
        active_runs: Callable[[], int],
    ) -> None:
        self.settings = settings
        self.dispatcher = dispatcher
        self.state = state
        self.metrics = metrics
        # The heartbeat's count, given by the composition root (the executor's run table).
        self.active_runs = active_runs
        self.backoff = Backoff(settings.reconnect_delay, settings.reconnect_max_delay)
        self.tokens = dialing.TokenSource(
            settings.auth_token, settings.auth_token_file, redactor.add
        )
        # Settings do not change: the route (direct, or which proxy) is decided once.
        self.proxy = proxy.route(settings, settings.websocket_url)
        self._route = proxy.describe_route(settings, settings.websocket_url)
        self._token_refused = False
        self.standby = False
        self.last_close_code: int | None = None
        self._outbox: deque[str] = deque()
        self._outbox_ready = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._send_lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.sessions = 0
        # The code this runner closes with; shutdown turns it into GOING_AWAY.
        self._close_code = 1000
        self.connected_event = asyncio.Event()
        #: Called (on the event loop, so without blocking) each time a session is accepted.
        self.on_connected: list[Callable[[], None]] = []
        self.cork = Cork()

    # ------------------------------------------------------------------ events out

    def emit(self, event: Any) -> None:
        """Queue an event for the server; callable from any thread."""
        text = codec.encode(event)
        loop = self._loop
        if loop is None:
            self._enqueue(text)
        else:
            loop.call_soon_threadsafe(self._enqueue, text)

    def _enqueue(self, text: str) -> None:
        if len(self._outbox) >= OUTBOX_LIMIT:
            # State lives in the cluster; a server that missed events asks `status`.
            self._outbox.popleft()
            self.metrics.events_dropped.inc()
        self._outbox.append(text)
        self._outbox_ready.set()

    def run_update(self, record: Any, _old: Any) -> None:
        """RunTable listener: every state change becomes a ``run_update`` event."""
        self.emit(RunUpdate(**attrs.asdict(record.view())))

    # ------------------------------------------------------------------ main loop

    async def run(self) -> None:
        """Connect, serve, reconnect until ``stop()``."""
        self._loop = asyncio.get_running_loop()
        ssl_context: ssl.SSLContext | bool = True
        if self.settings.server_ca_file:
            ssl_context = ssl.create_default_context(cafile=self.settings.server_ca_file)
        limit = self.settings.connect_timeout
        timeout = aiohttp.ClientTimeout(total=None, connect=limit, sock_connect=limit)
        if self.settings.auth_token and self.settings.auth_token_file:
            log.info("AUTH_TOKEN and AUTH_TOKEN_FILE are both set: the token file is used")
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not self._stop.is_set():
                if self.sessions:
                    self.metrics.reconnects.inc()
                self.sessions += 1
                outcome = await self._session(session, ssl_context)
                if outcome is Outcome.STOPPED or self._stop.is_set():
                    break
                delay = self._pause_for(outcome)
                log.info("reconnecting in %.1fs", delay)
                await self._sleep(delay)

    def _pause_for(self, outcome: Outcome) -> float:
        if outcome is Outcome.AUTH:
            if self._token_refused and self.tokens.changed():
                log.info("%s holds a new token since the refusal: retrying now", self.tokens.source)
                return 0.0
            return self.settings.auth_failure_retry
        if outcome is Outcome.STANDBY:
            return self.settings.standby_retry * random.uniform(0.8, 1.2)
        return self.backoff.next_delay()

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds`` unless ``stop()`` comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _dial(
        self, session: aiohttp.ClientSession, ssl_context: Any
    ) -> aiohttp.ClientWebSocketResponse | Outcome:
        """The upgraded WebSocket, or the Outcome of an attempt that failed (logged here)."""
        url, via = self.settings.websocket_url, self.proxy
        try:
            headers = dialing.upgrade_headers(self.tokens.read(), url, via)
        except dialing.TokenUnavailable as exc:
            failure = dialing.Failure(dialing.TOKEN_CAUSE, str(exc))
        else:
            log.info("connecting to %s%s", url, self._route)
            try:
                return await session.ws_connect(
                    dialing.dial_url(url, via),
                    headers=headers,
                    heartbeat=min(20.0, self.settings.heartbeat_seconds),
                    max_msg_size=self.settings.max_frame_bytes,
                    ssl=ssl_context,
                    autoping=True,
                    proxy=via.url if via else None,
                    proxy_headers=dialing.proxy_headers(via),
                )
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status in (401, 403):
                    return self._auth_failed(
                        f"HTTP {exc.status} on the WebSocket upgrade", token=exc.status == 401
                    )
                failure = dialing.handshake_failure(exc, url, via)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                failure = dialing.connect_failure(exc, url, via, self.settings.connect_timeout)
        self.metrics.connection_failures.labels(failure.cause).inc()
        log.warning("%s", failure.message)
        return Outcome.RETRY

    async def _session(self, session: aiohttp.ClientSession, ssl_context: Any) -> Outcome:
        ws = await self._dial(session, ssl_context)
        if isinstance(ws, Outcome):
            return ws
        self._ws = ws
        held = HeldSocket(ws.get_extra_info("socket"))
        try:
            return await self._serve(ws)
        finally:
            self._ws = None
            self._set_connected(False)
            if not ws.closed:
                # The reader is this task; a close() from shutdown() waits for us to send it.
                await ws.close(code=self._close_code)
            # After 1009 the rest of the big frame is unread: see runtime/serving/linger.py.
            await held.release(drain=ws.close_code == MESSAGE_TOO_BIG)

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> Outcome:
        welcome = await self._handshake(ws)
        if isinstance(welcome, Outcome):
            return welcome
        self._accepted(welcome)
        heartbeat = welcome.heartbeat_seconds or self.settings.heartbeat_seconds
        pumps = [
            asyncio.create_task(self._heartbeats(ws, heartbeat)),
            asyncio.create_task(self._flush_outbox(ws)),
        ]
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self._spawn(self._answer(ws, msg.data))
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    reply = error_reply(None, InvalidMessage("binary frames are not accepted"))
                    self.metrics.messages.labels("-", "invalid_message").inc()
                    await self._send(ws, codec.encode(reply))
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    log.warning("connection error: %s", ws.exception())
                    break
        finally:
            for pump in pumps:
                pump.cancel()
        return self._closed(ws, "by server")

    async def _handshake(self, ws: aiohttp.ClientWebSocketResponse) -> Welcome | Outcome:
        """Send ``hello`` and read ``welcome``; an Outcome when the session ends here."""
        hello = Hello(
            protocol=PROTOCOL_VERSION,
            agent_id=self.settings.agent_id,
            version=self.state.version,
            executor=self.state.executor,
            capabilities=list(self.state.capabilities),
        )
        await ws.send_str(codec.encode(hello))
        try:
            first = await asyncio.wait_for(ws.receive(), self.settings.handshake_timeout)
        except TimeoutError:
            self.metrics.connection_failures.labels("handshake_timeout").inc()
            log.warning("no welcome within %gs", self.settings.handshake_timeout)
            return Outcome.RETRY
        if first.type != aiohttp.WSMsgType.TEXT:
            return self._closed(ws, "before welcome")
        try:
            welcome = codec.decode_welcome(first.data)
        except codec.FrameError as exc:
            log.error("bad welcome from server: %s", exc.message)
            await ws.close(code=1002, message=b"expected welcome")
            self.metrics.connection_failures.labels("protocol").inc()
            return Outcome.RETRY
        if welcome.protocol != PROTOCOL_VERSION:
            log.error(
                "server speaks protocol %s, runner speaks %s", welcome.protocol, PROTOCOL_VERSION
            )
            await ws.close(code=1002, message=b"unsupported protocol")
            return Outcome.AUTH
        return welcome

    def _accepted(self, welcome: Welcome) -> None:
        self.state.server_version = welcome.server_version
        self.standby = False
        self.metrics.standby.set(0)
        self.backoff.reset()
        self._set_connected(True)
        log.info(
            "connected to %s as %s (server %s)",
            self.settings.websocket_url,
            self.settings.agent_id,
            welcome.server_version or "unknown",
        )

    def _closed(self, ws: aiohttp.ClientWebSocketResponse, when: str) -> Outcome:
        code = ws.close_code
        self.last_close_code = code
        if self._stop.is_set():
            return Outcome.STOPPED
        outcome = classify_close(code)
        if outcome is Outcome.AUTH:
            return self._auth_failed(
                f"closed {when} with code {code}", token=code == CLOSE_BAD_TOKEN
            )
        if outcome is Outcome.STANDBY:
            if not self.standby:
                log.info(
                    "agent id %s is connected from another replica; standing by",
                    self.settings.agent_id,
                )
            self.standby = True
            self.metrics.standby.set(1)
            return outcome
        self.metrics.connection_failures.labels(f"closed_{code}" if code else "closed").inc()
        log.warning("connection closed %s (code %s)", when, code)
        return outcome

    def _auth_failed(self, detail: str, *, token: bool = False) -> Outcome:
        """``token``: the token itself was refused (401, 4401), so a changed file is worth a
        retry at once."""
        self.metrics.auth_failures.inc()
        self._token_refused = token
        log.error(
            "server refused this runner (%s): check %s and AGENT_ID; next attempt in %gs%s",
            detail,
            self.tokens.source,
            self.settings.auth_failure_retry,
            " unless the token file changes" if token and self.settings.auth_token_file else "",
        )
        return Outcome.AUTH

    def _set_connected(self, connected: bool) -> None:
        self.state.connected = connected
        self.metrics.connected.set(1 if connected else 0)
        if connected:
            self.connected_event.set()
            for callback in self.on_connected:
                callback()
        else:
            self.connected_event.clear()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, ws: aiohttp.ClientWebSocketResponse, text: str) -> None:
        try:
            reply = await self.dispatcher.handle_frame(text)
            frame = self.dispatcher.frame_for(reply)
        except Exception:  # never by design; if so, logged here, not "never retrieved"
            log.exception("a request frame could not be answered")
            return
        # The session may have ended meanwhile; the reply stays cached for the re-send.
        await self._send(ws, frame)

    async def _send(self, ws: aiohttp.ClientWebSocketResponse, text: str) -> bool:
        if ws.closed:
            return False
        try:
            async with self._send_lock:
                if len(self._tasks) > 1:
                    self.cork.hold(ws.get_extra_info("socket"))
                await ws.send_str(text)
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            log.debug("send failed: %s", type(exc).__name__)
            return False
        except Exception:  # a frame that cannot be written at all: loud, never swallowed
            log.exception("a frame could not be sent")
            return False
        return True

    async def _heartbeats(self, ws: aiohttp.ClientWebSocketResponse, period: float) -> None:
        while not ws.closed:
            await asyncio.sleep(period)
            beat = Heartbeat(
                agent_id=self.settings.agent_id,
                active_runs=self.active_runs(),
                uptime_seconds=self.state.uptime_seconds,
            )
            await self._send(ws, codec.encode(beat))

    async def _flush_outbox(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while not ws.closed:
            await self._outbox_ready.wait()
            while self._outbox and not ws.closed:
                text = self._outbox[0]
                if not await self._send(ws, text):
                    return
                self._outbox.popleft()
            self._outbox_ready.clear()

    # ------------------------------------------------------------------ shutdown

    async def shutdown(self, grace: float) -> None:
        """Stop taking requests, let in-flight ones finish and reply, close with GOING_AWAY."""
        self.dispatcher.stop_accepting()
        started = time.monotonic()
        drained = await self.dispatcher.drain(grace)
        if not drained:
            log.warning(
                "%d request(s) still running after %gs; leaving them",
                self.dispatcher.in_flight,
                grace,
            )
        # Give the answer tasks a moment to put their replies on the wire.
        if self._tasks:
            await asyncio.wait(
                set(self._tasks), timeout=max(0.5, grace - (time.monotonic() - started))
            )
        self._close_code = GOING_AWAY
        self._stop.set()
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close(code=GOING_AWAY, message=b"runner shutting down")
