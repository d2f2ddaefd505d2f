"""What every executor is: the Executor protocol, the launch and schedule specs, log chunks.

Handlers see executors only through this module. Each executor keeps a ``RunTable`` (the
in-memory view of its runs, rebuilt from durable state on start) that ``status`` and ``kill``
read without calling the backend. A launch over MAX_ACTIVE_RUNS is accepted and waits in a
durable queue of the executor's (``admission``), which only the replica connected to the server
works through (``set_leading``, ``promote``).

Scheduled pipelines (``deploy_pipeline`` and friends) exist only where the backend has a
scheduler (CronWorkflow, CronJob): an executor without one says so with
``supports_schedules = False`` and answers the schedule methods with ``Unsupported``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol

import attrs

from runtime.executors.table import RunTable

# The run states (defined in runtime.wire.messages), re-exported for handlers and tests.
from runtime.wire.messages import FAILED as FAILED
from runtime.wire.messages import FINAL_STATES as FINAL_STATES
from runtime.wire.messages import PARTIAL_SUCCESS as PARTIAL_SUCCESS
from runtime.wire.messages import QUEUED as QUEUED
from runtime.wire.messages import RUN_STATES as RUN_STATES
from runtime.wire.messages import RUNNING as RUNNING
from runtime.wire.messages import STOPPED as STOPPED
from runtime.wire.messages import SUCCESS as SUCCESS

RunKind = Literal["pipeline", "automation"]

#: The most log bytes one ``logs`` reply carries: far below MAX_FRAME_BYTES even when every
#: byte is a control character that JSON escapes as six.
LOG_CHUNK_BYTES = 64 * 1024


@attrs.frozen(kw_only=True)
class LaunchSpec:
    """Everything an executor needs to start one run, already decided by the handler."""

    run_id: str
    run_name: str
    kind: RunKind
    pipeline_type: str
    pipeline_fqn: str
    # The OpenMetadata workflow config, or for automations the Workflow entity.
    config: dict[str, Any]
    image: str
    # Variables for the ingestion process beyond the pod contract (secrets-manager settings).
    env: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ScheduleSpec:
    """A scheduled pipeline (``deploy_pipeline``): a CronWorkflow or CronJob, not one run.

    Each scheduled execution is a new run, a Workflow or Job the cron controller makes; its run
    id is that object's uid, which its pod also gets as ``pipelineRunId`` (``k8s_pod``), and
    the object's name is its ``runName``.
    """

    pipeline_fqn: str
    pipeline_type: str
    config: dict[str, Any]
    image: str
    #: Five-field cron expression (minute hour day-of-month month day-of-week).
    schedule: str
    #: IANA time zone the schedule is read in.
    timezone: str = "UTC"
    enabled: bool = True
    env: dict[str, str] = attrs.field(factory=dict)
    kind: str = "pipeline"


@attrs.frozen(kw_only=True)
class ScheduleRef:
    """What ``deploy_schedule`` / ``toggle_schedule`` leave behind: the object and its state."""

    name: str
    enabled: bool


@attrs.frozen(kw_only=True)
class PipelineDeletion:
    """What ``delete_pipeline`` removed (schedule and finished runs) and the active runs kept."""

    deleted: list[str]
    kept: list[str]


@attrs.frozen(kw_only=True)
class LogChunk:
    """One chunk of a run's log, in the shape of OpenMetadata's ingestion log API.

    Offsets count bytes of the UTF-8 log. ``after`` is the offset to ask from next; None once the
    end is reached and the run is final (a live run's chunk always has one, to poll from).
    ``total`` is the log's size in bytes as known now.
    """

    content: str
    after: int | None
    total: int


def _complete_prefix(data: bytes) -> bytes:
    """``data`` without a UTF-8 sequence cut off at its end (at most three bytes dropped)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:
            continue  # a continuation byte: look further back for the lead byte
        need = 1 if byte < 0x80 else 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4
        return data[:-back] if need > back and back < len(data) else data
    return data


def log_chunk(
    window: bytes, *, start: int, total: int, final: bool, limit: int = LOG_CHUNK_BYTES
) -> LogChunk:
    """A chunk from ``window``, the log's bytes from offset ``start`` (at most one chunk's worth).

    A chunk that stops before the end of the log never splits a character: the next chunk
    starts at its first byte instead. ``final`` must be read *before* the log itself, so that
    nothing can be written after the bytes this chunk saw. The content is at most ``limit``
    bytes of UTF-8 *after* decoding: each invalid byte becomes U+FFFD (three bytes), so a
    window of bad bytes is cut shorter, and the next chunk starts where this one stopped.
    """
    end = start + len(window)
    if end < total:
        window = _complete_prefix(window)
    content = window.decode("utf-8", "replace")
    if len(content) * 4 > limit and len(content.encode("utf-8")) > limit:
        window = _fitting_prefix(window, limit)
        content = window.decode("utf-8", "replace")
    end = start + len(window)
    if window:
        total = max(total, end)  # the log grew between measuring and reading it
    done = final and end >= total
    return LogChunk(content=content, after=None if done else end, total=total)


def _fitting_prefix(window: bytes, limit: int) -> bytes:
    """The longest prefix of ``window`` (whole characters) whose decoded UTF-8 fits ``limit``.

    Decoding never more than triples a byte count, so a third of ``limit`` always fits; the
    decoded size grows with the prefix, so a binary search over the rest finds the longest."""
    low, high = max(1, limit // 3), len(window)
    while low < high:
        middle = (low + high + 1) // 2
        piece = _complete_prefix(window[:middle])
        if len(piece.decode("utf-8", "replace").encode("utf-8")) <= limit:
            low = middle
        else:
            high = middle - 1
    return _complete_prefix(window[:low])


class Executor(Protocol):
    """Runs ingestion somewhere; every method but start/stop is synchronous and thread-safe."""

    name: str
    table: RunTable
    #: False when the backend has no scheduler: the schedule methods raise ``Unsupported``.
    supports_schedules: bool

    @property
    def ready(self) -> bool:
        """True once earlier runs were re-adopted (``/readyz`` waits for it)."""
        ...

    def launch(self, spec: LaunchSpec) -> None:
        """Start the run, idempotently on ``spec.run_id``; its record lands in ``table``."""
        ...

    def render(self, spec: LaunchSpec) -> list[dict[str, Any]]:
        """What ``launch`` would create, as manifests (``invoke --dry-run``); creates nothing."""
        ...

    def refuse(self, spec: LaunchSpec, *, reason: str, message: str) -> None:
        """Record a run that is never launched (the operator's policy refused it) as failed
        with ``reason``, so listeners (``run_update``) hear of it; a known run is left alone."""
        ...

    def kill(self, run_id: str) -> None:
        """Stop a run known to ``table``; finished runs are left as they are."""
        ...

    def logs(self, run_id: str, after: int = 0) -> LogChunk:
        """The run's log from byte ``after``, at most ``LOG_CHUNK_BYTES`` (``NotFound`` for an
        unknown run)."""
        ...

    def render_schedule(self, spec: ScheduleSpec) -> list[dict[str, Any]]:
        """What ``deploy_schedule`` would create or update, as manifests; creates nothing."""
        ...

    def deploy_schedule(self, spec: ScheduleSpec) -> ScheduleRef:
        """Create the pipeline's schedule, or update it in place (idempotent on the FQN)."""
        ...

    def toggle_schedule(
        self, pipeline_fqn: str, enabled: bool, *, dry_run: bool = False
    ) -> ScheduleRef:
        """Suspend or resume the pipeline's schedule (``NotFound`` when it has none)."""
        ...

    def delete_pipeline(self, pipeline_fqn: str, *, dry_run: bool = False) -> PipelineDeletion:
        """Delete the pipeline's schedule and its finished runs' objects; active runs stay.

        ``NotFound`` when there is neither. With ``dry_run`` only reads, and reports what it
        would delete.
        """
        ...

    def health(self) -> dict[str, str]:
        """Reachability of the backends, e.g. ``{"kubernetes": "ok"}``."""
        ...

    def set_leading(self, leading: Callable[[], bool]) -> None:
        """Whether this replica may start waiting runs: the one connected to the server (two
        replicas of one agent id share the queue). Unset, it always may (the harness)."""
        ...

    def promote(self) -> None:
        """Start the waiting runs that fit under MAX_ACTIVE_RUNS now, in arrival order (when
        leading); returns at once. Executors also do it by themselves whenever a slot frees."""
        ...

    async def start(self) -> None:
        """Re-adopt earlier runs and start watching; sets ``ready``."""
        ...

    async def stop(self) -> None: ...
