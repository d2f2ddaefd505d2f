"""The ``local`` executor: each run is a subprocess on the runner's own machine.

It keeps the ingestion pod's contract (same env variables, configurable command), writes every
run's record and output under ``STATE_DIR/runs/<runName>/`` so a restarted runner still answers
``status`` for earlier runs and learns how runs ended while it was down, and kills a run's whole
process group with SIGTERM, then SIGKILL after a grace period (``processes``). ``logs``
serves a run's ``output.log`` in byte-offset chunks. There is no scheduler here: the schedule
methods answer ``Unsupported`` (use ``argo`` or ``simpleK8s`` for scheduled pipelines).

A launch over MAX_ACTIVE_RUNS / MAX_ACTIVE_RUNS_PER_TYPE is recorded as waiting (its record
``queued`` / ``MaxActiveRuns`` and its launch spec, ``state``) and started in arrival
order (``admission``) by the monitor thread when a slot frees, also after a restart, by the
replica connected to the server only. The monitor also holds runs to RUN_TIMEOUT_SECONDS: past
it, SIGTERM, then SIGKILL after KILL_GRACE_SECONDS, and the run fails ``DeadlineExceeded``
(``outcome``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from runtime.executors.admission import Limits
from runtime.executors.base import (
    LOG_CHUNK_BYTES,
    LaunchSpec,
    LogChunk,
    PipelineDeletion,
    ScheduleRef,
    ScheduleSpec,
    log_chunk,
)
from runtime.executors.deadlines import decide
from runtime.executors.local.outcome import final_state, read_exit
from runtime.executors.local.processes import Processes, command, contract_env
from runtime.executors.local.queue import LocalQueue
from runtime.executors.local.state import (
    LocalRun,
    LocalRuns,
    load_record,
    probe_state_dir,
    process_start_time,
    recover_pid,
)
from runtime.executors.table import RunRecord, RunTable
from runtime.settings import Settings
from runtime.wire.errors import (
    ExecutorUnavailable,
    LaunchFailed,
    NotFound,
    StartupError,
    Unsupported,
)
from runtime.wire.messages import FAILED, QUEUED, RUNNING, STOPPED

log = logging.getLogger("runtime.executors.local.executor")

POLL_SECONDS = 0.1
HEALTH_TTL = 5.0


class LocalExecutor:
    name = "local"
    supports_schedules = False

    def __init__(self, settings: Settings, *, log_chunk_bytes: int = LOG_CHUNK_BYTES) -> None:
        self.settings = settings
        self.log_chunk_bytes = log_chunk_bytes
        self.table = RunTable()
        self.runs_dir = Path(settings.state_dir).expanduser().resolve() / "runs"
        self._processes = Processes(settings)
        self._lock = threading.RLock()
        #: What only this executor keeps about each run (its pid, a kill asked for, ...).
        self.private = LocalRuns(self.runs_dir, self._lock)
        self._queue = LocalQueue(
            self.table,
            self.runs_dir,
            Limits.from_settings(settings),
            queued_at=lambda run_id: self.private.get(run_id).queued_at,
        )
        self._deadline = decide(settings, pipeline_type="", of_types=False)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None
        self._ready = False
        self._health: dict[str, str] = {}
        self._health_at = float("-inf")
        #: Something changed (a run ended, one waits, leadership): look at the queue again.
        self._due = True

    # ------------------------------------------------------------------ protocol

    @property
    def ready(self) -> bool:
        return self._ready

    def render(self, spec: LaunchSpec) -> list[dict[str, Any]]:
        env = contract_env(self.settings, spec, mask=True)
        return [
            {
                "kind": "LocalProcess",
                "runName": spec.run_name,
                "command": list(command(self.settings, spec)),
                "workingDirectory": str(self.runs_dir / spec.run_name),
                "env": env,
                "log": str(self.runs_dir / spec.run_name / "output.log"),
            }
        ]

    def launch(self, spec: LaunchSpec) -> None:
        with self._lock:
            if self.table.get(spec.run_id) is not None:
                return
            run_dir = self.runs_dir / spec.run_name
            try:
                run_dir.mkdir(parents=True, exist_ok=True)
                (run_dir / "exit.json").unlink(missing_ok=True)
                (run_dir / "supervisor.json").unlink(missing_ok=True)
                now = time.time()
                record = RunRecord(
                    run_id=spec.run_id,
                    run_name=spec.run_name,
                    pipeline_fqn=spec.pipeline_fqn,
                    pipeline_type=spec.pipeline_type,
                    kind=spec.kind,
                    state=QUEUED,
                    start_date=int(now * 1000),
                )
                self.private.put(spec.run_id, LocalRun(queued_at=int(now * 1e6)))
                if spec.run_id not in self._queue.admitted(record):
                    waiting = self._queue.enqueue(spec, record)
                    self._persist(waiting)
                    self.table.put(waiting)
                    return
            except OSError as exc:
                self.private.drop(spec.run_id)
                raise ExecutorUnavailable(
                    f"STATE_DIR {self.runs_dir.parent} is not writable: {exc.strerror}"
                ) from None
            self._spawn(spec, record)
        self._wake.set()

    def _promote(self) -> None:
        """Start the waiting runs that fit (the monitor's, when a slot freed or asked to)."""
        with self._lock:
            for run_id in self._queue.admitted():
                record = self.table.get(run_id)
                if record is None or not record.waiting:
                    continue
                spec = self._queue.take(record)
                now = int(time.time() * 1000)
                started = attrs.evolve(record, reason=None, message=None, start_date=now)
                if spec is None:
                    lost = "its launch spec in STATE_DIR could not be read; it never started"
                    self._fail(started, "LaunchFailed", lost)
                    continue
                try:
                    self._spawn(spec, started)
                except LaunchFailed:
                    pass  # recorded failed

    def _spawn(self, spec: LaunchSpec, record: RunRecord) -> None:
        """Start the run's process and record it running (caller holds the lock)."""
        self._persist(record)
        try:
            pid = self._processes.start(spec, self.runs_dir / spec.run_name)
        except OSError as exc:
            self._fail(record, "LaunchFailed", str(exc))
            raise LaunchFailed(f"cannot start the local run: {exc}") from None
        self.private.update(spec.run_id, pid=pid, pid_start=process_start_time(pid))
        self.table.put(record)  # a run that did not wait is heard of first as queued
        running = attrs.evolve(record, state=RUNNING)
        self._persist(running)
        self.table.put(running)

    def _fail(self, record: RunRecord, reason: str, message: str) -> None:
        now = int(time.time() * 1000)
        failed = attrs.evolve(record, state=FAILED, reason=reason, message=message, end_date=now)
        self._persist(failed)
        self.table.put(failed)

    def refuse(self, spec: LaunchSpec, *, reason: str, message: str) -> None:
        # Never launched, so nothing goes to STATE_DIR: after a restart the run is unknown, and
        # a re-sent request is held to the policy again.
        now = int(time.time() * 1000)
        record = RunRecord(
            run_id=spec.run_id,
            run_name=spec.run_name,
            pipeline_fqn=spec.pipeline_fqn,
            pipeline_type=spec.pipeline_type,
            kind=spec.kind,
            state=FAILED,
            reason=reason,
            message=message,
            start_date=now,
            end_date=now,
        )
        with self._lock:
            if self.table.get(spec.run_id) is None:
                self.table.put(record)

    def kill(self, run_id: str) -> None:
        record = self.table.get(run_id)
        if record is None:
            raise NotFound(f"run {run_id!r} is not known to this runner")
        if record.final:
            return
        with self._lock:
            record = self.table.get(run_id) or record
            if record.waiting:
                self._queue.drop(record)
                self._end(record, STOPPED, "Killed", "stopped by a kill request before it started")
                return
            private = self.private.update(run_id, kill_requested=True)
            self._persist(record)
        self._processes.stop(run_id, private)
        self._finish(run_id)

    def set_leading(self, leading: Callable[[], bool]) -> None:
        self._queue.leading = leading

    def promote(self) -> None:
        self._due = True
        self._wake.set()

    def health(self) -> dict[str, str]:
        # Answered from a probe at most every HEALTH_TTL seconds: `status` asks on every call.
        now = time.monotonic()
        if now - self._health_at > HEALTH_TTL:
            self._health = probe_state_dir(self.runs_dir)
            self._health_at = now
        return dict(self._health)

    async def start(self) -> None:
        # Fail fast: with an unwritable STATE_DIR every run would fail while /readyz said ready.
        state = (await asyncio.to_thread(probe_state_dir, self.runs_dir))["stateDir"]
        if state != "ok":
            raise StartupError(
                f"STATE_DIR: {self.runs_dir.parent} is {state}; the local executor keeps its "
                "runs there"
            )
        await asyncio.to_thread(self._readopt)
        self._monitor = threading.Thread(target=self._watch, name="local-monitor", daemon=True)
        self._monitor.start()
        self._ready = True

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._monitor is not None:
            await asyncio.to_thread(self._monitor.join, 5)

    # ------------------------------------------------------------------ internals

    def _persist(self, record: RunRecord) -> None:
        self.private.save(record)

    def _readopt(self) -> None:
        if not self.runs_dir.is_dir():
            return
        adopted = 0
        for path in sorted(self.runs_dir.glob("*/record.json")):
            loaded = load_record(path)
            if loaded is None:
                continue
            record, private = loaded
            if not record.waiting and not record.final and not private.pid:
                private = recover_pid(self.runs_dir, record, private)
            self.private.put(record.run_id, private)
            self.table.load(record)
            if record.waiting:  # the queue: started by the monitor, in order
                continue
            if not record.final:
                adopted += 1
                if not self._processes.running(record.run_id, private):
                    self._finish(record.run_id)
        log.info(
            "local executor: %d runs on record, %d were active, %d waiting",
            len(self.table),
            adopted,
            self.table.queued_count,
        )

    def _finish(self, run_id: str) -> None:
        """Record the final state of a run whose process is gone."""
        with self._lock:
            record = self.table.get(run_id)
            if record is None or record.final:
                return
            returncode = self._processes.returncode(run_id)
            code, end = read_exit(self.runs_dir / record.run_name)
            if code is None:
                code = returncode
            message = self._deadline.message if self._deadline else ""
            private = self.private.update(run_id, exit_code=code)
            self._end(record, *final_state(private, code, message), end)

    def _end(
        self,
        record: RunRecord,
        state: str,
        reason: str | None,
        message: str | None,
        end: int | None = None,
    ) -> None:
        final = attrs.evolve(
            record,
            state=state,
            reason=reason,
            message=message,
            end_date=end or int(time.time() * 1000),
        )
        self._persist(final)
        self.table.put(final)
        self._due = True  # a slot freed

    def _watch(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            for record in self.table.all():
                if record.final or record.waiting or self._stopping.is_set():
                    continue
                if not self._processes.running(record.run_id, self.private.get(record.run_id)):
                    self._finish(record.run_id)
                else:
                    self._hold_to_deadline(record)
            if self._due and not self._stopping.is_set():
                self._due = False
                self._promote()

    def _hold_to_deadline(self, record: RunRecord) -> None:
        """SIGTERM a run past RUN_TIMEOUT_SECONDS; SIGKILL it once KILL_GRACE_SECONDS more
        have passed (the monitor comes back every POLL_SECONDS: it never blocks here)."""
        if self._deadline is None or record.start_date is None:
            return
        now = int(time.time() * 1000)
        private = self.private.get(record.run_id)
        since = private.deadline_at
        if since is None and now - record.start_date >= self._deadline.seconds * 1000:
            log.warning("run %s %s; stopping it", record.run_id, self._deadline.message)
            with self._lock:
                private = self.private.update(record.run_id, deadline_at=now)
                self._persist(record)
            self._processes.signal(private, signal.SIGTERM)
        elif since is not None and now - since >= self.settings.kill_grace * 1000:
            self._processes.signal(private, signal.SIGKILL)

    def logs(self, run_id: str, after: int = 0) -> LogChunk:
        """The run's output (stdout and stderr, ``output.log``) from byte ``after``."""
        record = self.table.get(run_id)
        if record is None:
            raise NotFound(f"run {run_id!r} is not known to this runner")
        final = record.final  # before reading: a final run's output is complete
        path = self.runs_dir / record.run_name / "output.log"
        start = max(0, after)
        try:
            with path.open("rb") as handle:
                total = os.fstat(handle.fileno()).st_size
                handle.seek(start)
                window = handle.read(self.log_chunk_bytes)
        except FileNotFoundError:
            window, total = b"", 0
        except OSError as exc:
            raise ExecutorUnavailable(f"cannot read the output of run {run_id!r}: {exc}") from None
        return log_chunk(window, start=start, total=total, final=final, limit=self.log_chunk_bytes)

    # ------------------------------------------------------------------ schedules

    def _unsupported(self) -> Unsupported:
        return Unsupported(
            "the local executor cannot schedule pipelines: use EXECUTOR_TYPE=argo "
            "(CronWorkflow) or EXECUTOR_TYPE=simpleK8s (CronJob)"
        )

    def render_schedule(self, spec: ScheduleSpec) -> list[dict[str, Any]]:
        raise self._unsupported()

    def deploy_schedule(self, spec: ScheduleSpec) -> ScheduleRef:
        raise self._unsupported()

    def toggle_schedule(
        self, pipeline_fqn: str, enabled: bool, *, dry_run: bool = False
    ) -> ScheduleRef:
        raise self._unsupported()

    def delete_pipeline(self, pipeline_fqn: str, *, dry_run: bool = False) -> PipelineDeletion:
        raise self._unsupported()
