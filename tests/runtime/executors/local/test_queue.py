"""The local executor's queue (runtime/executors/local/queue.py): over MAX_ACTIVE_RUNS a run
waits on disk, reported ``queued`` / ``MaxActiveRuns``, and starts in arrival order when a slot
frees, also after the runner restarts; a waiting run killed never starts; only the leading
replica starts anything."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest

from runtime.executors.local.executor import LocalExecutor
from runtime.executors.naming import run_name
from runtime.executors.table import RunRecord
from tests.runtime.executors.local.test_executor import settings_for, settle, spec

SHORT = {"seconds": 0.3, "lines": 1}
TOKEN = "eyJ-bot-token-of-the-config"


def started_order(ex: LocalExecutor, run_ids: list[str]) -> list[str]:
    """The runs by the time their process started (``start_date`` of a run that ran)."""
    records = [ex.table.get(r) for r in run_ids]
    ran = [r for r in records if r is not None and ex.private.get(r.run_id).pid]
    return [r.run_id for r in sorted(ran, key=lambda r: (r.start_date or 0, r.run_id))]


@pytest.fixture
async def capped(tmp_path: Path) -> AsyncIterator[LocalExecutor]:
    ex = LocalExecutor(settings_for(tmp_path / "state", MAX_ACTIVE_RUNS="1"))
    await ex.start()
    yield ex
    await ex.stop()


def record(ex: LocalExecutor, run_id: str) -> RunRecord:
    found = ex.table.get(run_id)
    assert found is not None
    return found


async def test_runs_over_the_cap_wait_on_disk_and_run_one_after_the_other(
    capped: LocalExecutor,
) -> None:
    ex = capped
    active_seen: list[int] = []
    ex.table.subscribe(lambda new, old: active_seen.append(ex.table.active_count))
    ids = [f"run-{i}" for i in range(3)]
    for run_id in ids:
        config = {"standIn": SHORT, "workflowConfig": {"jwtToken": TOKEN}}
        await asyncio.to_thread(ex.launch, spec(run_id, **config))
    waiting = record(ex, "run-2")
    assert (waiting.state, waiting.reason) == ("queued", "MaxActiveRuns")
    assert "MAX_ACTIVE_RUNS=1" in str(waiting.message)
    assert (ex.table.active_count, ex.table.queued_count) == (1, 2)
    start_file = ex.runs_dir / run_name("run-2") / "start.json"
    # What it needs to start later: its spec, the config with it, for the runner's user only.
    assert stat.S_IMODE(start_file.stat().st_mode) == 0o600
    assert TOKEN in start_file.read_text()
    assert not (ex.runs_dir / run_name("run-2") / "output.log").exists(), "no process yet"
    for run_id in ids:
        assert (await settle(ex, run_id)).state == "success"
    assert started_order(ex, ids) == ids
    assert max(active_seen) == 1
    assert not start_file.exists(), "gone once it started"


async def test_killing_a_waiting_run_stops_it_before_it_starts(capped: LocalExecutor) -> None:
    ex = capped
    await asyncio.to_thread(ex.launch, spec("run-0", standIn={"seconds": 1}))
    await asyncio.to_thread(ex.launch, spec("run-1", standIn=SHORT))
    await asyncio.to_thread(ex.kill, "run-1")
    killed = record(ex, "run-1")
    assert (killed.state, killed.reason) == ("stopped", "Killed")
    assert "before it started" in str(killed.message)
    await settle(ex, "run-0")
    await asyncio.sleep(0.3)  # the monitor looked at the queue again after run-0
    assert not ex.private.get("run-1").pid
    assert not (ex.runs_dir / run_name("run-1") / "output.log").exists()
    assert not (ex.runs_dir / run_name("run-1") / "start.json").exists()


async def test_a_restarted_runner_starts_the_queue_it_left_in_order(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "state", MAX_ACTIVE_RUNS="1")
    first = LocalExecutor(settings)
    await first.start()
    ids = [f"run-{i}" for i in range(4)]
    for run_id in ids:
        await asyncio.to_thread(first.launch, spec(run_id, standIn=SHORT))
    await first.stop()  # the runner goes; run-0's process goes on, the rest wait on disk
    second = LocalExecutor(settings)
    await second.start()
    try:
        assert record(second, "run-3").reason == "MaxActiveRuns"
        for run_id in ids:
            assert (await settle(second, run_id)).state == "success"
        assert started_order(second, ids) == ids
    finally:
        await second.stop()


async def test_only_the_leading_replica_starts_waiting_runs(tmp_path: Path) -> None:
    ex = LocalExecutor(settings_for(tmp_path / "state", MAX_ACTIVE_RUNS="1"))
    leading = False
    ex.set_leading(lambda: leading)
    await ex.start()
    try:
        await asyncio.to_thread(ex.launch, spec("run-0", standIn=SHORT))
        assert record(ex, "run-0").reason == "MaxActiveRuns", "not leading: it waits"
        await asyncio.sleep(0.3)
        assert record(ex, "run-0").state == "queued"
        leading = True
        ex.promote()  # what the connection calls once the server accepts this replica
        assert (await settle(ex, "run-0")).state == "success"
    finally:
        await ex.stop()


async def test_per_type_caps_let_other_types_go_ahead(tmp_path: Path) -> None:
    ex = LocalExecutor(settings_for(tmp_path / "state", MAX_ACTIVE_RUNS_PER_TYPE='{"metadata": 1}'))
    await ex.start()
    try:
        await asyncio.to_thread(ex.launch, spec("meta-0", standIn={"seconds": 1}))
        await asyncio.to_thread(ex.launch, spec("meta-1", standIn=SHORT))
        other = attrs.evolve(spec("prof-0", standIn=SHORT), pipeline_type="profiler")
        await asyncio.to_thread(ex.launch, other)
        assert record(ex, "meta-1").reason == "MaxActiveRuns"
        assert record(ex, "prof-0").reason is None, "another type is not held up"
        assert ex.private.get("prof-0").pid, "it started at once"
        assert (await settle(ex, "meta-1")).state == "success"
    finally:
        await ex.stop()
