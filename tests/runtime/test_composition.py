"""The composition root's one teardown (``running``) and what it injects."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry

from runtime.composition import build_runner, running
from runtime.serving.context import Context
from runtime.serving.dispatch import Dispatcher
from runtime.settings import Settings
from runtime.wire.errors import StartupError
from tests.conftest import runner_env


def pieces(calls: list[str], *, start_fails: bool = False) -> tuple[Context, Dispatcher]:
    async def start() -> None:
        calls.append("executor.start")
        if start_fails:
            raise StartupError("no cluster")

    async def stop() -> None:
        calls.append("executor.stop")

    context = SimpleNamespace(
        executor=SimpleNamespace(start=start, stop=stop),
        secrets=SimpleNamespace(close=lambda: calls.append("secrets.close")),
    )
    dispatcher = SimpleNamespace(close=lambda: calls.append("dispatcher.close"))
    return cast(Context, context), cast(Dispatcher, dispatcher)


async def test_running_starts_the_executor_and_releases_everything_in_order() -> None:
    calls: list[str] = []
    context, dispatcher = pieces(calls)
    async with running(context, dispatcher):
        assert calls == ["executor.start"]
    assert calls == ["executor.start", "executor.stop", "dispatcher.close", "secrets.close"]


async def test_a_dry_run_neither_starts_nor_stops_the_executor() -> None:
    calls: list[str] = []
    context, dispatcher = pieces(calls)
    async with running(context, dispatcher, start_executor=False):
        pass
    assert calls == ["dispatcher.close", "secrets.close"]


async def test_a_failed_start_releases_what_was_taken() -> None:
    calls: list[str] = []
    context, dispatcher = pieces(calls, start_fails=True)
    with pytest.raises(StartupError):
        async with running(context, dispatcher):
            pass
    assert calls == ["executor.start", "dispatcher.close", "secrets.close"]


def test_the_connection_counts_the_executor_table_it_was_given(tmp_path: Path) -> None:
    env = runner_env(None, tmp_path / "state", SERVER_URL="ws://127.0.0.1:9")
    runner = build_runner(Settings.from_env(env, require_server=True), registry=CollectorRegistry())
    table: Any = runner.context.executor.table
    assert runner.connection.active_runs() == table.active_count == 0


async def test_only_the_connected_replica_starts_waiting_runs(
    server: Any, make_runner: Any
) -> None:
    """Two replicas of one agent id: the standby's waiting run starts only once the server
    accepts it (the composition root gives the executor the connection state as ``leading``
    and asks it to look at its queue when a session is accepted)."""
    from runtime.executors.base import LaunchSpec
    from tests.conftest import wait_for

    active = await make_runner()
    standby = await make_runner(connect=False, STANDBY_RETRY_SECONDS="0.3")
    await wait_for(lambda: standby.connection.standby)
    executor = standby.context.executor
    spec = LaunchSpec(
        run_id="run-s",
        run_name="om-run-s",
        kind="pipeline",
        pipeline_type="metadata",
        pipeline_fqn="svc.p",
        config={"standIn": {"seconds": 0.1}},
        image="",
    )
    executor.launch(spec)  # say, a request answered just before this replica lost its session
    record = executor.table.get("run-s")
    assert (record.state, record.reason) == ("queued", "MaxActiveRuns")
    await active.stop(grace=1)
    await wait_for(lambda: bool(executor.table.get("run-s").final), timeout=15)
    assert executor.table.get("run-s").state == "success"
