"""What every executor is: the Executor protocol, the launch spec and the run record.

Handlers see executors only through this module. Each executor keeps a ``RunTable`` (the
in-memory view of its runs, rebuilt from durable state on start) that ``status`` and ``kill``
read without calling the backend.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import attrs

from runtime.executors.table import RunTable

QUEUED = "queued"
RUNNING = "running"
SUCCESS = "success"
FAILED = "failed"
PARTIAL_SUCCESS = "partialSuccess"
STOPPED = "stopped"
FINAL_STATES = frozenset({SUCCESS, FAILED, PARTIAL_SUCCESS, STOPPED})
RUN_STATES = (QUEUED, RUNNING, SUCCESS, FAILED, PARTIAL_SUCCESS, STOPPED)

RunKind = Literal["pipeline", "automation"]


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


class Executor(Protocol):
    """Runs ingestion somewhere; every method but start/stop is synchronous and thread-safe."""

    name: str
    table: RunTable

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

    def kill(self, run_id: str) -> None:
        """Stop a run known to ``table``; finished runs are left as they are."""
        ...

    def health(self) -> dict[str, str]:
        """Reachability of the backends, e.g. ``{"kubernetes": "ok"}``."""
        ...

    async def start(self) -> None:
        """Re-adopt earlier runs and start watching; sets ``ready``."""
        ...

    async def stop(self) -> None: ...
