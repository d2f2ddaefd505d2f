"""Runs one handler per request and turns every outcome into exactly one reply.

This is the only place where exceptions become error replies. It bounds concurrency, runs
blocking handlers in a thread pool, enforces the per-request time limit, and remembers replies by
request id so that a request the server re-sends after a reconnect gets the same answer without
repeating its effect (a re-send that arrives while the first is still running waits for it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs

from runtime.codec import FrameError, decode_request
from runtime.context import Context
from runtime.errors import RunnerError, ShuttingDown, Timeout
from runtime.logsetup import request_logger
from runtime.messages import ErrorInfo, Reply, Request
from runtime.metrics import Metrics
from runtime.router import Router

log = logging.getLogger("runtime.dispatch")


def error_reply(request_id: str | None, error: RunnerError) -> Reply:
    return Reply(
        id=request_id,
        ok=False,
        error=ErrorInfo(code=error.code, message=error.message, retryable=error.retryable),
    )


class ReplyCache:
    """Bounded LRU of request id -> reply."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._replies: OrderedDict[str, Reply] = OrderedDict()

    def get(self, request_id: str) -> Reply | None:
        reply = self._replies.get(request_id)
        if reply is not None:
            self._replies.move_to_end(request_id)
        return reply

    def put(self, request_id: str, reply: Reply) -> None:
        self._replies[request_id] = reply
        self._replies.move_to_end(request_id)
        while len(self._replies) > self._size:
            self._replies.popitem(last=False)

    def __len__(self) -> int:
        return len(self._replies)


class Dispatcher:
    def __init__(
        self,
        router: Router,
        context: Context,
        *,
        max_concurrent: int,
        threads: int,
        timeout: float,
        cache_size: int,
        metrics: Metrics,
    ) -> None:
        self.router = router
        self.context = context
        self.timeout = timeout
        self.metrics = metrics
        self.cache = ReplyCache(cache_size)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="handler")
        self._slots = asyncio.Semaphore(max_concurrent)
        self._inflight: dict[str, asyncio.Future[Reply]] = {}
        self.accepting = True
        self._counters: dict[tuple[str, str], Any] = {}
        self._histograms: dict[str, Any] = {}

    # ------------------------------------------------------------------ entry points

    async def handle_frame(self, text: str | bytes) -> Reply:
        """Decode a server frame and answer it; never raises."""
        try:
            request = decode_request(text)
        except FrameError as exc:
            self._count("-", exc.code)
            log.warning("refused frame: %s: %s", exc.code, exc.message)
            return error_reply(exc.request_id, exc)
        return await self.dispatch(request)

    async def dispatch(self, request: Request) -> Reply:
        """The reply to ``request``, from the cache, an in-flight twin, or its handler."""
        kind = request.TYPE
        cached = self.cache.get(request.id)
        if cached is not None:
            self._count(kind, "duplicate")
            return cached
        twin = self._inflight.get(request.id)
        if twin is not None:
            self._count(kind, "duplicate")
            return await asyncio.shield(twin)
        if not self.accepting:
            self._count(kind, ShuttingDown.code)
            return error_reply(request.id, ShuttingDown("runner is shutting down; send again"))
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._inflight[request.id] = future
        started = time.perf_counter()
        try:
            reply = await self._run(request)
        finally:
            self._inflight.pop(request.id, None)
        # Retryable errors are not remembered: the point of re-sending is to try again.
        if reply.ok or (reply.error is not None and not reply.error.retryable):
            self.cache.put(request.id, reply)
        future.set_result(reply)
        outcome = "ok" if reply.ok else reply.error.code if reply.error else "error"
        self._count(kind, outcome)
        self._latency(kind).observe(time.perf_counter() - started)
        return reply

    def _count(self, kind: str, outcome: str) -> None:
        # Label lookups take a lock and hash the labels; the hot path reuses the children.
        key = (kind, outcome)
        child = self._counters.get(key)
        if child is None:
            child = self._counters[key] = self.metrics.messages.labels(kind, outcome)
        child.inc()

    def _latency(self, kind: str) -> Any:
        child = self._histograms.get(kind)
        if child is None:
            child = self._histograms[kind] = self.metrics.server_response_time.labels(kind)
        return child

    # ------------------------------------------------------------------ shutdown

    def stop_accepting(self) -> None:
        self.accepting = False

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    async def drain(self, grace: float) -> bool:
        """Wait up to ``grace`` seconds for in-flight requests; True if all finished."""
        deadline = time.monotonic() + grace
        while self._inflight and time.monotonic() < deadline:
            pending = list(self._inflight.values())
            await asyncio.wait(
                [asyncio.ensure_future(asyncio.shield(f)) for f in pending],
                timeout=max(0.0, deadline - time.monotonic()),
            )
        return not self._inflight

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ internals

    async def _run(self, request: Request) -> Reply:
        handler, is_async = self.router.lookup(type(request))
        run_id = getattr(request, "run_id", None)
        ctx = attrs.evolve(
            self.context,
            logger=request_logger(
                logging.getLogger(f"handlers.{request.TYPE}"),
                request_id=request.id,
                run_id=run_id,
                message_type=request.TYPE,
            ),
        )
        try:
            # asyncio.timeout rather than wait_for: no extra task per request on the hot path.
            async with self._slots, asyncio.timeout(self.timeout):
                if is_async:
                    result = await handler(request, ctx)
                else:
                    loop = asyncio.get_running_loop()
                    result = await loop.run_in_executor(self._pool, handler, request, ctx)
        except RunnerError as exc:
            ctx.logger.info("%s failed: %s: %s", request.TYPE, exc.code, exc.message)
            return error_reply(request.id, exc)
        except TimeoutError:
            ctx.logger.warning("%s timed out after %gs", request.TYPE, self.timeout)
            return error_reply(
                request.id, Timeout(f"{request.TYPE} did not finish within {self.timeout:g}s")
            )
        except Exception as exc:
            # The message of an unexpected exception may carry anything (URLs, API bodies); it
            # goes to the log with its traceback, and the reply names only its type.
            ctx.logger.exception("%s failed unexpectedly", request.TYPE)
            return error_reply(
                request.id,
                RunnerError(f"internal error ({type(exc).__name__}); see the runner's log"),
            )
        return Reply(id=request.id, ok=True, result=result)
