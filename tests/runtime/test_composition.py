"""The composition root's one teardown (``running``) and what it injects."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry

from runtime.composition import build_runner, running
from runtime.context import Context
from runtime.dispatch import Dispatcher
from runtime.errors import StartupError
from runtime.settings import Settings
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
