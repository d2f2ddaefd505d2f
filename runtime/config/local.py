"""The ``local`` executor: subprocesses next to the runner."""

from __future__ import annotations

import attrs

from runtime.config.env_parsers import command, positive_float, text
from runtime.config.fields import setting


@attrs.frozen(kw_only=True, slots=False)
class LocalExecutorSettings:
    """The ``local`` executor."""

    local_pipeline_command: tuple[str, ...] = setting(
        "LOCAL_PIPELINE_COMMAND",
        command,
        ("python", "main.py"),
        "`local` executor: command line run for pipelines (split shell-style).",
        default_doc="`python main.py`",
    )
    local_automation_command: tuple[str, ...] = setting(
        "LOCAL_AUTOMATION_COMMAND",
        command,
        ("python", "run_automation.py"),
        "`local` executor: command line run for test connection.",
        default_doc="`python run_automation.py`",
    )
    state_dir: str = setting(
        "STATE_DIR",
        text,
        "./.runner-state",
        "`local` executor: run records and logs; survives restarts.",
    )
    kill_grace: float = setting(
        "KILL_GRACE_SECONDS",
        positive_float,
        10.0,
        "`local` executor: SIGTERM to SIGKILL grace on kill.",
    )
