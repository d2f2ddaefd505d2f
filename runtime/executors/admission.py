"""Which waiting runs may start now: the caps on active runs, shared by every executor.

MAX_ACTIVE_RUNS caps the runs that are active (started and not final: a pod still pending or
unschedulable holds its slot, as it holds the cluster's attention); MAX_ACTIVE_RUNS_PER_TYPE
caps some pipeline types, alone or within it. A run over a cap is accepted and waits, with
state ``queued`` and reason ``MaxActiveRuns`` (``WAITING``); ``admit`` picks, in arrival order,
those that fit once slots free. A waiting run whose type is at its cap does not hold up runs of
other types behind it (no head-of-line blocking across types); within a type the order holds.

Where runs wait is the executor's: a suspended Workflow or Job in the cluster
(``k8s_tracking``), a record in STATE_DIR (``local``). Both survive the runner, so a restarted
runner finds its queue, in the same order, and only the replica connected to the server starts
anything (``leading``): two replicas of one agent id share one queue.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

import attrs

from runtime.config.capacity import CapacitySettings
from runtime.executors.table import WAITING as TABLE_WAITING

#: The reason of a run that waits for a slot.
WAITING = TABLE_WAITING
#: The annotation of a runner-launched workload: when it arrived, in epoch microseconds.
QUEUED_AT_ANNOTATION = "hybrid-runner.io/queued-at"


@attrs.frozen(kw_only=True)
class Limits:
    """MAX_ACTIVE_RUNS (0: none) and MAX_ACTIVE_RUNS_PER_TYPE."""

    total: int = 0
    per_type: Mapping[str, int] = attrs.field(factory=dict)

    @classmethod
    def from_settings(cls, settings: CapacitySettings) -> Limits:
        return cls(total=settings.max_active_runs, per_type=dict(settings.max_active_runs_per_type))

    @property
    def capped(self) -> bool:
        return bool(self.total or self.per_type)

    def waiting_message(self, pipeline_type: str) -> str:
        """What a waiting run of ``pipeline_type`` says (the same while it waits, so that its
        place in the queue moving on sends no run_update)."""
        caps = [f"MAX_ACTIVE_RUNS={self.total}"] if self.total else []
        if pipeline_type in self.per_type:
            caps.append(f"MAX_ACTIVE_RUNS_PER_TYPE {pipeline_type}={self.per_type[pipeline_type]}")
        if not caps:
            return "waiting to be started by the runner connected to the server"
        return f"waiting for a slot ({', '.join(caps)}); starts in arrival order"


def queues_runs(settings: CapacitySettings) -> bool:
    """Whether runs may have to wait: then scheduled runs are created suspended too."""
    return Limits.from_settings(settings).capped


@attrs.frozen
class Candidate:
    """A waiting run: its id, its type, and its place (arrival, then name: ties are rare)."""

    run_id: str
    pipeline_type: str
    arrival: tuple[int, str]


def admit(limits: Limits, active: Mapping[str, int], waiting: Iterable[Candidate]) -> list[str]:
    """The ids of the ``waiting`` runs that may start now, in arrival order, given the
    ``active`` runs counted by pipeline type."""
    counts = Counter(active)
    total = sum(counts.values())
    started: list[str] = []
    for run in sorted(waiting, key=lambda candidate: candidate.arrival):
        if limits.total and total >= limits.total:
            break
        cap = limits.per_type.get(run.pipeline_type)
        if cap is not None and counts[run.pipeline_type] >= cap:
            continue
        started.append(run.run_id)
        counts[run.pipeline_type] += 1
        total += 1
    return started
