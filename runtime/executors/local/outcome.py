"""How a ``local`` run ended, from what its supervisor recorded and what the runner asked for.

The supervisor writes the process's exit status to ``exit.json`` (``local_supervisor``); the
runner marks in the run's ``LocalRun`` what it did to it (``kill_requested``: a kill,
``deadline_at``: the run outlived RUN_TIMEOUT_SECONDS and was stopped). ``final_state`` turns
both into the run's final state, reason and message, so a runner restarted while the run went
on reaches the same verdict as the one that watched it end.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from runtime.executors.deadlines import DEADLINE_EXCEEDED
from runtime.executors.local.state import LocalRun
from runtime.wire.messages import FAILED, STOPPED, SUCCESS


def read_exit(run_dir: Path) -> tuple[int | None, int | None]:
    """(exit code, end date in epoch ms) from ``exit.json``; Nones when it is not there."""
    try:
        data: dict[str, Any] = json.loads((run_dir / "exit.json").read_text())
        return int(data["exitCode"]), int(data["endDate"]) if "endDate" in data else None
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


def final_state(
    private: LocalRun, code: int | None, deadline_message: str
) -> tuple[str, str | None, str | None]:
    """(state, reason, message) of a run whose process is gone with exit ``code``."""
    if private.kill_requested:
        return STOPPED, "Killed", "stopped by a kill request"
    if private.deadline_at is not None:
        return FAILED, DEADLINE_EXCEEDED, deadline_message
    if code == 0:
        return SUCCESS, None, None
    if code is None and private.launch_interrupted:
        return (
            FAILED,
            "LaunchInterrupted",
            "the runner stopped while starting this run; it never started",
        )
    if code is None:
        return (
            FAILED,
            "ProcessLost",
            "the process ended while the runner was not watching; exit status unknown",
        )
    if code < 0 or code > 128:
        signum = -code if code < 0 else code - 128
        known = signum in (s.value for s in signal.Signals)
        message = f"terminated by signal {signal.Signals(signum).name}" if known else None
        return FAILED, "Signaled", message or f"exit code {code}"
    return FAILED, "NonZeroExit", f"exited with code {code}"
