"""The long-lived process: metrics/health HTTP server, executor, connection, and shutdown order.

``Runner`` owns the pieces the composition root built and wired and starts and stops them in
order: the HTTP server first (so probes answer during start-up), then the executor (re-adoption,
after which ``/readyz`` may pass), then the connection. SIGTERM stops taking requests, drains
in-flight handlers within SHUTDOWN_GRACE_SECONDS, closes with GOING_AWAY and exits. Everything
started is released through one ``AsyncExitStack``, in the reverse order: the composition
root's ``running`` (executor, handler threads, secrets stores), then the HTTP server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from runtime.serving.connection import Connection
from runtime.serving.context import Context
from runtime.serving.dispatch import Dispatcher
from runtime.wire.errors import RunnerError, StartupError

log = logging.getLogger("runtime.serving.app")


class Runner:
    def __init__(
        self,
        context: Context,
        dispatcher: Dispatcher,
        connection: Connection,
        resources: contextlib.AbstractAsyncContextManager[None],
        *,
        active_runs: Callable[[], int],
    ) -> None:
        self.context = context
        self.settings = context.settings
        self.dispatcher = dispatcher
        self.connection = connection
        self.metrics = context.metrics
        self.web_runner: web.AppRunner | None = None
        self.port: int | None = None
        # The executor started and what to release at the end (composition.running).
        self._resources = resources
        self._active_runs = active_runs
        self._teardown = contextlib.AsyncExitStack()
        self._connection_task: asyncio.Task[None] | None = None
        self._started = False

    # ------------------------------------------------------------------ HTTP

    def web_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(self.settings.metrics_path, self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        return app

    async def _metrics(self, _request: web.Request) -> web.Response:
        self.metrics.active_runs.set(self._active_runs())
        self.metrics.queued_runs.set(self.context.executor.table.queued_count)
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _request: web.Request) -> web.Response:
        # Answering at all proves the event loop turns; the connection loop must be alive too.
        task = self._connection_task
        if task is not None and task.done() and self.dispatcher.accepting:
            return web.Response(status=503, text="connection loop ended\n")
        return web.Response(text="ok\n")

    async def _readyz(self, _request: web.Request) -> web.Response:
        problems = []
        if not self.context.executor.ready:
            problems.append("earlier runs not yet re-adopted")
        if self.connection.standby:
            problems.append("standby: agent id connected from another replica")
        elif not self.context.runner.connected:
            problems.append("not connected to the server")
        if problems:
            return web.Response(status=503, text="; ".join(problems) + "\n")
        return web.Response(text="ready\n")

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        stack = contextlib.AsyncExitStack()
        try:
            await self._serve_http(stack)
            try:
                await stack.enter_async_context(self._resources)
            except (StartupError, RunnerError) as exc:
                # No cluster credentials, an unwritable STATE_DIR: the executors keep retrying
                # what can recover by itself, so what escapes start() is for the operator to fix.
                message = exc.message if isinstance(exc, RunnerError) else str(exc)
                raise StartupError(message) from None
        except BaseException:
            await stack.aclose()
            raise
        self._teardown = stack
        self._connection_task = asyncio.create_task(self.connection.run(), name="connection")
        self._started = True

    async def _serve_http(self, stack: contextlib.AsyncExitStack) -> None:
        self.web_runner = web.AppRunner(self.web_app(), access_log=None, handle_signals=False)
        await self.web_runner.setup()
        stack.push_async_callback(self.web_runner.cleanup)
        host, port = self.settings.metrics_host, self.settings.metrics_port
        site = web.TCPSite(self.web_runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise StartupError(
                f"METRICS_SERVER_PORT: cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from None
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.settings.metrics_port
        log.info("metrics on :%s%s", self.port, self.settings.metrics_path)

    async def stop(self, grace: float | None = None) -> None:
        grace = self.settings.shutdown_grace if grace is None else grace
        log.info("shutting down (grace %gs)", grace)
        await self.connection.shutdown(grace)
        if self._connection_task is not None:
            try:
                await asyncio.wait_for(self._connection_task, timeout=5)
            except (TimeoutError, asyncio.CancelledError):
                self._connection_task.cancel()
        await self._teardown.aclose()
        log.info("stopped")

    async def serve_until_signalled(self) -> None:
        """``hybrid-runner run``: start, wait for SIGTERM/SIGINT, shut down gracefully."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await self.start()
        waiter = asyncio.ensure_future(stop.wait())
        assert self._connection_task is not None
        await asyncio.wait({waiter, self._connection_task}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        await self.stop()
