"""The Kubernetes executors' queue of runs waiting for a slot: suspended Workflows and Jobs.

Every workload is created suspended (``KubeExecutor.launch``); a launch resumes it only when a
slot is free under MAX_ACTIVE_RUNS / MAX_ACTIVE_RUNS_PER_TYPE, and otherwise leaves it waiting
in the cluster, where a restarted runner (or the standby replica taking over) finds it. With a
cap, schedules create their runs suspended too, so they wait in the same queue. Arrival order is
the ``hybrid-runner.io/queued-at`` annotation of launched runs (epoch microseconds), else the
workload's creation time (``k8s_runs.arrival_of``), ties by name.

Here is what the queue is, as pure functions of the tracked runs: which run ``waits``, and which
waiting runs may be resumed now (``pick_resumes``, through ``admission.admit``). When to look
(a run became final or went away, one arrived, start-up, housekeeping) and the resuming itself
are ``k8s_tracking``'s.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

import attrs

from runtime.executors.admission import Candidate, Limits, admit
from runtime.executors.kube.runs import ObjectState, RunMeta, TrackedRun


def waits(run: TrackedRun) -> bool:
    """Suspended, and neither being launched, resumed nor killed: a run waiting for a slot."""
    obj = run.obj
    return (
        obj is not None
        and obj.suspended
        and not (run.resumed or run.holding or run.killing)
        and run.deleted_at is None
    )


@attrs.frozen
class Resume:
    """Resume the workload ``name`` of ``run_id``; ``deadline``: Argo's, the wait included."""

    run_id: str
    name: str
    deadline: int | None = None

    @classmethod
    def of(cls, run_id: str, meta: RunMeta, obj: ObjectState, now_ms: int) -> Resume:
        deadline, since = meta.deadline, obj.deadline_from
        if deadline is None or since is None:
            return cls(run_id, meta.run_name)
        waited = max(0, -(-(now_ms - since) // 1000))  # whole seconds, rounded up
        return cls(run_id, meta.run_name, deadline.seconds + waited)


def pick_resumes(
    runs: Iterable[TrackedRun], final: Callable[[str], bool], limits: Limits, now_ms: int
) -> list[Resume]:
    """The waiting runs that may start now, in arrival order, given the runs that hold a slot:
    not final, resumed (or never suspended), their workload not gone."""
    active: Counter[str] = Counter()
    waiting: dict[str, tuple[RunMeta, ObjectState]] = {}
    for run in runs:
        meta, obj = run.meta, run.obj
        if meta is None or obj is None or run.deleted_at is not None or final(run.run_id):
            continue
        if waits(run):
            waiting[run.run_id] = (meta, obj)
        elif not obj.suspended or run.resumed:
            active[meta.pipeline_type] += 1
    candidates = [
        Candidate(run_id, meta.pipeline_type, meta.arrival) for run_id, (meta, _) in waiting.items()
    ]
    return [
        Resume.of(run_id, *waiting[run_id], now_ms) for run_id in admit(limits, active, candidates)
    ]


class WaitingRuns:
    """The executor's queue policy: the caps, whether this replica leads (is connected to the
    server: only it starts anything), whether it is time to look again, and the one thread
    that resumes workloads, one after the other, so they start in the order they were picked.
    """

    def __init__(self, limits: Limits, name: str) -> None:
        self.limits = limits
        self.leading: Callable[[], bool] = lambda: True
        self._due = True
        self._lock = threading.Lock()
        self._resumer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-resume")

    def due(self) -> None:
        """Something changed (a run became final or went away, one arrived): look again."""
        self._due = True

    def pick(
        self,
        runs: Iterable[TrackedRun],
        final: Callable[[str], bool],
        now_ms: int,
        *,
        force: bool = False,
    ) -> list[Resume]:
        """What to resume now (the caller holds the executor's lock and marks them resumed);
        nothing unless due (or ``force``) and leading."""
        with self._lock:
            if not (self._due or force) or not self.leading():
                return []
            self._due = False
        return pick_resumes(runs, final, self.limits, now_ms)

    def submit(
        self, resumes: list[Resume], resume: Callable[[Resume], None]
    ) -> dict[str, Future[None]]:
        """Resume each in turn on the resumer thread; the futures by run id."""
        futures: dict[str, Future[None]] = {}
        for each in resumes:
            try:
                futures[each.run_id] = self._resumer.submit(resume, each)
            except RuntimeError:  # shut down: the next runner resumes it
                break
        return futures

    def wait_idle(self, timeout: float) -> bool:
        """Wait for the resumes submitted so far; True if done."""
        try:
            marker = self._resumer.submit(lambda: None)
        except RuntimeError:
            return True
        try:
            marker.result(timeout)
        except TimeoutError:
            return False
        return True

    def stop(self) -> None:
        self._resumer.shutdown(wait=False, cancel_futures=True)
