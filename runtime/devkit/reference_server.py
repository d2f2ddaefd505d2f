"""The reference server: the server side of protocol v1, for tests, the e2e suites and the demo.

It is a real server: it checks the bearer token, enforces one connection per agent id, keeps a
registry of runners (Active while connected, Inactive after), and offers a small HTTP API to send
a request to a runner and wait for its reply, and to read the events a runner sent. Bind it to
127.0.0.1; the HTTP API has no authentication of its own.

HTTP API (JSON):
  GET  /api/agents                          -> [{agentId, status, version, executor, ...}]
  POST /api/agents/{agentId}/requests       body: a request frame (``id`` optional)
                                            ?timeout=SECONDS -> the reply frame
  GET  /api/agents/{agentId}/events         ?after=SEQ&type=run_update -> {events, last}
  POST /api/agents/{agentId}/disconnect     ?code=4401 -> closes that runner's connection
  PUT  /api/tokens                          body: {token: agentId or null} -> replaces the
                                            accepted tokens (a rotation; open sessions stay)
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import logging
import ssl
import time
import uuid
from typing import Any

import attrs
from aiohttp import WSMsgType, web

from runtime.serving.reconnect import (
    CLOSE_AGENT_CONNECTED,
    CLOSE_BAD_TOKEN,
    CLOSE_NOT_ALLOWED,
    CLOSE_UNSUPPORTED_PROTOCOL,
)
from runtime.wire import codec
from runtime.wire.messages import PROTOCOL_VERSION, Heartbeat, Hello, Reply, RunUpdate, Welcome

log = logging.getLogger("runtime.devkit.reference_server")
WS_PATH = "/ws"
EVENT_LIMIT = 100_000


@attrs.define
class Agent:
    agent_id: str
    version: str = ""
    executor: str = ""
    capabilities: list[str] = attrs.field(factory=list)
    ws: web.WebSocketResponse | None = None
    connected_at: float | None = None
    last_seen: float | None = None
    sessions: int = 0
    close_codes: list[int | None] = attrs.field(factory=list)
    pending: dict[str, asyncio.Future[dict[str, Any]]] = attrs.field(factory=dict)
    events: list[dict[str, Any]] = attrs.field(factory=list)
    seq: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1))
    event_signal: asyncio.Event = attrs.field(factory=asyncio.Event)

    @property
    def status(self) -> str:
        return "Active" if self.ws is not None and not self.ws.closed else "Inactive"

    def summary(self) -> dict[str, Any]:
        return {
            "agentId": self.agent_id,
            "status": self.status,
            "version": self.version,
            "executor": self.executor,
            "capabilities": self.capabilities,
            "connectedAt": self.connected_at,
            "lastSeen": self.last_seen,
            "sessions": self.sessions,
        }


class ReferenceServer:
    def __init__(
        self,
        tokens: dict[str, str | None],
        *,
        server_version: str = "1.11.1",
        heartbeat_seconds: float = 30.0,
        max_frame_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        """``tokens`` maps each accepted token to the agent id it may use (None: any)."""
        self.tokens = dict(tokens)
        self.server_version = server_version
        self.heartbeat_seconds = heartbeat_seconds
        self.max_frame_bytes = max_frame_bytes
        self.agents: dict[str, Agent] = {}
        self.protocol_errors: list[str] = []
        self.connection_attempts = 0
        self._runner: web.AppRunner | None = None
        self._tls = False
        self.port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(WS_PATH, self._websocket)
        # A runner configured from a bare host name (the chart's config.serverHost) dials "/".
        app.router.add_get("/", self._websocket)
        app.router.add_get("/api/agents", self._list_agents)
        app.router.add_post("/api/agents/{agent_id}/requests", self._post_request)
        app.router.add_get("/api/agents/{agent_id}/events", self._get_events)
        app.router.add_post("/api/agents/{agent_id}/disconnect", self._disconnect)
        app.router.add_put("/api/tokens", self._put_tokens)
        return app

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> int:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        self._tls = ssl_context is not None
        site = web.TCPSite(self._runner, host, port, reuse_address=True, ssl_context=ssl_context)
        await site.start()
        server = getattr(site, "_server", None)
        self.port = server.sockets[0].getsockname()[1] if server and server.sockets else port
        return self.port

    async def stop(self) -> None:
        for agent in self.agents.values():
            if agent.ws is not None and not agent.ws.closed:
                await agent.ws.close(code=1001, message=b"server stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def ws_url(self, host: str = "127.0.0.1") -> str:
        scheme = "wss" if self._tls else "ws"
        return f"{scheme}://{host}:{self.port}{WS_PATH}"

    # ------------------------------------------------------------------ in-process API

    def agent(self, agent_id: str) -> Agent:
        return self.agents.setdefault(agent_id, Agent(agent_id))

    async def wait_active(self, agent_id: str, timeout: float = 10.0) -> Agent:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            agent = self.agents.get(agent_id)
            if agent is not None and agent.status == "Active":
                return agent
            await asyncio.sleep(0.02)
        raise TimeoutError(f"agent {agent_id} did not connect within {timeout}s")

    async def request(
        self, agent_id: str, frame: dict[str, Any], timeout: float = 30.0
    ) -> dict[str, Any]:
        """Send a request frame to a connected runner and wait for its reply."""
        agent = self.agents.get(agent_id)
        if agent is None or agent.ws is None or agent.ws.closed:
            raise LookupError(f"agent {agent_id} is not connected")
        frame = dict(frame)
        frame.setdefault("id", str(uuid.uuid4()))
        request_id = str(frame["id"])
        future = agent.pending.get(request_id)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            agent.pending[request_id] = future
        await agent.ws.send_str(json.dumps(frame))
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        finally:
            if future.done():
                agent.pending.pop(request_id, None)

    async def send_raw(self, agent_id: str, data: str | bytes) -> None:
        """Put any frame on the wire (tests of malformed input)."""
        agent = self.agents[agent_id]
        assert agent.ws is not None
        if isinstance(data, bytes):
            await agent.ws.send_bytes(data)
        else:
            await agent.ws.send_str(data)

    async def next_reply(
        self, agent_id: str, request_id: str | None, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Wait for the reply with ``request_id`` (None: a reply to an unreadable frame)."""
        agent = self.agents[agent_id]
        key = request_id if request_id is not None else "__null__"
        future = agent.pending.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            agent.pending[key] = future
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            agent.pending.pop(key, None)

    def events(
        self, agent_id: str, kind: str | None = None, after: int = 0
    ) -> list[dict[str, Any]]:
        agent = self.agents.get(agent_id)
        if agent is None:
            return []
        return [e for e in agent.events if e["seq"] > after and (kind is None or e["type"] == kind)]

    async def wait_event(
        self, agent_id: str, predicate: Any, timeout: float = 10.0
    ) -> dict[str, Any]:
        agent = self.agent(agent_id)
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in agent.events[seen:]:
                if predicate(event):
                    return event
            seen = len(agent.events)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no matching event")
            agent.event_signal.clear()
            try:
                await asyncio.wait_for(agent.event_signal.wait(), remaining)
            except TimeoutError:
                pass

    def set_tokens(self, tokens: dict[str, str | None]) -> None:
        """Accept these tokens from now on (a rotation): a removed one is refused at the next
        upgrade with 4401; sessions already open stay open until ``disconnect``."""
        self.tokens = dict(tokens)

    async def disconnect(self, agent_id: str, code: int = 1001) -> None:
        agent = self.agents.get(agent_id)
        if agent is not None and agent.ws is not None:
            await agent.ws.close(code=code, message=b"closed by server")

    # ------------------------------------------------------------------ websocket

    def _token_agent(self, request: web.Request) -> tuple[bool, str | None]:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False, None
        for known, agent_id in self.tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return True, agent_id
        return False, None

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        self.connection_attempts += 1
        ws = web.WebSocketResponse(max_msg_size=self.max_frame_bytes, heartbeat=30)
        await ws.prepare(request)
        token_ok, bound_agent = self._token_agent(request)
        if not token_ok:
            await ws.close(code=CLOSE_BAD_TOKEN, message=b"bad token")
            return ws
        try:
            first = await ws.receive(timeout=10)
        except TimeoutError:
            await ws.close(code=1002, message=b"no hello")
            return ws
        if first.type != WSMsgType.TEXT:
            await ws.close(code=1002, message=b"expected hello")
            return ws
        try:
            hello = codec.decode_runner_frame(first.data)
        except codec.FrameError as exc:
            self.protocol_errors.append(exc.message)
            await ws.close(code=1002, message=b"expected hello")
            return ws
        if not isinstance(hello, Hello):
            await ws.close(code=1002, message=b"expected hello")
            return ws
        if hello.protocol != PROTOCOL_VERSION:
            await ws.close(code=CLOSE_UNSUPPORTED_PROTOCOL, message=b"unsupported protocol")
            return ws
        if bound_agent is not None and bound_agent != hello.agent_id:
            await ws.close(code=CLOSE_NOT_ALLOWED, message=b"token not valid for this agent")
            return ws
        agent = self.agent(hello.agent_id)
        if agent.status == "Active":
            await ws.close(code=CLOSE_AGENT_CONNECTED, message=b"agent id already connected")
            return ws
        agent.ws = ws
        agent.version, agent.executor = hello.version, hello.executor
        agent.capabilities = list(hello.capabilities)
        agent.connected_at = agent.last_seen = time.time()
        agent.sessions += 1
        welcome = Welcome(
            protocol=PROTOCOL_VERSION,
            server_version=self.server_version,
            heartbeat_seconds=self.heartbeat_seconds,
        )
        await ws.send_str(codec.encode(welcome))
        log.info("agent %s connected (%s executor)", agent.agent_id, agent.executor)
        try:
            async for msg in ws:
                agent.last_seen = time.time()
                if msg.type == WSMsgType.TEXT:
                    self._receive(agent, msg.data)
        finally:
            if agent.ws is ws:
                agent.ws = None
            agent.close_codes.append(ws.close_code)
            log.info("agent %s disconnected (code %s)", agent.agent_id, ws.close_code)
        return ws

    def _receive(self, agent: Agent, text: str) -> None:
        try:
            frame = codec.decode_runner_frame(text)
        except codec.FrameError as exc:
            self.protocol_errors.append(exc.message)
            return
        data = json.loads(text)
        if isinstance(frame, Reply):
            key = frame.id if frame.id is not None else "__null__"
            future = agent.pending.get(key)
            if future is not None and not future.done():
                future.set_result(data)
            return
        if isinstance(frame, RunUpdate | Heartbeat):
            data["seq"] = next(agent.seq)
            data["receivedAt"] = time.time()
            agent.events.append(data)
            if len(agent.events) > EVENT_LIMIT:
                del agent.events[: len(agent.events) - EVENT_LIMIT]
            agent.event_signal.set()
            return
        self.protocol_errors.append(f"unexpected {type(frame).__name__} after hello")

    # ------------------------------------------------------------------ HTTP API

    async def _list_agents(self, _request: web.Request) -> web.Response:
        return web.json_response([a.summary() for a in self.agents.values()])

    async def _post_request(self, request: web.Request) -> web.Response:
        agent_id = request.match_info["agent_id"]
        try:
            frame = await request.json()
            timeout = float(request.query.get("timeout", "30"))
        except (ValueError, json.JSONDecodeError) as exc:
            return web.json_response({"error": f"bad request: {exc}"}, status=400)
        if not isinstance(frame, dict):
            return web.json_response({"error": "body must be a JSON object"}, status=400)
        try:
            reply = await self.request(agent_id, frame, timeout=timeout)
        except LookupError as exc:
            return web.json_response({"error": str(exc)}, status=404)
        except TimeoutError:
            return web.json_response({"error": f"no reply within {timeout}s"}, status=504)
        return web.json_response(reply)

    async def _get_events(self, request: web.Request) -> web.Response:
        agent_id = request.match_info["agent_id"]
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            return web.json_response({"error": "after must be an integer"}, status=400)
        events = self.events(agent_id, request.query.get("type"), after)
        return web.json_response({"events": events, "last": events[-1]["seq"] if events else after})

    async def _disconnect(self, request: web.Request) -> web.Response:
        try:
            code = int(request.query.get("code", "1001"))
        except ValueError:
            return web.json_response({"error": "code must be an integer"}, status=400)
        await self.disconnect(request.match_info["agent_id"], code)
        return web.json_response({"closed": True, "code": code})

    async def _put_tokens(self, request: web.Request) -> web.Response:
        try:
            tokens = await request.json()
        except json.JSONDecodeError as exc:
            return web.json_response({"error": f"bad request: {exc}"}, status=400)
        if not tokens or not _is_token_map(tokens):
            error = "body must map each token to an agent id or null"
            return web.json_response({"error": error}, status=400)
        self.set_tokens(tokens)
        return web.json_response({"tokens": len(tokens)})


def _is_token_map(body: Any) -> bool:
    return isinstance(body, dict) and all(
        isinstance(k, str) and k and (v is None or isinstance(v, str)) for k, v in body.items()
    )


async def serve_forever(
    host: str, port: int, tokens: dict[str, str | None], server_version: str
) -> None:
    server = ReferenceServer(tokens, server_version=server_version)
    bound = await server.start(host, port)
    print(
        f"reference server on ws://{host}:{bound}{WS_PATH} (HTTP API on http://{host}:{bound}/api)",
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
