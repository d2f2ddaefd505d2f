"""The Kubernetes executors' watch-fed run table: the ``RunTracking`` half of ``KubeExecutor``.

Two ``ResourceWatcher`` threads (the workloads, the pods; both by this agent's label selector)
feed ``_observe_workload`` and ``_observe_pod``, which update the run's ``TrackedRun`` and
``_refresh`` it: the pod's diagnosis (with its grace periods) and ``k8s_runs.reconcile`` give the
new record, which goes to the ``RunTable`` (whose listeners send ``run_update`` and count
metrics), and the effects (end the workload, capture a log tail) go to the background pool.
``housekeeping`` lets grace periods run out and forgets runs whose workload is long gone, in one
place: ``_forget``.

Runs waiting for a slot are suspended workloads (``k8s_queue``). Whenever a run becomes final
or goes away, or a waiting one arrives, the queue is due, and at the end of each watch event,
launch, kill and housekeeping ``_promote`` resumes, under the lock and in arrival order, what
fits; at start-up it is the same call, after re-adoption: a workload found suspended is simply a
waiting run. Only the replica connected to the server promotes (``set_leading``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from functools import partial
from typing import Any, ClassVar

import attrs

from runtime.errors import NotFound, RunnerError
from runtime.executors.admission import Limits
from runtime.executors.k8s_background import Background
from runtime.executors.k8s_diagnostics import DiagnosisTracker, Grace, PodView
from runtime.executors.k8s_queue import Resume, WaitingRuns, waits
from runtime.executors.k8s_resources import ResourceApi, Workload
from runtime.executors.k8s_runs import (
    KILLED,
    CaptureLog,
    EndWorkload,
    ObjectState,
    RunMeta,
    TrackedRun,
    reconcile,
)
from runtime.executors.k8s_watch import ResourceWatcher, workload_and_pod_watchers
from runtime.executors.table import RunTable
from runtime.messages import FAILED, STOPPED
from runtime.settings import Settings

log = logging.getLogger(__name__)


class RunTracking:
    """The runs a Kubernetes executor tracks, fed by its watches (see the module docstring)."""

    name: str
    settings: Settings
    resource: ClassVar[str]
    kind_name: ClassVar[str]
    namespace: str
    label_selector: str
    table: RunTable
    workload: Workload
    api: ResourceApi
    terminate_on_failure: bool
    _caller: Any
    _started: bool
    _clock: Callable[[], float]
    _monotonic: Callable[[], float]

    def _init_tracking(
        self,
        *,
        grace: Grace | None,
        retain_deleted_seconds: float,
        vanish_grace_seconds: float,
        housekeeping_seconds: float,
        watch_options: dict[str, Any],
    ) -> None:
        self._tracker = DiagnosisTracker(
            grace or Grace.from_settings(self.settings), self._monotonic
        )
        self._watch_options = watch_options
        self._retain_deleted = retain_deleted_seconds
        self._vanish_grace = vanish_grace_seconds
        self._lock = threading.RLock()
        #: Everything known about each run (see ``k8s_runs.TrackedRun``).
        self._runs: dict[str, TrackedRun] = {}
        #: True once a pod list succeeded: from then on a run without a pod has none yet.
        self._pods_listed = False
        self._ready = False
        self._watchers: list[ResourceWatcher] = []
        self._workload_watcher: ResourceWatcher | None = None
        self._background = Background(
            f"{self.name}-aux", housekeeping_seconds, self.housekeeping, self.name
        )
        self._queue = WaitingRuns(Limits.from_settings(self.settings), self.name)

    @property
    def core_api(self) -> Any:  # pragma: no cover - the executor's
        raise NotImplementedError

    def capture_log_tail(self, run_id: str, pod_name: str) -> None:  # pragma: no cover
        raise NotImplementedError

    def object_state(self, obj: dict[str, Any]) -> ObjectState:
        return self.workload.state(obj)

    # -- the watches ---------------------------------------------------------------------------

    def _make_watchers(self) -> None:
        list_fn, list_args = self.api.lister(self.workload.workloads)
        workloads, pods = workload_and_pod_watchers(
            prefix=self.name,
            kind=self.kind_name,
            resource=self.resource,
            workloads=(list_fn, list_args, self._sync_workloads, self._workload_event),
            pods=(self.core_api.list_namespaced_pod, self._sync_pods, self._pod_event),
            namespace=self.namespace,
            label_selector=self.label_selector,
            caller=self._caller,
            **self._watch_options,
        )
        self._workload_watcher, self._watchers = workloads, [pods, workloads]

    def _nudge_watchers(self) -> None:
        for watcher in self._watchers:
            watcher.nudge()

    def _start_sync(self) -> None:
        self._make_watchers()
        # Pods first: the workloads' records are then built with their diagnostics.
        for watcher in self._watchers:
            try:
                watcher.list_now()
            except RunnerError as exc:
                # The watch thread keeps retrying; ``ready`` waits for a successful list.
                log.error("re-adoption: cannot list %s yet: %s", watcher.resource, exc)
        self._promote(force=True)  # a workload left suspended is a waiting run
        for watcher in self._watchers:
            watcher.start()
        self._background.start_housekeeping()
        log.info(
            "%s executor watching %s in namespace %s (%d runs re-adopted, %d waiting, ready=%s)",
            self.name,
            self.resource,
            self.namespace,
            len(self.table),
            self.table.queued_count,
            self._ready,
        )

    def _stop_sync(self) -> None:
        for watcher in self._watchers:
            watcher.stop(timeout=5.0)
        self._background.stop()
        self._queue.stop()
        self._started = False

    # -- watch callbacks -----------------------------------------------------------------------

    def _sync_workloads(self, items: Iterable[dict[str, Any]]) -> None:
        # Read into compact states outside the lock (the pages are fetched while reading), then
        # applied in one go, so that nobody sees half a list.
        observed = [
            (meta, self.object_state(obj)) for obj in items if (meta := RunMeta.from_object(obj))
        ]
        now = self._monotonic()
        seen: set[str] = set()
        with self._lock:
            for meta, state in observed:
                seen.add(meta.run_id)
                self._observe_state(meta, state)
            for run_id, run in list(self._runs.items()):
                if run.obj is None or run_id in seen or run.deleted_at is not None:
                    continue
                if now - (run.seen_at if run.seen_at is not None else now) >= self._vanish_grace:
                    self._workload_gone(run_id)
        self._ready = True
        self._promote()

    def _workload_event(self, kind: str, obj: dict[str, Any]) -> None:
        meta = RunMeta.from_object(obj)
        if meta is None:
            return
        with self._lock:
            if kind == "DELETED":
                run = self._run(meta.run_id)
                self._runs[meta.run_id] = attrs.evolve(
                    run,
                    meta=run.meta or meta,
                    obj=run.obj or self.object_state(obj),
                )
                self._workload_gone(meta.run_id)
            else:
                self._observe_workload(obj, meta=meta)
        self._promote()

    def _sync_pods(self, items: Iterable[dict[str, Any]]) -> None:
        views = [view for view in map(PodView.from_pod, items) if view.run_id is not None]
        now = self._monotonic()
        seen: set[str] = set()
        with self._lock:
            self._pods_listed = True
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
        self._promote()

    def _pod_event(self, kind: str, pod: dict[str, Any]) -> None:
        view = PodView.from_pod(pod, deleted=kind == "DELETED")
        if view.run_id is None:
            return
        with self._lock:
            known = self._run(view.run_id).pod
            if view.deleted and known is not None and known.name != view.name:
                return  # an older pod of the run went away; the newer one is what counts
            self._observe_pod(view)
        self._promote()

    # -- state -------------------------------------------------------------------------------

    def _run(self, run_id: str) -> TrackedRun:
        """The tracked run (a blank one when unknown; not stored until updated)."""
        return self._runs.get(run_id) or TrackedRun(run_id=run_id)

    def _update(self, run_id: str, **changes: Any) -> TrackedRun:
        with self._lock:
            run = attrs.evolve(self._run(run_id), **changes)
            self._runs[run_id] = run
            return run

    def _observe_workload(self, obj: dict[str, Any], *, meta: RunMeta | None = None) -> None:
        meta = meta or RunMeta.from_object(obj)
        if meta is not None:
            self._observe_state(meta, self.object_state(obj))

    def _observe_state(self, meta: RunMeta, state: ObjectState) -> None:
        with self._lock:
            self._update(
                meta.run_id, meta=meta, obj=state, seen_at=self._monotonic(), deleted_at=None
            )
            self._refresh(meta.run_id)

    def _observe_pod(self, view: PodView) -> None:
        assert view.run_id is not None
        with self._lock:
            self._update(view.run_id, pod=view, pod_seen_at=self._monotonic())
            self._refresh(view.run_id)

    def _workload_gone(self, run_id: str) -> None:
        """The Workflow/Job was deleted (TTL, kill, or someone with kubectl)."""
        with self._lock:
            run = self._update(run_id, deleted_at=self._monotonic())
            self._queue.due()
            record = self.table.get(run_id)
            if record is None or record.final:
                return
            if run.killing:
                self._mark_stopped(run_id, f"{self.kind_name} {record.run_name} deleted on request")
                return
            message = f"{self.kind_name} {record.run_name} was deleted before the run finished"
            self.table.put(
                attrs.evolve(
                    record, state=FAILED, reason="Deleted", message=message, end_date=self._now_ms()
                )
            )

    def _mark_stopped(self, run_id: str, message: str) -> None:
        with self._lock:
            record = self.table.get(run_id)
            if record is None or record.final:
                return
            self.table.put(
                attrs.evolve(
                    record, state=STOPPED, reason=KILLED, message=message, end_date=self._now_ms()
                )
            )

    def _refresh(self, run_id: str) -> None:
        """Recompute one run's record from its workload and pod (caller holds the lock)."""
        run = self._runs.get(run_id)
        if run is None or run.meta is None or run.obj is None:
            return  # a pod seen before its workload: wait for the workload
        diagnosis = self._tracker.observe(run_id, run.pod)
        old = self.table.get(run_id)
        waiting = self._queue.limits.waiting_message(run.meta.pipeline_type) if waits(run) else None
        result = reconcile(
            run,
            old,
            diagnosis,
            now_ms=self._now_ms(),
            pods_listed=self._pods_listed,
            terminate_on_failure=self.terminate_on_failure,
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
            self._tracker.forget(run_id)
        for effect in result.effects:
            if isinstance(effect, EndWorkload):
                self._background.submit(partial(self._end_workload, effect))
            elif isinstance(effect, CaptureLog):
                self._background.submit(partial(self.capture_log_tail, run_id, effect.pod_name))

    def _end_workload(self, effect: EndWorkload) -> None:
        name, diagnosis = effect.name, effect.diagnosis
        try:
            self.workload.end(self.api, name, diagnosis)
            log.info("ended %s %s: %s", self.kind_name, name, diagnosis.message)
        except NotFound:
            pass
        except RunnerError as exc:
            log.warning("could not end %s %s (%s): %s", self.kind_name, name, diagnosis.reason, exc)

    # -- housekeeping --------------------------------------------------------------------------

    def housekeeping(self) -> None:
        """Let grace periods run out, and forget runs whose workload is long gone."""
        with self._lock:
            for run_id in self._tracker.waiting():
                self._refresh(run_id)
            now = self._monotonic()
            for run_id, run in list(self._runs.items()):
                if run.deleted_at is None:
                    continue
                record = self.table.get(run_id)
                if record is not None and not record.final:
                    continue
                if now - run.deleted_at >= self._retain_deleted:
                    self._forget(run_id)
        self._promote(force=True)  # a resume that failed, a leadership gained

    # -- the queue (k8s_queue) -----------------------------------------------------------------

    def set_leading(self, leading: Callable[[], bool]) -> None:
        self._queue.leading = leading

    def promote(self) -> None:
        """Start the waiting runs that fit now (once connected, say); returns at once."""
        self._queue.due()
        self._background.submit(self._promote)

    def _promote(self, *, force: bool = False) -> dict[str, Future[None]]:
        """Resume, in arrival order, the waiting runs that fit (when due, and leading); the
        futures of the resumes by run id. Never call it holding the lock: a launch waits for
        its own run's resume."""
        with self._lock:
            resumes = self._queue.pick(
                self._runs.values(), self._run_final, self._now_ms(), force=force
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
            log.warning("could not resume %s %s: %s", self.kind_name, each.name, exc)
            with self._lock:
                self._update(each.run_id, resumed=False)
                self._refresh(each.run_id)
            self._queue.due()  # tried again at the next look
            raise
        log.debug("resumed %s %s", self.kind_name, each.name)

    def _run_final(self, run_id: str) -> bool:
        record = self.table.get(run_id)
        return record is not None and record.final

    def _forget(self, run_id: str) -> None:
        """Forget everything about a run: its tracked run, its record, its diagnosis."""
        self.table.remove(run_id)
        self._runs.pop(run_id, None)
        self._tracker.forget(run_id)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)
