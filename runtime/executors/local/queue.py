"""The ``local`` executor's queue of runs waiting for a slot (MAX_ACTIVE_RUNS), on disk.

A waiting run is its record in STATE_DIR (``queued``, reason ``MaxActiveRuns``, the time it
arrived, ``LocalRun.queued_at``, in epoch microseconds) and its launch spec beside it
(``local_state.save_spec``): a restarted runner reads both back and starts the runs in the same
order. ``admitted`` says which may start now (``admission.admit``), given the runs that are
active in the run table; only the replica connected to the server starts any (``leading``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import attrs

from runtime.executors.admission import WAITING, Candidate, Limits, admit
from runtime.executors.base import LaunchSpec
from runtime.executors.local.state import drop_spec, load_spec, save_spec
from runtime.executors.table import RunRecord, RunTable


def arrival(record: RunRecord, queued_at: int) -> Candidate:
    """A run's place in the queue: when it was launched (epoch microseconds), then its name."""
    return Candidate(record.run_id, record.pipeline_type, (queued_at, record.run_name))


@attrs.define
class LocalQueue:
    table: RunTable
    runs_dir: Path
    limits: Limits
    #: A run's arrival in epoch microseconds (``LocalRun.queued_at``).
    queued_at: Callable[[str], int]
    leading: Callable[[], bool] = lambda: True

    def admitted(self, newcomer: RunRecord | None = None) -> list[str]:
        """The waiting runs (and ``newcomer``, not in the table yet) that may start now, in
        arrival order."""
        if not self.leading():
            return []
        records = self.table.all()
        active = Counter(r.pipeline_type for r in records if not r.final and not r.waiting)
        waiting = [arrival(r, self.queued_at(r.run_id)) for r in records if r.waiting]
        if newcomer is not None:
            waiting.append(arrival(newcomer, self.queued_at(newcomer.run_id)))
        return admit(self.limits, active, waiting)

    def enqueue(self, spec: LaunchSpec, record: RunRecord) -> RunRecord:
        """Keep ``spec`` for later; the run's record, saying why it waits (``OSError`` when
        STATE_DIR cannot be written)."""
        save_spec(self.runs_dir / spec.run_name, spec)
        message = self.limits.waiting_message(spec.pipeline_type)
        return attrs.evolve(record, reason=WAITING, message=message)

    def take(self, record: RunRecord) -> LaunchSpec | None:
        """The waiting run's spec, out of the queue (None: it cannot be read)."""
        spec = load_spec(self.runs_dir / record.run_name)
        drop_spec(self.runs_dir / record.run_name)
        return spec

    def drop(self, record: RunRecord) -> None:
        drop_spec(self.runs_dir / record.run_name)
