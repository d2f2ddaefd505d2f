"""The control plane's processes: spawning one with its log file, signalling, stopping.

Each component runs in its own session (process group) with one log file, is tied to the test
process on Linux (it dies with it), and is stopped by signalling its whole group.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGKILL if the test process dies without stopping it."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _on_linux_main_thread() -> bool:
    return sys.platform == "linux" and threading.current_thread() is threading.main_thread()


@dataclass
class Component:
    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ready_after: float | None = None
    stop_signal: signal.Signals = signal.SIGTERM

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class StartupTimings:
    phases: dict[str, float] = field(default_factory=dict)
    total: float = 0.0

    def __str__(self) -> str:
        parts = ", ".join(f"{k} {v:.1f}s" for k, v in self.phases.items())
        return f"{self.total:.1f}s ({parts})"


def spawn(
    name: str,
    argv: list[str],
    *,
    into: dict[str, Component],
    logs_dir: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
) -> Component:
    """Starts ``argv`` in a new session, its output appended to ``<logs_dir>/<name>.log``
    (after the command line), registered in ``into`` before it starts. ``KUBECONFIG*``
    variables of the test process are not passed."""
    log_path = logs_dir / f"{name}.log"
    component = Component(name, argv, log_path, stop_signal=stop_signal)
    into[name] = component
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KUBECONFIG")}
    full_env.update(env or {})
    with log_path.open("ab") as log:
        log.write(f"$ {' '.join(argv)}\n".encode())
        log.flush()
        component.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=full_env,
            start_new_session=True,
            # PR_SET_PDEATHSIG follows the thread that forks: only tie the children to the
            # main thread, which lives as long as the process.
            preexec_fn=_die_with_parent if _on_linux_main_thread() else None,
        )
    component.started_at = time.monotonic()
    return component


def signal_group(component: Component, sig: signal.Signals) -> None:
    process = component.process
    if process is not None and process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)


def stop(component: Component, *, kill: bool, timeout: float) -> None:
    """Its stop signal (or SIGKILL with ``kill``), then SIGKILL after ``timeout``."""
    signal_group(component, signal.SIGKILL if kill else component.stop_signal)
    if component.process is not None:
        try:
            component.process.wait(timeout)
        except subprocess.TimeoutExpired:
            signal_group(component, signal.SIGKILL)
            component.process.wait(5)


def terminate_all(components: Sequence[Component], timeout: float = 5.0) -> None:
    """Signals them all at once, then SIGKILLs whatever has not exited ``timeout`` later."""
    for component in components:
        signal_group(component, component.stop_signal)
    deadline = time.monotonic() + timeout
    for component in components:
        if component.process is None:
            continue
        try:
            component.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            signal_group(component, signal.SIGKILL)
            component.process.wait(5)
