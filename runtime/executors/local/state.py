"""What lets a restarted ``local`` executor know its runs: each run's record as JSON under
``STATE_DIR/runs/<runName>/record.json`` with what only this executor keeps about it
(``LocalRun``, under ``extra``), the identity of a run's process (a pid and the
kernel's start time, which tells a live run from a recycled pid), and for a run waiting for a
slot (MAX_ACTIVE_RUNS) what it needs to start: its launch spec in ``start.json``.

``start.json`` holds the run's config as the server sent it, which carries the ingestion bot's
token, as the process's environment does once it runs: it is written readable by the runner's
user only, and deleted the moment the run starts or is killed. The runner's own settings
(its token, the proxy's credentials) are never written: they are read again at the start."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import attrs

from runtime.executors.base import LaunchSpec
from runtime.executors.local.supervisor import write_json_atomic
from runtime.executors.table import RunRecord

log = logging.getLogger("runtime.executors.local.executor")
#: A waiting run's launch spec.
START_FILE = "start.json"

#: Record field -> its key in record.json.
_KEYS = {
    "run_id": "runId",
    "run_name": "runName",
    "pipeline_fqn": "pipelineFqn",
    "pipeline_type": "pipelineType",
    "kind": "kind",
    "state": "state",
    "reason": "reason",
    "message": "message",
    "start_date": "startDate",
    "end_date": "endDate",
}
_REQUIRED = ("run_id", "run_name", "pipeline_fqn", "pipeline_type", "kind", "state")


@attrs.frozen(kw_only=True)
class LocalRun:
    """What only the local executor keeps about a run (record.json's ``extra``)."""

    #: When it was launched, in epoch microseconds: its place in the queue.
    queued_at: int = 0
    #: Its process (the supervisor's) and the kernel's start time of that pid.
    pid: int = 0
    pid_start: str | None = None
    #: A kill was asked for: it ends stopped.
    kill_requested: bool = False
    #: The runner stopped while starting it, before its pid was known.
    launch_interrupted: bool = False
    exit_code: int | None = None
    #: When (epoch ms) it was stopped for outliving RUN_TIMEOUT_SECONDS.
    deadline_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        """``extra`` in record.json: only what is set."""
        data: dict[str, Any] = {}
        if self.queued_at:
            data["queuedAt"] = self.queued_at
        if self.pid:
            data.update(pid=self.pid, pidStart=self.pid_start)
        if self.kill_requested:
            data["killRequested"] = True
        if self.launch_interrupted:
            data["launchInterrupted"] = True
        if self.exit_code is not None:
            data["exitCode"] = self.exit_code
        if self.deadline_at is not None:
            data["deadlineAt"] = self.deadline_at
        return data

    @classmethod
    def from_json(cls, data: Any) -> LocalRun:
        data = data if isinstance(data, dict) else {}
        return cls(
            queued_at=int(data.get("queuedAt") or 0),
            pid=int(data.get("pid") or 0),
            pid_start=data.get("pidStart"),
            kill_requested=bool(data.get("killRequested")),
            launch_interrupted=bool(data.get("launchInterrupted")),
            exit_code=data.get("exitCode"),
            deadline_at=data.get("deadlineAt"),
        )


class LocalRuns:
    """Every run's ``LocalRun``, in one map under the executor's lock, saved with the run's
    record (``save``)."""

    def __init__(self, runs_dir: Path, lock: threading.RLock) -> None:
        self._runs_dir, self._lock = runs_dir, lock
        self._runs: dict[str, LocalRun] = {}

    def get(self, run_id: str) -> LocalRun:
        """The run's private state (blank when unknown)."""
        with self._lock:
            return self._runs.get(run_id) or LocalRun()

    def put(self, run_id: str, private: LocalRun) -> LocalRun:
        with self._lock:
            self._runs[run_id] = private
            return private

    def update(self, run_id: str, **changes: Any) -> LocalRun:
        with self._lock:
            return self.put(run_id, attrs.evolve(self.get(run_id), **changes))

    def drop(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)

    def save(self, record: RunRecord) -> None:
        save_record(self._runs_dir, record, self.get(record.run_id))


def save_record(runs_dir: Path, record: RunRecord, private: LocalRun) -> None:
    """Write ``record`` and ``private`` (atomically) where a restarted runner finds them."""
    data = {key: getattr(record, field) for field, key in _KEYS.items()}
    data["extra"] = private.to_json()
    try:
        write_json_atomic(runs_dir / record.run_name / "record.json", data)
    except OSError as exc:
        log.error("cannot write the record of run %s: %s", record.run_id, exc.strerror)


def load_record(path: Path) -> tuple[RunRecord, LocalRun] | None:
    """The record in ``path``; None (with a warning) when it cannot be read."""
    try:
        data = json.loads(path.read_text())
        values = {
            field: data[key] if field in _REQUIRED else data.get(key)
            for field, key in _KEYS.items()
        }
        return RunRecord(**values), LocalRun.from_json(data.get("extra"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("skipping unreadable run record %s: %s", path, exc)
        return None


def recover_pid(runs_dir: Path, record: RunRecord, private: LocalRun) -> LocalRun:
    """The supervisor's own pid file, for a runner killed before it recorded the pid."""
    try:
        pid = int(json.loads((runs_dir / record.run_name / "supervisor.json").read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return attrs.evolve(private, launch_interrupted=True)
    return attrs.evolve(private, pid=pid, pid_start=process_start_time(pid))


def _proc_stat(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat (state, ppid, ..., start time at index 19)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    return stat.rsplit(")", 1)[1].split()


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a live run from a recycled pid)."""
    fields = _proc_stat(pid)
    return fields[19] if fields else None


def alive(pid: int, start_time: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_stat(pid)
    if fields is None:
        return True
    if fields[0] in ("Z", "X"):
        # Exited and not yet reaped by its parent: dead for our purposes.
        return False
    return start_time is None or fields[19] == start_time


def save_spec(run_dir: Path, spec: LaunchSpec) -> None:
    """What a waiting run needs to start later (``start.json``, mode 0600)."""
    path = run_dir / START_FILE
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(attrs.asdict(spec), handle)
    os.replace(path.with_suffix(".tmp"), path)


def load_spec(run_dir: Path) -> LaunchSpec | None:
    try:
        return LaunchSpec(**json.loads((run_dir / START_FILE).read_text()))
    except (OSError, ValueError, TypeError) as exc:
        log.error("cannot read the launch spec of waiting run %s: %s", run_dir.name, exc)
        return None


def drop_spec(run_dir: Path) -> None:
    (run_dir / START_FILE).unlink(missing_ok=True)


def probe_state_dir(runs_dir: Path) -> dict[str, str]:
    """The executor's health: whether its runs' directory can be written right now."""
    probe = runs_dir / ".probe"
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return {"stateDir": f"not writable: {exc.strerror}"}
    return {"stateDir": "ok"}
