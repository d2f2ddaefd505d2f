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
from types import CoroutineType
from typing import Any

import attrs

from runtime.observability.audit import audit
from runtime.observability.logsetup import request_logger
from runtime.observability.metrics import Metrics
from runtime.serving.context import Context
from runtime.serving.eager import Resume, first_step
from runtime.serving.router import Router
from runtime.wire import codec
from runtime.wire.codec import FrameError, decode_request
from runtime.wire.errors import Refused, RunnerError, ShuttingDown, Timeout
from runtime.wire.messages import ErrorInfo, Reply, Request

log = logging.getLogger("runtime.serving.dispatch")


def error_reply(request_id: str | None, error: RunnerError) -> Reply:
    return Reply(
        id=request_id,
        ok=False,
        error=ErrorInfo(code=error.code, message=error.message, retryable=error.retryable),
    )


# What the reply cache may hold, counted in characters of encoded reply frames plus a fixed
# cost per entry: a count alone lets 4,096 replies of any size (log chunks, long run lists)
# pile up. The oldest replies go first; a reply larger than a quarter of this is not kept at
# all (a re-send of it is answered again, which for reads is the same answer).
REPLY_CACHE_BYTES = 8 * 1024 * 1024
_ENTRY_OVERHEAD = 256


def encode_reply(reply: Reply) -> tuple[Reply, str]:
    """The reply and its frame. One that cannot be encoded becomes ``internal_error`` with the
    same id, so that a request is never left without an answer."""
    try:
        return reply, codec.encode(reply)
    except Exception as exc:
        log.exception("the reply to request %r cannot be encoded", reply.id)
        fallback = error_reply(
            reply.id, RunnerError(f"internal error ({type(exc).__name__}); see the runner's log")
        )
        return fallback, codec.encode(fallback)


class ReplyCache:
    """Bounded LRU of request id -> reply and its encoded frame, by count and by size."""

    def __init__(self, size: int, max_bytes: int = REPLY_CACHE_BYTES) -> None:
        self._size = size
        self.max_bytes = max_bytes
        self.bytes = 0
        self._replies: OrderedDict[str, tuple[Reply, str]] = OrderedDict()

    def get(self, request_id: str) -> Reply | None:
        entry = self._replies.get(request_id)
        if entry is None:
            return None
        self._replies.move_to_end(request_id)
        return entry[0]

    def frame(self, reply: Reply) -> str | None:
        """The frame stored with this very reply object, if the cache holds it."""
        entry = self._replies.get(reply.id) if reply.id is not None else None
        return entry[1] if entry is not None and entry[0] is reply else None

    def put(self, request_id: str, reply: Reply, frame: str | None = None) -> None:
        if frame is None:
            frame = codec.encode(reply)
        cost = _cost(request_id, frame)
        if cost > self.max_bytes // 4:
            return
        self._discard(request_id)
        self._replies[request_id] = (reply, frame)
        self.bytes += cost
        while len(self._replies) > self._size or self.bytes > self.max_bytes:
            self._discard(next(iter(self._replies)))

    def _discard(self, request_id: str) -> None:
        entry = self._replies.pop(request_id, None)
        if entry is not None:
            self.bytes -= _cost(request_id, entry[1])

    def __len__(self) -> int:
        return len(self._replies)


def _cost(request_id: str, frame: str) -> int:
    return len(request_id) + len(frame) + _ENTRY_OVERHEAD


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
        cache_bytes: int = REPLY_CACHE_BYTES,
    ) -> None:
        self.router = router
        self.context = context
        self.timeout = timeout
        self.metrics = metrics
        self.cache = ReplyCache(cache_size, cache_bytes)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="handler")
        self._slots = asyncio.Semaphore(max_concurrent)
        self._inflight: dict[str, asyncio.Future[Reply]] = {}
        self.accepting = True
        self._counters: dict[tuple[str, str], Any] = {}
        self._histograms: dict[str, Any] = {}
        self._loggers: dict[str, logging.Logger] = {}
        # Every init argument of the shared context but the logger: each request's context is
        # built from these and its own logger (cheaper than attrs.evolve).
        self._context_fields = {
            a.alias: getattr(context, a.name)
            for a in attrs.fields(type(context))
            if a.init and a.name != "logger"
        }

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
        started = time.perf_counter()
        step = first_step(self._run(request))
        future: asyncio.Future[Reply] | None = None
        if isinstance(step, Resume):
            # It waits (a handler in the thread pool, a slow one): twins wait for its reply.
            future = asyncio.get_running_loop().create_future()
            self._inflight[request.id] = future
            try:
                reply = await step
            finally:
                self._inflight.pop(request.id, None)
        else:
            # Answered without waiting: no other request ran meanwhile, so none can be a twin.
            reply = step
        # Retryable errors are not remembered: the point of re-sending is to try again.
        if reply.ok or (reply.error is not None and not reply.error.retryable):
            reply, frame = encode_reply(reply)
            self.cache.put(request.id, reply, frame)
        if future is not None:
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

    def frame_for(self, reply: Reply) -> str:
        """``reply`` as a frame: the one encoded when it was cached, or encoded now."""
        frame = self.cache.frame(reply)
        return frame if frame is not None else encode_reply(reply)[1]

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

    def _context_for(self, request: Request) -> Context:
        """The shared context with a logger carrying this request's ids."""
        kind = request.TYPE
        base = self._loggers.get(kind)
        if base is None:
            base = self._loggers[kind] = logging.getLogger(f"handlers.{kind}")
        logger = request_logger(
            base,
            request_id=request.id,
            run_id=getattr(request, "run_id", None),
            message_type=kind,
        )
        return type(self.context)(logger=logger, **self._context_fields)

    async def _run(self, request: Request) -> Reply:
        handler, is_async = self.router.lookup(type(request))
        ctx = self._context_for(request)
        try:
            if is_async and not self._slots.locked():
                # A slot is free, so the handler starts at once, and its first step runs now.
                # One that finishes there (status) needs neither the slot nor a timer: no
                # other request runs meanwhile, and a time limit can only interrupt an await.
                # One that waits takes the slot (still free: nothing else ran since) and
                # finishes under the limit, counted from its start.
                deadline = asyncio.get_running_loop().time() + self.timeout
                coro = handler(request, ctx)
                if type(coro) is not CoroutineType:
                    async with self._slots, asyncio.timeout_at(deadline):
                        result = await coro
                else:
                    step = first_step(coro)
                    if isinstance(step, Resume):
                        async with self._slots, asyncio.timeout_at(deadline):
                            result = await step
                    else:
                        result = step
            else:
                async with self._slots, asyncio.timeout(self.timeout):
                    if is_async:
                        result = await handler(request, ctx)
                    else:
                        loop = asyncio.get_running_loop()
                        result = await loop.run_in_executor(self._pool, handler, request, ctx)
        except Refused as exc:
            # The operator's boundary held: audited, counted, answered like any error.
            self.metrics.refused.labels(exc.rule).inc()
            audit(
                exc,
                request_id=request.id,
                message_type=request.TYPE,
                run_id=getattr(request, "run_id", None),
            )
            return error_reply(request.id, exc)
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
