"""The runtime's public surface: everything a handler may use, and nothing else.

Handlers import from here only (``from runtime.api import Context, NotFound, ...``); the
import-linter contracts in ``pyproject.toml`` make that a rule (``uv run lint-imports``). The
names are defined where they belong and re-exported unchanged, so ``runtime.api.Context``
is ``runtime.serving.context.Context``. Adding a name here is a decision about the surface: a
handler that needs something the runtime does not export yet gets it added here, not imported
from the module behind it.
"""

from __future__ import annotations

from runtime.executors.base import (
    FAILED,
    FINAL_STATES,
    PARTIAL_SUCCESS,
    QUEUED,
    RUNNING,
    STOPPED,
    SUCCESS,
    LaunchSpec,
    LogChunk,
    PipelineDeletion,
    RunKind,
    ScheduleRef,
    ScheduleSpec,
)
from runtime.executors.cron import check_cron, check_timezone
from runtime.executors.images import ImagePolicy, resolve_image
from runtime.executors.naming import run_name
from runtime.executors.run_config import with_version_validation
from runtime.serving.context import Context, RunnerState
from runtime.serving.router import Handler
from runtime.wire.errors import (
    Conflict,
    ExecutorUnavailable,
    Forbidden,
    InvalidMessage,
    InvalidSecretReference,
    LaunchFailed,
    NotFound,
    Refused,
    RunnerError,
    SecretForbidden,
    SecretNotFound,
    SecretStoreUnavailable,
    Timeout,
    Unsupported,
)
from runtime.wire.messages import (
    AgentStatus,
    CheckConnection,
    DeletePipeline,
    DeleteResult,
    DeployPipeline,
    Kill,
    LaunchResult,
    Logs,
    LogsResult,
    Request,
    RunPipeline,
    RunsResult,
    RunView,
    ScheduleResult,
    Status,
    TogglePipeline,
)

# Every name imported above; the imports say where each is defined.
__all__ = [
    "FAILED",
    "FINAL_STATES",
    "PARTIAL_SUCCESS",
    "QUEUED",
    "RUNNING",
    "STOPPED",
    "SUCCESS",
    "AgentStatus",
    "CheckConnection",
    "Conflict",
    "Context",
    "DeletePipeline",
    "DeleteResult",
    "DeployPipeline",
    "ExecutorUnavailable",
    "Forbidden",
    "Handler",
    "ImagePolicy",
    "InvalidMessage",
    "InvalidSecretReference",
    "Kill",
    "LaunchFailed",
    "LaunchResult",
    "LaunchSpec",
    "LogChunk",
    "Logs",
    "LogsResult",
    "NotFound",
    "PipelineDeletion",
    "Refused",
    "Request",
    "RunKind",
    "RunPipeline",
    "RunView",
    "RunnerError",
    "RunnerState",
    "RunsResult",
    "ScheduleRef",
    "ScheduleResult",
    "ScheduleSpec",
    "SecretForbidden",
    "SecretNotFound",
    "SecretStoreUnavailable",
    "Status",
    "Timeout",
    "TogglePipeline",
    "Unsupported",
    "check_cron",
    "check_timezone",
    "resolve_image",
    "run_name",
    "with_version_validation",
]
