"""The ``local`` executor: each run is a subprocess on the runner's own machine.

It keeps the ingestion pod's contract (same env variables, configurable command), writes every
run's record and output under ``STATE_DIR/runs/<runName>/`` so a restarted runner still answers
``status`` for earlier runs and learns how runs ended while it was down, and kills a run's whole
process group with SIGTERM, then SIGKILL after a grace period. ``logs`` serves a run's
``output.log`` in byte-offset chunks. There is no scheduler here: the schedule methods answer
``Unsupported`` (use ``argo`` or ``simpleK8s`` for scheduled pipelines).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import attrs

from runtime import proxy
from runtime.backends import passed_through_variables
from runtime.errors import ExecutorUnavailable, LaunchFailed, NotFound, StartupError, Unsupported
from runtime.executors.base import (
    LOG_CHUNK_BYTES,
    LaunchSpec,
    LogChunk,
    PipelineDeletion,
    ScheduleRef,
    ScheduleSpec,
    log_chunk,
)
from runtime.executors.local_state import (
    alive,
    load_record,
    process_start_time,
    recover_pid,
    save_record,
)
from runtime.executors.table import RunRecord, RunTable
from runtime.messages import FAILED, QUEUED, RUNNING, STOPPED, SUCCESS
from runtime.settings import VARIABLES, Settings

log = logging.getLogger("runtime.executors.local")

POLL_SECONDS = 0.1
HEALTH_TTL = 5.0
# The runner's own configuration stays out of the ingestion process, above all AUTH_TOKEN;
# the secret stores' few meant for the ingestion's secrets loader are passed on, and the proxy
# variables are given again as the pods get them (runtime.proxy.process_environment).
_RUNNER_ONLY = {name for v in VARIABLES for name in v.names} - passed_through_variables()


class LocalExecutor:
    name = "local"
    supports_schedules = False

    def __init__(self, settings: Settings, *, log_chunk_bytes: int = LOG_CHUNK_BYTES) -> None:
        self.settings = settings
        self.log_chunk_bytes = log_chunk_bytes
        self.table = RunTable()
        self.runs_dir = Path(settings.state_dir).expanduser().resolve() / "runs"
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None
        self._ready = False
        self._health: dict[str, str] = {}
        self._health_at = float("-inf")

    # ------------------------------------------------------------------ protocol

    @property
    def ready(self) -> bool:
        return self._ready

    def render(self, spec: LaunchSpec) -> list[dict[str, Any]]:
        env = self._contract_env(spec, mask=True)
        return [
            {
                "kind": "LocalProcess",
                "runName": spec.run_name,
                "command": list(self._command(spec)),
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
            except OSError as exc:
                raise ExecutorUnavailable(
                    f"STATE_DIR {self.runs_dir.parent} is not writable: {exc.strerror}"
                ) from None
            now = int(time.time() * 1000)
            record = RunRecord(
                run_id=spec.run_id,
                run_name=spec.run_name,
                pipeline_fqn=spec.pipeline_fqn,
                pipeline_type=spec.pipeline_type,
                kind=spec.kind,
                state=QUEUED,
                start_date=now,
            )
            self._persist(record)
            env = {k: v for k, v in os.environ.items() if k not in _RUNNER_ONLY}
            env.update(self._contract_env(spec))
            command = [
                sys.executable,
                "-m",
                "runtime.executors.local_supervisor",
                str(run_dir),
                "--",
                *self._command(spec),
            ]
            try:
                child = subprocess.Popen(
                    command,
                    env=env,
                    cwd=run_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            except OSError as exc:
                failed = attrs.evolve(
                    record, state=FAILED, reason="LaunchFailed", message=str(exc), end_date=now
                )
                self._persist(failed)
                self.table.put(failed)
                raise LaunchFailed(f"cannot start the local run: {exc}") from None
            self._children[spec.run_id] = child
            extra = {"pid": child.pid, "pidStart": process_start_time(child.pid)}
            self.table.put(attrs.evolve(record, extra=extra))
            running = attrs.evolve(record, state=RUNNING, extra=extra)
            self._persist(running)
            self.table.put(running)
        self._wake.set()

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
        pid = int(record.extra.get("pid", 0))
        marked = attrs.evolve(record, extra={**record.extra, "killRequested": True})
        self._persist(marked)
        with self._lock:
            self.table.put(marked)
        if pid:
            self._signal_group(pid, signal.SIGTERM)
            deadline = time.monotonic() + self.settings.kill_grace
            while time.monotonic() < deadline and self._is_running(run_id, marked):
                time.sleep(0.05)
            if self._is_running(run_id, marked):
                log.warning(
                    "run %s ignored SIGTERM for %gs; sending SIGKILL",
                    run_id,
                    self.settings.kill_grace,
                )
                self._signal_group(pid, signal.SIGKILL)
                for _ in range(100):
                    if not self._is_running(run_id, marked):
                        break
                    time.sleep(0.02)
        self._finish(run_id)

    def health(self) -> dict[str, str]:
        # Answered from a probe at most every HEALTH_TTL seconds: `status` asks on every call.
        now = time.monotonic()
        if now - self._health_at > HEALTH_TTL:
            self._health = self._probe_state_dir()
            self._health_at = now
        return dict(self._health)

    def _probe_state_dir(self) -> dict[str, str]:
        probe = self.runs_dir / ".probe"
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            return {"stateDir": f"not writable: {exc.strerror}"}
        return {"stateDir": "ok"}

    async def start(self) -> None:
        # Fail fast: with an unwritable STATE_DIR every run would fail while /readyz said ready.
        state = (await asyncio.to_thread(self._probe_state_dir))["stateDir"]
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

    def _command(self, spec: LaunchSpec) -> tuple[str, ...]:
        if spec.kind == "automation":
            return self.settings.local_automation_command
        return self.settings.local_pipeline_command

    def _contract_env(self, spec: LaunchSpec, *, mask: bool = False) -> dict[str, str]:
        """The pod's env for a subprocess; ``mask`` hides proxy credentials (a dry run)."""
        env = dict(self.settings.ingestion_extra_envs)
        if self.settings.ingestion_proxy:
            env.update(proxy.process_environment(self.settings, mask=mask))
        env.update(spec.env)
        env.update(
            {
                "config": json.dumps(spec.config),
                "pipelineType": spec.pipeline_type,
                "pipelineRunId": spec.run_id,
                "ingestionPipelineFQN": spec.pipeline_fqn,
            }
        )
        return env

    def _persist(self, record: RunRecord) -> None:
        save_record(self.runs_dir, record)

    def _readopt(self) -> None:
        if not self.runs_dir.is_dir():
            return
        adopted = 0
        for path in sorted(self.runs_dir.glob("*/record.json")):
            record = load_record(path)
            if record is None:
                continue
            if not record.final and not record.extra.get("pid"):
                record = recover_pid(self.runs_dir, record)
            self.table.load(record)
            if not record.final:
                adopted += 1
                if not self._is_running(record.run_id, record):
                    self._finish(record.run_id)
        log.info("local executor: %d runs on record, %d were active", len(self.table), adopted)

    def _is_running(self, run_id: str, record: RunRecord) -> bool:
        child = self._children.get(run_id)
        if child is not None:
            return child.poll() is None
        pid = int(record.extra.get("pid", 0))
        return bool(pid) and alive(pid, record.extra.get("pidStart"))

    def _signal_group(self, pid: int, sig: signal.Signals) -> None:
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _finish(self, run_id: str) -> None:
        """Record the final state of a run whose process is gone."""
        with self._lock:
            record = self.table.get(run_id)
            if record is None or record.final:
                return
            child = self._children.pop(run_id, None)
            exit_path = self.runs_dir / record.run_name / "exit.json"
            code: int | None = None
            end = int(time.time() * 1000)
            try:
                exit_data = json.loads(exit_path.read_text())
                code = int(exit_data["exitCode"])
                end = int(exit_data.get("endDate", end))
            except (OSError, ValueError, KeyError, TypeError):
                if child is not None:
                    code = child.returncode
            if record.extra.get("killRequested"):
                state, reason, message = STOPPED, "Killed", "stopped by a kill request"
            elif code == 0:
                state, reason, message = SUCCESS, None, None
            elif code is None and record.extra.get("launchInterrupted"):
                state, reason = FAILED, "LaunchInterrupted"
                message = "the runner stopped while starting this run; it never started"
            elif code is None:
                state, reason = FAILED, "ProcessLost"
                message = "the process ended while the runner was not watching; exit status unknown"
            elif code < 0 or code > 128:
                signum = -code if code < 0 else code - 128
                state, reason = FAILED, "Signaled"
                message = (
                    f"terminated by signal {signal.Signals(signum).name}"
                    if signum in (s.value for s in signal.Signals)
                    else f"exit code {code}"
                )
            else:
                state, reason, message = FAILED, "NonZeroExit", f"exited with code {code}"
            final = attrs.evolve(
                record,
                state=state,
                reason=reason,
                message=message,
                end_date=end,
                extra={**record.extra, "exitCode": code},
            )
            self._persist(final)
            self.table.put(final)

    def _watch(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            for record in self.table.all():
                if record.final or self._stopping.is_set():
                    continue
                if not self._is_running(record.run_id, record):
                    self._finish(record.run_id)

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
