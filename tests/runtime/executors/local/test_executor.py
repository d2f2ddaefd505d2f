"""The local executor: the pod contract on a subprocess, kill escalation, restart re-adoption."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runtime.devkit.demo import STAND_IN
from runtime.executors.base import LaunchSpec
from runtime.executors.local.executor import LocalExecutor
from runtime.executors.naming import run_name
from runtime.executors.table import RunRecord
from runtime.settings import Settings
from runtime.wire.errors import ExecutorUnavailable, NotFound, StartupError

DUMP_ENV = shlex.join(
    [sys.executable, "-c", "import os, json; print(json.dumps(dict(os.environ)))"]
)


def settings_for(state_dir: Path, **env: str) -> Settings:
    return Settings.from_env(
        {
            "STATE_DIR": str(state_dir),
            "LOCAL_PIPELINE_COMMAND": STAND_IN,
            "LOCAL_AUTOMATION_COMMAND": STAND_IN,
            "KILL_GRACE_SECONDS": "1",
            **env,
        }
    )


def spec(run_id: str = "run-1", **config: Any) -> LaunchSpec:
    return LaunchSpec(
        run_id=run_id,
        run_name=run_name(run_id),
        kind="pipeline",
        pipeline_type="metadata",
        pipeline_fqn="svc.pipeline",
        config={"source": {"type": "mysql"}, **config},
        image="",
        env={"KUBERNETES_NAMESPACE": "ingest"},
    )


async def settle(executor: LocalExecutor, run_id: str, timeout: float = 15) -> RunRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = executor.table.get(run_id)
        if record is not None and record.final:
            return record
        await asyncio.sleep(0.05)
    raise TimeoutError(f"run {run_id} did not finish")


def live_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies. An orphaned child that was killed
    stays a zombie until PID 1 reaps it, which some container inits do late: dead is enough."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            alive.append(int(stat.parent.name))
    return alive


@pytest.fixture
async def executor(tmp_path: Path) -> AsyncIterator[LocalExecutor]:
    ex = LocalExecutor(settings_for(tmp_path / "state"))
    await ex.start()
    yield ex
    await ex.stop()


async def test_a_run_goes_queued_running_success_and_keeps_its_output(
    executor: LocalExecutor,
) -> None:
    states: list[str] = []
    executor.table.subscribe(lambda new, old: states.append(new.state))
    await asyncio.to_thread(executor.launch, spec(standIn={"seconds": 0.1, "lines": 2}))
    record = await settle(executor, "run-1")
    assert record.state == "success"
    assert states == ["queued", "running", "success"]
    chunk = executor.logs("run-1")
    assert "stand-in: metadata run run-1 of svc.pipeline" in chunk.content
    assert "step 2/2" in chunk.content
    # One chunk holds it all, and the run is final: no cursor to continue from.
    assert chunk.total == len(chunk.content.encode())
    assert chunk.after is None
    past = executor.logs("run-1", after=chunk.total)
    assert (past.content, past.after, past.total) == ("", None, chunk.total)


async def test_a_log_of_invalid_bytes_pages_in_chunks_of_at_most_64_kib_of_utf8(
    tmp_path: Path,
) -> None:
    # Each 0xFF becomes U+FFFD, three bytes of UTF-8: a 64 KiB window used to decode to a
    # 196,605-byte chunk, three times the documented bound.
    write_ff = shlex.join(
        [sys.executable, "-c", "import sys; sys.stdout.buffer.write(b'\\xff' * 100000)"]
    )
    ex = LocalExecutor(settings_for(tmp_path, LOCAL_PIPELINE_COMMAND=write_ff))
    await ex.start()
    try:
        await asyncio.to_thread(ex.launch, spec())
        assert (await settle(ex, "run-1")).state == "success"
        contents, after = [], 0
        while True:
            chunk = ex.logs("run-1", after=after)
            contents.append(chunk.content)
            if chunk.after is None:
                break
            after = chunk.after
    finally:
        await ex.stop()
    assert max(len(c.encode()) for c in contents) <= 64 * 1024
    assert "".join(contents) == "\ufffd" * 100_000


async def test_a_failing_run_reports_its_exit_code(executor: LocalExecutor) -> None:
    await asyncio.to_thread(executor.launch, spec(standIn={"seconds": 0, "exitCode": 3}))
    record = await settle(executor, "run-1")
    assert (record.state, record.reason) == ("failed", "NonZeroExit")
    assert record.message == "exited with code 3"


async def test_the_pod_contract_reaches_the_process_but_the_token_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTH_TOKEN", "runner-token-must-not-leak")
    ex = LocalExecutor(
        settings_for(tmp_path, LOCAL_PIPELINE_COMMAND=DUMP_ENV, INGESTION_EXTRA_ENVS="EXTRA_ONE=1")
    )
    await ex.start()
    try:
        await asyncio.to_thread(ex.launch, spec())
        assert (await settle(ex, "run-1")).state == "success"
        env = json.loads(ex.logs("run-1").content)
    finally:
        await ex.stop()
    assert json.loads(env["config"]) == {"source": {"type": "mysql"}}
    assert env["pipelineType"] == "metadata"
    assert env["pipelineRunId"] == "run-1"
    assert env["ingestionPipelineFQN"] == "svc.pipeline"
    assert env["KUBERNETES_NAMESPACE"] == "ingest"
    assert env["EXTRA_ONE"] == "1"
    assert "AUTH_TOKEN" not in env


async def test_launch_is_idempotent_on_run_id(executor: LocalExecutor) -> None:
    for _ in range(3):
        await asyncio.to_thread(executor.launch, spec(standIn={"seconds": 0.3}))
    await settle(executor, "run-1")
    assert len(list(executor.runs_dir.iterdir())) == 1
    assert len(executor.table) == 1


async def test_kill_stops_a_run(executor: LocalExecutor) -> None:
    await asyncio.to_thread(executor.launch, spec(standIn={"seconds": 60}))
    started = time.monotonic()
    await asyncio.to_thread(executor.kill, "run-1")
    record = executor.table.get("run-1")
    assert record is not None
    assert (record.state, record.reason) == ("stopped", "Killed")
    assert time.monotonic() - started < 1.0


async def test_kill_escalates_to_sigkill_after_the_grace_period(executor: LocalExecutor) -> None:
    await asyncio.to_thread(executor.launch, spec(standIn={"seconds": 60, "ignoreTerm": True}))
    log = executor.runs_dir / run_name("run-1") / "output.log"
    deadline = time.monotonic() + 10
    while "stand-in:" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    pid = executor.private.get("run-1").pid
    started = time.monotonic()
    await asyncio.to_thread(executor.kill, "run-1")
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 10  # SIGKILL came after the 1 s grace, not before
    assert executor.table.get("run-1").state == "stopped"  # type: ignore[union-attr]
    assert not live_members(pid), "a process of the run's group survived SIGKILL"


async def test_kill_of_an_unknown_run_is_not_found(executor: LocalExecutor) -> None:
    with pytest.raises(NotFound):
        executor.kill("nope")


async def test_a_restarted_executor_readopts_and_learns_how_runs_ended(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = LocalExecutor(settings_for(state))
    await first.start()
    await asyncio.to_thread(first.launch, spec("long", standIn={"seconds": 0.8}))
    await asyncio.to_thread(first.launch, spec("quick", standIn={"seconds": 0}))
    await settle(first, "quick")
    await first.stop()  # the runner goes away; the "long" run goes on without it

    second = LocalExecutor(settings_for(state))
    events: list[tuple[str, str]] = []
    second.table.subscribe(lambda new, old: events.append((new.run_id, new.state)))
    await second.start()
    assert second.ready
    assert second.table.get("quick").state == "success"  # type: ignore[union-attr]
    assert second.table.get("long").state == "running"  # type: ignore[union-attr]
    record = await settle(second, "long")
    await second.stop()
    assert record.state == "success"
    # Only the change observed after the restart is reported, not the whole history.
    assert events == [("long", "success")]


async def test_a_run_whose_process_vanished_is_marked_lost(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = LocalExecutor(settings_for(state))
    await first.start()
    await asyncio.to_thread(first.launch, spec("gone", standIn={"seconds": 60}))
    pid = first.private.get("gone").pid
    await first.stop()
    os.killpg(pid, signal.SIGKILL)  # supervisor and run die without writing an exit status
    await asyncio.sleep(0.2)
    os.waitpid(pid, 0)  # reap, as init would for an orphan

    second = LocalExecutor(settings_for(state))
    await second.start()
    record = second.table.get("gone")
    await second.stop()
    assert record is not None
    assert (record.state, record.reason) == ("failed", "ProcessLost")


async def test_a_state_dir_that_becomes_unwritable_is_a_clear_retryable_error(
    tmp_path: Path,
) -> None:
    ex = LocalExecutor(settings_for(tmp_path / "state"))
    await ex.start()
    try:
        # Writable at start-up, then not (a file where the runs directory was: this works
        # even for root, whom permissions do not stop).
        ex.runs_dir.rmdir()
        ex.runs_dir.write_text("not a directory")
        with pytest.raises(ExecutorUnavailable, match=r"STATE_DIR .* not writable") as caught:
            ex.launch(spec())
        assert caught.value.retryable
        assert ex.health()["stateDir"].startswith("not writable")
    finally:
        await ex.stop()


async def test_an_unwritable_state_dir_stops_start_up(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    ex = LocalExecutor(settings_for(blocker / "state"))
    with pytest.raises(StartupError, match=r"^STATE_DIR: .*/file/state is not writable"):
        await ex.start()


async def test_a_missing_command_fails_the_run_with_code_127(tmp_path: Path) -> None:
    ex = LocalExecutor(settings_for(tmp_path, LOCAL_PIPELINE_COMMAND="no-such-binary-xyz"))
    await ex.start()
    try:
        await asyncio.to_thread(ex.launch, spec())
        record = await settle(ex, "run-1")
    finally:
        await ex.stop()
    assert (record.state, record.message) == ("failed", "exited with code 127")
    assert "no-such-binary-xyz" in ex.logs("run-1").content


def test_render_describes_the_process_without_starting_it(tmp_path: Path) -> None:
    ex = LocalExecutor(settings_for(tmp_path))
    (doc,) = ex.render(spec())
    assert doc["kind"] == "LocalProcess"
    assert doc["env"]["pipelineRunId"] == "run-1"
    assert doc["command"][-2:] == ["-m", "runtime.devkit.stand_in"]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("enabled", [True, False])
async def test_local_runs_get_the_proxy_as_pods_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    # What the runner's own environment holds after start-up
    # (runtime.egress.proxy.export_environment).
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "PROXY_PASSWORD"):
        monkeypatch.setenv(name, "from-the-runner")
    proxy = {
        "HTTPS_PROXY": "http://proxy.corp:3128",
        "PROXY_USERNAME": "bob",
        "PROXY_PASSWORD": "pw-with@sign",
        "NO_PROXY": "corp.example",
        "INGESTION_PROXY_ENABLED": str(enabled).lower(),
    }
    ex = LocalExecutor(settings_for(tmp_path, LOCAL_PIPELINE_COMMAND=DUMP_ENV, **proxy))
    (doc,) = ex.render(spec())
    await ex.start()
    try:
        await asyncio.to_thread(ex.launch, spec())
        assert (await settle(ex, "run-1")).state == "success"
        env = json.loads(ex.logs("run-1").content)
    finally:
        await ex.stop()
    names = ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy")
    assert "PROXY_PASSWORD" not in env and "PROXY_USERNAME" not in env
    if not enabled:
        assert not set(names) & set(env) and not set(names) & set(doc["env"])
        return
    url = "http://bob:pw-with%40sign@proxy.corp:3128"
    assert env["HTTPS_PROXY"] == env["https_proxy"] == url
    assert env["NO_PROXY"] == env["no_proxy"]
    assert env["NO_PROXY"].startswith("corp.example,.svc,.cluster.local,localhost,")
    # The dry run shows where the credentials go, not what they are.
    assert doc["env"]["HTTPS_PROXY"] == "http://***:***@proxy.corp:3128"
    assert "pw-with" not in json.dumps(doc)


@pytest.mark.parametrize("ignore_term", [False, True])
async def test_a_run_past_run_timeout_seconds_is_stopped_and_fails_deadline_exceeded(
    tmp_path: Path, ignore_term: bool
) -> None:
    ex = LocalExecutor(settings_for(tmp_path, RUN_TIMEOUT_SECONDS="1"))
    await ex.start()
    try:
        started = time.monotonic()
        behaviour = {"seconds": 30, "lines": 30, "ignoreTerm": ignore_term}
        await asyncio.to_thread(ex.launch, spec(standIn=behaviour))
        pid = ex.private.get("run-1").pid
        record = await settle(ex, "run-1")
        elapsed = time.monotonic() - started
    finally:
        await ex.stop()
    assert (record.state, record.reason) == ("failed", "DeadlineExceeded")
    assert record.message == (
        "ran longer than its deadline of 1s (RUN_TIMEOUT_SECONDS=1); raise RUN_TIMEOUT_SECONDS"
    )
    # SIGTERM at the deadline; a process that ignores it gets SIGKILL a grace (1 s) later.
    assert (1.9 if ignore_term else 0.9) < elapsed < 10
    assert not live_members(pid)


async def test_a_waiting_runs_deadline_counts_from_its_start(tmp_path: Path) -> None:
    ex = LocalExecutor(settings_for(tmp_path, RUN_TIMEOUT_SECONDS="2", MAX_ACTIVE_RUNS="1"))
    await ex.start()
    try:
        await asyncio.to_thread(ex.launch, spec("run-0", standIn={"seconds": 1.5}))
        await asyncio.to_thread(ex.launch, spec("run-1", standIn={"seconds": 1.2}))
        assert (await settle(ex, "run-0")).state == "success"
        # run-1 waited 1.5 s and ran 1.2 s: 2.7 s after its launch, within 2 s of its start.
        assert (await settle(ex, "run-1")).state == "success"
    finally:
        await ex.stop()
