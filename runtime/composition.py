"""The composition root: the one runtime module that imports the handlers and wires everything.

Settings in, a ready-to-start Runner (or a Dispatcher for the harness) out. Tests, the harness,
the demo and ``hybrid-runner run`` all assemble the runner here, so they run the same code.
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import CollectorRegistry

from handlers.routes import ROUTES
from runtime.app import Runner
from runtime.connection import Connection
from runtime.context import Context, RunnerState
from runtime.dispatch import Dispatcher
from runtime.executors import build_executor
from runtime.executors.base import Executor
from runtime.logsetup import redactor, request_logger
from runtime.metrics import Metrics
from runtime.router import Router
from runtime.secrets import build_secrets
from runtime.settings import Settings


def runner_version() -> str:
    try:
        return version("hybrid-ingestion-runner")
    except PackageNotFoundError:
        return "0.0.0+unknown"


def build_context(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    executor: Executor | None = None,
    dry_run: bool = False,
) -> tuple[Context, Router]:
    redactor.add(settings.auth_token)
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


def build_runner(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    executor: Executor | None = None,
) -> Runner:
    context, router = build_context(settings, registry=registry, executor=executor)
    dispatcher = build_dispatcher(context, router)
    connection = Connection(settings, dispatcher, context.runner, context.metrics)
    return Runner(context, dispatcher, connection)
