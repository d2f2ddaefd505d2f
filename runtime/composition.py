"""The composition root: the one runtime module that imports the handlers and wires everything.

Settings in, a ready-to-start Runner (or a Dispatcher for the harness) out. Tests, the harness,
the demo and ``hybrid-runner run`` all assemble the runner here, so they run the same code.
Every collaborator gets what it needs here, by injection: the connection its heartbeat's run
count, the run table its listeners (the connection's events, the transition metrics). What is
built here is released in one place, ``running``: the harness uses it alone, the ``Runner``
inside its HTTP server.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from prometheus_client import CollectorRegistry

from handlers.routes import ROUTES
from runtime.config.backends import runs_pods
from runtime.egress import proxy
from runtime.executors import build_executor, check_executor
from runtime.executors.base import Executor
from runtime.executors.table import RunTable
from runtime.observability.logsetup import redactor, request_logger
from runtime.observability.metrics import Metrics
from runtime.secrets import build_secrets, check_store
from runtime.serving.app import Runner
from runtime.serving.connection import Connection
from runtime.serving.context import Context, RunnerState
from runtime.serving.dispatch import Dispatcher
from runtime.serving.router import Router
from runtime.settings import Settings

log = logging.getLogger("runtime.composition")


def runner_version() -> str:
    try:
        return version("hybrid-ingestion-runner")
    except PackageNotFoundError:
        return "0.0.0+unknown"


def check_backends(settings: Settings) -> None:
    """Start-up's check of the chosen backends, before anything is built: the executor's
    ``check`` (its warnings logged) and the store's. Raises ``ConfigError`` naming the
    variable."""
    for warning in check_executor(settings):
        log.warning("%s", warning)
    check_store(settings)


def build_context(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    executor: Executor | None = None,
    dry_run: bool = False,
) -> tuple[Context, Router]:
    redactor.add(settings.auth_token)
    for secret in proxy.secrets(settings):
        redactor.add(secret)
    check_backends(settings)
    for note in proxy.start_up_notes(settings, runs_pods=runs_pods(settings.executor_type)):
        log.warning("%s", note)
    router = Router(ROUTES)
    metrics = Metrics(registry)
    metrics.build_info.info({"version": runner_version(), "executor": settings.executor_type})
    context = Context(
        settings=settings,
        executor=executor if executor is not None else build_executor(settings),
        secrets=build_secrets(settings, metrics),
        metrics=metrics,
        runner=RunnerState(
            agent_id=settings.agent_id,
            version=runner_version(),
            executor=settings.executor_type,
            capabilities=router.capabilities,
        ),
        logger=request_logger(logging.getLogger("handlers")),
        dry_run=dry_run,
    )
    return context, router


def build_dispatcher(context: Context, router: Router) -> Dispatcher:
    s = context.settings
    return Dispatcher(
        router,
        context,
        max_concurrent=s.max_concurrent_requests,
        threads=s.handler_threads,
        timeout=s.request_timeout,
        cache_size=s.reply_cache_size,
        metrics=context.metrics,
    )


@contextlib.asynccontextmanager
async def running(
    context: Context, dispatcher: Dispatcher, *, start_executor: bool = True
) -> AsyncIterator[None]:
    """The executor started (unless a dry run renders only), then the one teardown.

    On the way out, in this order: the executor stops, the dispatcher's handler pool shuts down,
    the secrets stores close. A failed start releases what was already taken.
    """
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(context.secrets.close)
        stack.callback(dispatcher.close)
        if start_executor:
            await context.executor.start()
            stack.push_async_callback(context.executor.stop)
        yield


def _count_transitions(metrics: Metrics, table: RunTable) -> Callable[[Any, Any], None]:
    """The run table's listener that keeps the run metrics."""

    def count(record: Any, old: Any) -> None:
        metrics.run_transitions.labels(record.state, record.reason or "").inc()
        metrics.active_runs.set(table.active_count)
        metrics.queued_runs.set(table.queued_count)
        if record.final and (old is None or not old.final):
            metrics.run_finished(record.kind, record.state)

    return count


def build_runner(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    executor: Executor | None = None,
) -> Runner:
    context, router = build_context(settings, registry=registry, executor=executor)
    dispatcher = build_dispatcher(context, router)

    def active_runs() -> int:
        return context.executor.table.active_count

    connection = Connection(
        settings, dispatcher, context.runner, context.metrics, active_runs=active_runs
    )
    table = context.executor.table
    # Counted before the event is queued: a run's counters must already hold it when the
    # server hears it finished (the local executor updates the table from a thread).
    table.subscribe(_count_transitions(context.metrics, table))
    table.subscribe(connection.run_update)
    # Only the replica the server accepted starts waiting runs: a standby of the same agent id
    # sees the same queue and must leave it alone. Once accepted, it looks at once.
    context.executor.set_leading(lambda: context.runner.connected)
    connection.on_connected.append(context.executor.promote)
    return Runner(
        context, dispatcher, connection, running(context, dispatcher), active_runs=active_runs
    )
