"""Error types that become protocol error replies.

Handlers and executors raise these; only the dispatcher turns them into ``reply`` frames, so the
mapping from failure to wire error code lives in one place (see docs/protocol.md, "Error codes").
"""

from __future__ import annotations


class RunnerError(Exception):
    """A failure with a stable wire error code.

    ``retryable`` tells the server whether sending the same request again may succeed.
    """

    code = "internal_error"
    retryable = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable


class InvalidMessage(RunnerError):
    code = "invalid_message"


class UnknownMessageType(RunnerError):
    code = "unknown_message_type"


class NotFound(RunnerError):
    code = "not_found"


class Conflict(RunnerError):
    """An object with the run's name exists but does not belong to that run."""

    code = "conflict"


class ExecutorUnavailable(RunnerError):
    """The executor's backend (API server, local state dir, ...) cannot be reached right now."""

    code = "executor_unavailable"
    retryable = True


class Forbidden(RunnerError):
    """The backend refused the call: an RBAC or IAM permission is missing."""

    code = "forbidden"


class Refused(Forbidden):
    """The operator's policy refuses what the request asks for (an image, a secret reference).

    ``rule`` names the rule (``image``, ``secret_reference``) for the audit line and the
    ``hybrid_runner_refused_total`` counter; ``reason`` is the failed run's reason
    (``ImageNotAllowed``, ``SecretNotAllowed``); ``asked`` is what was asked, as written.
    """

    def __init__(self, message: str, *, rule: str, reason: str, asked: list[str]) -> None:
        super().__init__(message)
        self.rule = rule
        self.reason = reason
        self.asked = asked


class LaunchFailed(RunnerError):
    code = "launch_failed"


class Unsupported(RunnerError):
    """The configured executor cannot do this at all (schedules under ``EXECUTOR_TYPE=local``)."""

    code = "unsupported"


class Timeout(RunnerError):
    code = "timeout"
    retryable = True


class ShuttingDown(RunnerError):
    code = "shutting_down"
    retryable = True


class SecretNotFound(RunnerError):
    code = "secret_not_found"


class SecretForbidden(RunnerError):
    code = "secret_forbidden"


class SecretStoreUnavailable(RunnerError):
    code = "secret_store_unavailable"
    retryable = True


class InvalidSecretReference(RunnerError):
    code = "invalid_secret_reference"


class ConfigError(Exception):
    """A configuration value is missing or malformed; start-up stops with this message."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class StartupError(Exception):
    """The runner cannot start (a port in use, an unwritable STATE_DIR): one line, exit 2."""
