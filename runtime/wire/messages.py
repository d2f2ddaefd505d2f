"""Every frame of protocol v1 as an attrs class (docs/protocol.md is the authority).

Python names are snake_case; the codec renames them to the camelCase wire names. ``TYPE`` is the
wire tag. Requests (server -> runner) subclass ``Request`` and are listed in ``REQUEST_TYPES``;
adding a message type starts here.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

PROTOCOL_VERSION = 1

# A run's states: OpenMetadata's ``pipelineState`` values. A run in a final state never
# changes again; this is the one definition the executors, the run table and the wire share.
QUEUED = "queued"
RUNNING = "running"
SUCCESS = "success"
FAILED = "failed"
PARTIAL_SUCCESS = "partialSuccess"
STOPPED = "stopped"
FINAL_STATES = frozenset({SUCCESS, FAILED, PARTIAL_SUCCESS, STOPPED})
RUN_STATES = (QUEUED, RUNNING, SUCCESS, FAILED, PARTIAL_SUCCESS, STOPPED)


def _non_empty(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, str) and not value.strip():
        # Reported by the codec as "$: <message>", so name the field by its wire name here.
        wire = attribute.name.split("_")
        raise ValueError(f"{wire[0] + ''.join(w.title() for w in wire[1:])} must not be empty")


# ---------------------------------------------------------------------------------------------
# Requests: server -> runner. Each has exactly one reply.


@attrs.frozen(kw_only=True)
class Request:
    """Base of every request; ``id`` correlates the reply and deduplicates re-sends."""

    TYPE: ClassVar[str] = ""
    id: str = attrs.field(validator=_non_empty)


@attrs.frozen(kw_only=True)
class RunPipeline(Request):
    """Launch one run of an ingestion pipeline; idempotent on ``run_id``."""

    TYPE: ClassVar[str] = "run_pipeline"
    run_id: str = attrs.field(validator=_non_empty)
    pipeline_type: str = attrs.field(validator=_non_empty)
    pipeline_fqn: str = attrs.field(validator=_non_empty)
    config: dict[str, Any]
    image: str | None = None


@attrs.frozen(kw_only=True)
class CheckConnection(Request):
    """Run a test-connection automation (wire tag ``test_connection``).

    Named CheckConnection on the Python side so that pytest does not collect it as a test.
    """

    TYPE: ClassVar[str] = "test_connection"
    run_id: str = attrs.field(validator=_non_empty)
    workflow: dict[str, Any]
    image: str | None = None


@attrs.frozen(kw_only=True)
class Kill(Request):
    """Stop one run (``run_id``) or every active run of a pipeline (``pipeline_fqn``)."""

    TYPE: ClassVar[str] = "kill"
    run_id: str | None = None
    pipeline_fqn: str | None = None


@attrs.frozen(kw_only=True)
class Status(Request):
    """Run states by ``run_id`` or ``pipeline_fqn``; with neither, the runner's own status."""

    TYPE: ClassVar[str] = "status"
    run_id: str | None = None
    pipeline_fqn: str | None = None


@attrs.frozen(kw_only=True)
class Logs(Request):
    """One chunk of a run's log, from byte offset ``after`` (a decimal string; default "0")."""

    TYPE: ClassVar[str] = "logs"
    run_id: str = attrs.field(validator=_non_empty)
    after: str | None = None


@attrs.frozen(kw_only=True)
class DeployPipeline(Request):
    """Create or update a pipeline's schedule (CronWorkflow / CronJob); idempotent on the FQN."""

    TYPE: ClassVar[str] = "deploy_pipeline"
    pipeline_fqn: str = attrs.field(validator=_non_empty)
    pipeline_type: str = attrs.field(validator=_non_empty)
    schedule: str
    config: dict[str, Any]
    timezone: str | None = None
    enabled: bool = True
    image: str | None = None


@attrs.frozen(kw_only=True)
class TogglePipeline(Request):
    """Suspend (``enabled: false``) or resume a deployed pipeline's schedule."""

    TYPE: ClassVar[str] = "toggle_pipeline"
    pipeline_fqn: str = attrs.field(validator=_non_empty)
    enabled: bool


@attrs.frozen(kw_only=True)
class DeletePipeline(Request):
    """Remove a pipeline's schedule and its finished runs' objects; active runs stay."""

    TYPE: ClassVar[str] = "delete_pipeline"
    pipeline_fqn: str = attrs.field(validator=_non_empty)


REQUEST_TYPES: tuple[type[Request], ...] = (
    RunPipeline,
    CheckConnection,
    Kill,
    Status,
    Logs,
    DeployPipeline,
    TogglePipeline,
    DeletePipeline,
)


# ---------------------------------------------------------------------------------------------
# Handshake.


@attrs.frozen(kw_only=True)
class Hello:
    """First frame the runner sends after the upgrade."""

    TYPE: ClassVar[str] = "hello"
    protocol: int
    agent_id: str
    version: str
    executor: str
    capabilities: list[str]


@attrs.frozen(kw_only=True)
class Welcome:
    """The server's answer to ``hello``."""

    TYPE: ClassVar[str] = "welcome"
    protocol: int
    server_version: str = ""
    heartbeat_seconds: float | None = None


# ---------------------------------------------------------------------------------------------
# Replies and their results.


@attrs.frozen(kw_only=True)
class ErrorInfo:
    code: str
    message: str
    retryable: bool = False


@attrs.frozen(kw_only=True)
class Reply:
    """The one answer to a request id. ``id`` is null only for a frame with no readable id."""

    TYPE: ClassVar[str] = "reply"
    id: str | None
    ok: bool
    result: Any = None
    error: ErrorInfo | None = None


@attrs.frozen(kw_only=True, slots=False)
class RunIdentity:
    """Which run: its id, its workload's name and its pipeline. Declared once, for the wire's
    ``RunView`` and for an executor's own note of a run (``kube.runs.RunMeta``)."""

    run_id: str
    run_name: str
    pipeline_fqn: str
    pipeline_type: str


@attrs.frozen(kw_only=True, slots=False)
class RunStatus:
    """Where a run is: its state and why, and when it started and ended. Declared once, for
    the wire's ``RunView`` and for what a workload says (``kube.runs.ObjectState``)."""

    state: str
    reason: str | None = None
    message: str | None = None
    start_date: int | None = None
    end_date: int | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


@attrs.frozen(kw_only=True)
class RunView(RunStatus, RunIdentity):
    """A run as the server sees it, the one shape of a run on the wire: ``status`` replies
    list it, and the ``run_update`` event (``RunUpdate``) is it with a tag. States are
    OpenMetadata's ``pipelineState`` values (``RUN_STATES``). Its fields are its identity's,
    then its status's (attrs takes the bases' fields in reverse MRO order), so the encoding
    lists them as it always has."""


@attrs.frozen(kw_only=True)
class LaunchResult:
    run_id: str
    run_name: str
    state: str


@attrs.frozen(kw_only=True)
class RunsResult:
    runs: list[RunView]


@attrs.frozen(kw_only=True)
class LogsResult:
    """A chunk of a run's log. ``after`` is absent once the end is reached and the run is
    final; ``total`` is the log's size in bytes as known now."""

    run_id: str
    content: str
    total: int
    after: str | None = None


@attrs.frozen(kw_only=True)
class ScheduleResult:
    """``deploy_pipeline`` and ``toggle_pipeline``: the schedule object and its state."""

    pipeline_fqn: str
    schedule_name: str
    enabled: bool


@attrs.frozen(kw_only=True)
class DeleteResult:
    """``delete_pipeline``: objects removed (schedule, finished runs) and active runs kept."""

    pipeline_fqn: str
    deleted: list[str]
    kept: list[str]


@attrs.frozen(kw_only=True)
class AgentStatus:
    """``status`` with no selector: the runner itself."""

    agent_id: str
    version: str
    executor: str
    connected: bool
    server_version: str
    active_runs: int
    #: Runs accepted and waiting for a slot (MAX_ACTIVE_RUNS); ``activeRuns`` excludes them.
    queued_runs: int
    tracked_runs: int
    uptime_seconds: float
    reachability: dict[str, str]
    capabilities: list[str]


# ---------------------------------------------------------------------------------------------
# Events: runner -> server, unsolicited.


@attrs.frozen(kw_only=True)
class Heartbeat:
    TYPE: ClassVar[str] = "heartbeat"
    agent_id: str
    active_runs: int
    uptime_seconds: float


@attrs.frozen(kw_only=True)
class RunUpdate(RunView):
    """Sent on every run state change the runner observes: a ``RunView`` as an event."""

    TYPE: ClassVar[str] = "run_update"


RUNNER_FRAME_TYPES: tuple[type, ...] = (Hello, Reply, Heartbeat, RunUpdate)
