"""The Kubernetes executor's runs: a ``RunTracker`` owns every run's state, under one lock.

``KubeExecutor`` tells it what it did (``holding`` / ``launched`` / ``released`` / ``refused`` /
``killing`` / ``kill_failed`` / ``stopped``) and asks it ``pod_of`` / ``log_tail``; the two
watches (workloads, pods) call ``sync_*`` / ``*_event``. Each updates the run's ``TrackedRun``
and ``_refresh``-es it: the pod's diagnosis and ``k8s_runs.reconcile`` give the new record, put
in the ``RunTable`` (whose listeners send ``run_update``), and the effects (end the workload,
capture a log tail) go to the background pool. ``housekeeping`` lets grace periods run out and
forgets runs long gone, in one place: ``_forget``.

Runs waiting for a slot are suspended workloads (``k8s_queue``). Whenever a run becomes final
or goes away, or a waiting one arrives, the queue is due, and at the end of each watch event,
launch, kill and housekeeping ``promote_now`` resumes, under the lock and in arrival order, what
fits; at start-up it is the same call, after re-adoption: a workload found suspended is simply a
waiting run. Only the replica connected to the server promotes (``set_leading``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from functools import partial
from typing import Any

import attrs

from runtime.executors.admission import Limits
from runtime.executors.base import LaunchSpec
from runtime.executors.kube.background import Background
from runtime.executors.kube.diagnostics import DiagnosisTracker, Grace, PodView
from runtime.executors.kube.queue import Resume, WaitingRuns, waits
from runtime.executors.kube.resources import ResourceApi, Workload
from runtime.executors.kube.runs import (
    KILLED,
    CaptureLog,
    EndWorkload,
    ObjectState,
    RunMeta,
    TrackedRun,
    ended,
    reconcile,
    refused_record,
)
from runtime.executors.kube.tuning import Tuning
from runtime.executors.table import RunTable
from runtime.wire.errors import NotFound, RunnerError
from runtime.wire.messages import FAILED, STOPPED

log = logging.getLogger(__name__)


class RunTracker:
    """The runs of one Kubernetes executor (see the module docstring)."""

    def __init__(
        self,
        *,
        workload: Workload,
        api: ResourceApi,
        limits: Limits,
        grace: Grace,
        tail: Callable[[str], str | None],
        tuning: Tuning,
    ) -> None:
        self.workload, self.api = workload, api
        self.name, self.kind = workload.name, workload.workloads.kind
        self._tail = tail
        self._clock, self._monotonic = tuning.clock, tuning.monotonic
        self._terminate_on_failure = tuning.terminate_on_failure
        self.retain_deleted = tuning.retain_deleted_seconds
        self._vanish_grace = tuning.vanish_grace_seconds
        self.table = RunTable()
        self.lock = threading.RLock()
        #: Everything known about each run (see ``k8s_runs.TrackedRun``).
        self._runs: dict[str, TrackedRun] = {}
        self._diagnoses = DiagnosisTracker(grace, self._monotonic)
        #: True once a pod list succeeded: from then on a run without a pod has none yet.
        self.pods_listed = False
        #: True once a list of workloads succeeded.
        self.ready = False
        self._background = Background(
            f"{self.name}-aux", tuning.housekeeping_seconds, self.housekeeping, self.name
        )
        self._queue = WaitingRuns(limits, self.name)

    def start(self) -> None:
        """After re-adoption: keep house periodically."""
        self._background.start_housekeeping()

    def stop(self) -> None:
        self._background.stop()
        self._queue.stop()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait for background work (log captures, ending failed workloads, resumes); True if
        done."""
        return self._background.wait_idle(timeout) and self._queue.wait_idle(timeout)

    def holding(self, run_id: str) -> None:
        """A launch is under way: not to be resumed before its config Secret exists."""
        self._update(run_id, holding=True)

    def launched(
        self, spec: LaunchSpec, obj: dict[str, Any], state: ObjectState
    ) -> Future[None] | None:
        """The run's workload exists with its config Secret: recorded, and resumed if a slot is
        free (before its first record: a run that starts at once never says it waited)."""
        with self.lock:
            run = self._update(spec.run_id, holding=False)
            if run.obj is None or self.table.get(spec.run_id) is None:
                meta = run.meta or RunMeta.from_object(obj) or RunMeta.from_spec(spec)
                self._update(spec.run_id, meta=meta, obj=state, seen_at=self._monotonic())
            self._queue.due()
            own = self.promote_now().get(spec.run_id)
            self._refresh(spec.run_id)
        return own

    def released(self, run_id: str) -> None:
        """The launch is over: the run may be resumed by the queue (or forgotten, never seen)."""
        with self.lock:
            run = self._runs.get(run_id)
            if run == TrackedRun(run_id=run_id, holding=True):
                del self._runs[run_id]  # nothing was made: no stub left behind
            elif run is not None and run.holding:
                self._update(run_id, holding=False)

    def refused(self, spec: LaunchSpec, *, reason: str, message: str) -> None:
        """Failed before its workload could run: final, and forgotten like a deleted run."""
        record = refused_record(spec, reason, message, self._now_ms())
        with self.lock:
            known = self.table.get(spec.run_id)
            if known is not None and known.final:
                return
            self.table.put(record)
            self._update(spec.run_id, deleted_at=self._monotonic())

    def killing(self, run_id: str) -> tuple[str, bool] | None:
        """A kill begins: the workload's name and whether the run waits for a slot (it is then
        deleted, never started); ``None`` when the run is final already."""
        record = self.table.get(run_id)
        if record is None:
            raise NotFound(f"run {run_id!r} is not known to this runner")
        if record.final:
            return None
        name = record.run_name
        with self.lock:
            queued = waits(self.tracked(run_id))
            self._update(run_id, killing=True)
        return name, queued

    def kill_failed(self, run_id: str) -> None:
        self._update(run_id, killing=False)

    def stopped(self, run_id: str, message: str) -> None:
        """The run is stopped on request (its workload is gone, or will be)."""
        with self.lock:
            record = self.table.get(run_id)
            if record is None or record.final:
                return
            self.table.put(ended(record, STOPPED, KILLED, message, self._now_ms()))

    def pod_of(self, run_id: str) -> str | None:
        """The name of the run's pod while it exists."""
        with self.lock:
            pod = self.tracked(run_id).pod
        return None if pod is None or pod.deleted else pod.name

    def log_tail(self, run_id: str) -> str:
        """The log tail captured when the run's pod finished ("" when none was)."""
        with self.lock:
            return self.tracked(run_id).log_tail or ""

    def tracked(self, run_id: str) -> TrackedRun:
        """The tracked run (a blank one when unknown; not stored until updated)."""
        return self._runs.get(run_id) or TrackedRun(run_id=run_id)

    # -- watch callbacks -----------------------------------------------------------------------

    def sync_workloads(self, items: Iterable[dict[str, Any]]) -> None:
        # Read into compact states outside the lock (the pages are fetched while reading), then
        # applied in one go, so that nobody sees half a list.
        observed = [
            (meta, self.workload.state(obj)) for obj in items if (meta := RunMeta.from_object(obj))
        ]
        now = self._monotonic()
        seen: set[str] = set()
        with self.lock:
            for meta, state in observed:
                seen.add(meta.run_id)
                self._observe_state(meta, state)
            for run_id, run in list(self._runs.items()):
                if run.obj is None or run_id in seen or run.deleted_at is not None:
                    continue
                if now - (run.seen_at if run.seen_at is not None else now) >= self._vanish_grace:
                    self._workload_gone(run_id)
        self.ready = True
        self.promote_now()

    def workload_event(self, kind: str, obj: dict[str, Any]) -> None:
        meta = RunMeta.from_object(obj)
        if meta is None:
            return
        with self.lock:
            if kind == "DELETED":
                run = self.tracked(meta.run_id)
                self._runs[meta.run_id] = attrs.evolve(
                    run,
                    meta=run.meta or meta,
                    obj=run.obj or self.workload.state(obj),
                )
                self._workload_gone(meta.run_id)
            else:
                self._observe_state(meta, self.workload.state(obj))
        self.promote_now()

    def sync_pods(self, items: Iterable[dict[str, Any]]) -> None:
        views = [view for view in map(PodView.from_pod, items) if view.run_id is not None]
        now = self._monotonic()
        seen: set[str] = set()
        with self.lock:
            self.pods_listed = True
            for view in views:
                seen.add(str(view.run_id))
                self._observe_pod(view)
            for run_id, run in list(self._runs.items()):
                known = run.pod
                if known is None or run_id in seen or known.deleted:
                    continue
                seen_at = run.pod_seen_at if run.pod_seen_at is not None else now
                if now - seen_at >= self._vanish_grace:
                    self._observe_pod(attrs.evolve(known, deleted=True))
        self.promote_now()

    def pod_event(self, kind: str, pod: dict[str, Any]) -> None:
        view = PodView.from_pod(pod, deleted=kind == "DELETED")
        if view.run_id is None:
            return
        with self.lock:
            known = self.tracked(view.run_id).pod
            if view.deleted and known is not None and known.name != view.name:
                return  # an older pod of the run went away; the newer one is what counts
            self._observe_pod(view)
        self.promote_now()

    def _update(self, run_id: str, **changes: Any) -> TrackedRun:
        with self.lock:
            run = attrs.evolve(self.tracked(run_id), **changes)
            self._runs[run_id] = run
            return run

    def _observe_state(self, meta: RunMeta, state: ObjectState) -> None:
        with self.lock:
            self._update(
                meta.run_id, meta=meta, obj=state, seen_at=self._monotonic(), deleted_at=None
            )
            self._refresh(meta.run_id)

    def _observe_pod(self, view: PodView) -> None:
        assert view.run_id is not None
        with self.lock:
            self._update(view.run_id, pod=view, pod_seen_at=self._monotonic())
            self._refresh(view.run_id)

    def _workload_gone(self, run_id: str) -> None:
        """The Workflow/Job was deleted (TTL, kill, or someone with kubectl)."""
        with self.lock:
            run = self._update(run_id, deleted_at=self._monotonic())
            self._queue.due()
            record = self.table.get(run_id)
            if record is None or record.final:
                return
            if run.killing:
                self.stopped(run_id, f"{self.kind} {record.run_name} deleted on request")
                return
            message = f"{self.kind} {record.run_name} was deleted before the run finished"
            self.table.put(ended(record, FAILED, "Deleted", message, self._now_ms()))

    def _refresh(self, run_id: str) -> None:
        """Recompute one run's record from its workload and pod (caller holds the lock)."""
        run = self._runs.get(run_id)
        if run is None or run.meta is None or run.obj is None:
            return  # a pod seen before its workload: wait for the workload
        diagnosis = self._diagnoses.observe(run_id, run.pod)
        old = self.table.get(run_id)
        waiting = self._queue.limits.waiting_message(run.meta.pipeline_type) if waits(run) else None
        result = reconcile(
            run,
            old,
            diagnosis,
            now_ms=self._now_ms(),
            pods_listed=self.pods_listed,
            terminate_on_failure=self._terminate_on_failure,
            waiting=waiting,
        )
        if result is None:  # pragma: no cover - checked above
            return
        self._runs[run_id] = result.run
        self.table.put(result.record)
        if result.record.final and not (old is not None and old.final):
            self._queue.due()  # a slot freed
        if result.record.waiting and not (old is not None and old.waiting):
            self._queue.due()  # a run arrived
        if result.record.final:
            self._diagnoses.forget(run_id)
        for effect in result.effects:
            if isinstance(effect, EndWorkload):
                self._background.submit(partial(self._end_workload, effect))
            elif isinstance(effect, CaptureLog):
                self._background.submit(partial(self._capture_log_tail, run_id, effect.pod_name))

    def _end_workload(self, effect: EndWorkload) -> None:
        name, diagnosis = effect.name, effect.diagnosis
        try:
            self.workload.end(self.api, name, diagnosis)
            log.info("ended %s %s: %s", self.kind, name, diagnosis.message)
        except NotFound:
            pass
        except RunnerError as exc:
            log.warning("could not end %s %s (%s): %s", self.kind, name, diagnosis.reason, exc)

    # -- housekeeping --------------------------------------------------------------------------

    def housekeeping(self) -> None:
        """Let grace periods run out, and forget runs whose workload is long gone."""
        with self.lock:
            for run_id in self._diagnoses.waiting():
                self._refresh(run_id)
            now = self._monotonic()
            for run_id, run in list(self._runs.items()):
                if run.deleted_at is None:
                    continue
                record = self.table.get(run_id)
                if record is not None and not record.final:
                    continue
                if now - run.deleted_at >= self.retain_deleted:
                    self._forget(run_id)
        self.promote_now(force=True)  # a resume that failed, a leadership gained

    # -- the queue (k8s_queue) -----------------------------------------------------------------

    def set_leading(self, leading: Callable[[], bool]) -> None:
        self._queue.leading = leading

    def promote(self) -> None:
        """Start the waiting runs that fit now (once connected, say); returns at once."""
        self._queue.due()
        self._background.submit(self.promote_now)

    def promote_now(self, *, force: bool = False) -> dict[str, Future[None]]:
        """Resume, in arrival order, the waiting runs that fit (when due, and leading); the
        futures of the resumes by run id. Never call it holding the lock: a launch waits for
        its own run's resume."""
        with self.lock:
            resumes = self._queue.pick(
                self._runs.values(), self.run_final, self._now_ms(), force=force
            )
            for each in resumes:
                self._update(each.run_id, resumed=True)
                self._refresh(each.run_id)  # it no longer waits
        return self._queue.submit(resumes, self._resume)

    def _resume(self, each: Resume) -> None:
        try:
            self.workload.resume(self.api, each.name, deadline=each.deadline)
        except NotFound:
            return  # gone meanwhile: its watch event says how
        except RunnerError as exc:
            log.warning("could not resume %s %s: %s", self.kind, each.name, exc)
            with self.lock:
                self._update(each.run_id, resumed=False)
                self._refresh(each.run_id)
            self._queue.due()  # tried again at the next look
            raise
        log.debug("resumed %s %s", self.kind, each.name)

    def run_final(self, run_id: str) -> bool:
        record = self.table.get(run_id)
        return record is not None and record.final

    def _capture_log_tail(self, run_id: str, pod_name: str) -> None:
        """Keep the last lines of ``main``'s log in the record (bounded)."""
        tail = self._tail(pod_name)
        if tail is None:
            return
        with self.lock:
            if run_id in self._runs:
                self._update(run_id, log_tail=tail)

    def _forget(self, run_id: str) -> None:
        """Forget everything about a run: its tracked run, its record, its diagnosis."""
        self.table.remove(run_id)
        self._runs.pop(run_id, None)
        self._diagnoses.forget(run_id)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)
