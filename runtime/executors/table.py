"""The in-memory run table that answers ``status`` and ``kill`` without a backend call.

Executors write records here as they observe state changes; listeners (the connection, which
turns them into ``run_update`` events, and metrics) hear about every change of state. Lookups by
run id and by pipeline FQN are dictionary reads, so status stays fast with many tracked runs,
and so are the counts: ``active_count`` (runs started and not final: what MAX_ACTIVE_RUNS caps)
and ``queued_count`` (runs waiting for a slot, reason ``MaxActiveRuns``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import attrs

from runtime.wire.messages import RunIdentity, RunStatus, RunView

Listener = Callable[["RunRecord", "RunRecord | None"], None]
#: The reason of a run waiting for a slot (``admission.WAITING``).
WAITING = "MaxActiveRuns"


@attrs.frozen(kw_only=True)
class RunRecord(RunView):
    """One run as the runner knows it: the ``RunView`` the server sees, plus its kind. Dates
    are epoch milliseconds, as OpenMetadata uses. What only an executor keeps about a run is
    the executor's (``k8s_runs.TrackedRun``, ``local_state.LocalRun``), never here."""

    kind: str

    @classmethod
    def of(cls, identity: RunIdentity, kind: str, status: RunStatus) -> RunRecord:
        """The record of the run ``identity`` names, of ``kind``, in ``status``."""
        return cls(
            run_id=identity.run_id,
            run_name=identity.run_name,
            pipeline_fqn=identity.pipeline_fqn,
            pipeline_type=identity.pipeline_type,
            kind=kind,
            state=status.state,
            reason=status.reason,
            message=status.message,
            start_date=status.start_date,
            end_date=status.end_date,
        )

    @property
    def waiting(self) -> bool:
        """Accepted, and waiting for a slot under MAX_ACTIVE_RUNS: not started yet."""
        return self.reason == WAITING and not self.final

    def view(self) -> RunView:
        """The run as the server sees it (the reply's and the event's shape)."""
        return RunView(**{field.name: getattr(self, field.name) for field in _VIEW_FIELDS})


_VIEW_FIELDS = attrs.fields(RunView)


class RunTable:
    """Thread-safe map of run id -> RunRecord with a pipeline index and change listeners."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._runs: dict[str, RunRecord] = {}
        self._by_pipeline: dict[str, dict[str, None]] = {}
        self._active = 0
        self._waiting = 0
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def get(self, run_id: str) -> RunRecord | None:
        return self._runs.get(run_id)

    def for_pipeline(self, pipeline_fqn: str) -> list[RunRecord]:
        with self._lock:
            ids = list(self._by_pipeline.get(pipeline_fqn, ()))
            return [self._runs[i] for i in ids]

    def all(self) -> list[RunRecord]:
        with self._lock:
            return list(self._runs.values())

    @property
    def active_count(self) -> int:
        """Runs started and not final (a waiting run is not active yet)."""
        return self._active - self._waiting

    @property
    def queued_count(self) -> int:
        """Runs waiting for a slot."""
        return self._waiting

    def _count(self, record: RunRecord | None, sign: int) -> None:
        if record is not None and not record.final:
            self._active += sign
            self._waiting += sign * record.waiting

    def __len__(self) -> int:
        return len(self._runs)

    def put(self, record: RunRecord) -> RunRecord | None:
        """Store ``record``; listeners hear of it when its state, reason or message changed.

        A final record is never replaced by a non-final one: events can arrive out of order
        (a late watch event after a kill), and a finished run does not come back to life.
        """
        with self._lock:
            old = self._runs.get(record.run_id)
            if old is not None and old.final and not record.final:
                return old
            self._runs[record.run_id] = record
            self._by_pipeline.setdefault(record.pipeline_fqn, {})[record.run_id] = None
            self._count(old, -1)
            self._count(record, 1)
            changed = old is None or (old.state, old.reason, old.message) != (
                record.state,
                record.reason,
                record.message,
            )
        if changed:
            for listener in self._listeners:
                listener(record, old)
        return old

    def load(self, record: RunRecord) -> None:
        """Store a record read back from durable state, without telling listeners."""
        with self._lock:
            old = self._runs.get(record.run_id)
            self._runs[record.run_id] = record
            self._by_pipeline.setdefault(record.pipeline_fqn, {})[record.run_id] = None
            self._count(old, -1)
            self._count(record, 1)

    def remove(self, run_id: str) -> None:
        with self._lock:
            old = self._runs.pop(run_id, None)
            if old is None:
                return
            self._by_pipeline.get(old.pipeline_fqn, {}).pop(run_id, None)
            self._count(old, -1)
