"""The ``local`` executor's processes: what a run's process gets (the pod contract as its
environment, the configured command) and how it is started, watched and stopped.

Each run is ``python -m runtime.executors.local.supervisor RUN_DIR -- COMMAND...`` in a session
of its own, so a stop signals its whole process group: SIGTERM, then SIGKILL once the grace
(KILL_GRACE_SECONDS) is over. A run started by an earlier runner is known by its pid and the
kernel's start time of that pid (``local_state.alive``), since it is not this runner's child.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from runtime.config.backends import passed_through_variables
from runtime.egress import proxy
from runtime.executors.base import LaunchSpec
from runtime.executors.local.state import LocalRun, alive
from runtime.settings import VARIABLES, Settings

log = logging.getLogger("runtime.executors.local.executor")

# The runner's own configuration stays out of the ingestion process, above all AUTH_TOKEN;
# the secret stores' few meant for the ingestion's secrets loader are passed on, and the proxy
# variables are given again as the pods get them (runtime.egress.proxy.process_environment).
_RUNNER_ONLY = {name for v in VARIABLES for name in v.names} - passed_through_variables()


def command(settings: Settings, spec: LaunchSpec) -> tuple[str, ...]:
    if spec.kind == "automation":
        return settings.local_automation_command
    return settings.local_pipeline_command


def contract_env(settings: Settings, spec: LaunchSpec, *, mask: bool = False) -> dict[str, str]:
    """The pod's env for a subprocess; ``mask`` hides proxy credentials (a dry run)."""
    env = dict(settings.ingestion_extra_envs)
    if settings.ingestion_proxy:
        env.update(proxy.process_environment(settings, mask=mask))
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


class Processes:
    """The runs' supervisors: this runner's children, and earlier runners' by pid."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, spec: LaunchSpec, run_dir: Path) -> int:
        """Start the run's supervisor; its pid (``OSError`` when it cannot start)."""
        env = {k: v for k, v in os.environ.items() if k not in _RUNNER_ONLY}
        env.update(contract_env(self.settings, spec))
        argv = [sys.executable, "-m", "runtime.executors.local.supervisor", str(run_dir), "--"]
        child = subprocess.Popen(
            [*argv, *command(self.settings, spec)],
            env=env,
            cwd=run_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._children[spec.run_id] = child
        return child.pid

    def running(self, run_id: str, private: LocalRun) -> bool:
        child = self._children.get(run_id)
        if child is not None:
            return child.poll() is None
        return bool(private.pid) and alive(private.pid, private.pid_start)

    def returncode(self, run_id: str) -> int | None:
        """A finished child's exit status (None: not this runner's child); forgets it."""
        child = self._children.pop(run_id, None)
        return child.returncode if child is not None else None

    def signal(self, private: LocalRun, sig: signal.Signals) -> None:
        if not private.pid:
            return
        try:
            os.killpg(private.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, run_id: str, private: LocalRun) -> None:
        """SIGTERM the run's process group; SIGKILL after KILL_GRACE_SECONDS (blocks)."""
        if not private.pid:
            return
        grace = self.settings.kill_grace
        self.signal(private, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self.running(run_id, private):
            time.sleep(0.05)
        if self.running(run_id, private):
            log.warning("run %s ignored SIGTERM for %gs; sending SIGKILL", run_id, grace)
            self.signal(private, signal.SIGKILL)
            for _ in range(100):
                if not self.running(run_id, private):
                    break
                time.sleep(0.02)
