"""What the ``argo`` and ``simpleK8s`` executors share: launch, kill, the watch-backed run table,
diagnostics, logs, re-adoption and scheduled pipelines. Each executor gives a ``Workload``
(``k8s_resources``): how to build, read, stop and interpret its workload (a Workflow or a Job)
and its schedule (a CronWorkflow or a CronJob); everything else is here, in ``k8s_runs`` (the
tracked run and its pure reconciliation), ``k8s_logs`` and ``k8s_schedules``.

State flow::

    launch() --create--> API server <--watch-- ResourceWatcher(workloads) --+
                               ^      <--watch-- ResourceWatcher(pods) ------+--> _refresh(run)
                               |                                             |      |
    kill()  --patch/delete-----+          DiagnosisTracker (grace periods) --+      v
                                                                  reconcile -> RunTable.put
                                                                (listeners: run_update, metrics)

Everything known about a run is one ``TrackedRun`` in ``self._runs``, forgotten in ``_forget``.
When a diagnosis is fatal (an image that cannot be pulled for ``Grace.image_pull`` seconds) the
runner also ends the workload, recording the reason in annotations so that a restarted runner
re-adopts it with the same reason. Log tails are captured as soon as the pod finishes.

Re-adoption: ``start()`` lists this agent's pods and workloads (label selector managed-by +
agent-id), rebuilds the table from labels, annotations and status, then starts the watch
threads; ``ready`` turns true only once a list of workloads has succeeded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar, Self

import attrs

from runtime.errors import Conflict, LaunchFailed, NotFound, RunnerError
from runtime.executors.admission import QUEUED_AT_ANNOTATION
from runtime.executors.base import (
    LOG_CHUNK_BYTES,
    LaunchSpec,
    LogChunk,
    PipelineDeletion,
    ScheduleRef,
    ScheduleSpec,
)
from runtime.executors.k8s_client import KubeCaller, LazyApiClient, get_path
from runtime.executors.k8s_config import ConfigSecrets, secrets_resource
from runtime.executors.k8s_diagnostics import Grace
from runtime.executors.k8s_logs import PodLogs, chunk
from runtime.executors.k8s_pod import RUN_ID_ANNOTATION, selector
from runtime.executors.k8s_queue import waits
from runtime.executors.k8s_resources import ResourceApi, Workload
from runtime.executors.k8s_runs import ObjectState, RunMeta, TrackedRun
from runtime.executors.k8s_schedules import Schedules
from runtime.executors.k8s_tracking import RunTracking
from runtime.executors.k8s_watch import RawWatch
from runtime.executors.scheduling import unused_variables
from runtime.executors.table import RunTable
from runtime.kube_rest import CoreV1
from runtime.messages import FAILED
from runtime.settings import Settings

log = logging.getLogger(__name__)


class KubeExecutor(RunTracking):
    """Base of ArgoExecutor and SimpleK8sExecutor (see the module docstring)."""

    name: str = ""
    supports_schedules: bool = True
    #: For messages and RBAC errors, e.g. ``workflows.argoproj.io``.
    resource: ClassVar[str] = ""
    #: What the workload is called in messages: ``Workflow`` or ``Job``.
    kind_name: ClassVar[str] = ""

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> Self:
        """Build the executor from settings: the subclass validates its own variables (a
        ``ConfigError`` names the variable), and every scheduling variable that has no effect
        with this executor is logged as a warning. No cluster is contacted until ``start()``
        or the first launch, so dry runs work anywhere."""
        executor = cls(settings, **options)
        for warning in unused_variables(cls.name, settings):
            log.warning(warning)
        return executor

    def __init__(
        self,
        settings: Settings,
        workload: Workload,
        *,
        api_client: Any = None,
        core_api: Any = None,
        caller: KubeCaller | None = None,
        grace: Grace | None = None,
        terminate_on_failure: bool = True,
        watch_timeout: int = 300,
        resync_seconds: float = 900.0,
        watch_backoff: float = 1.0,
        watch_max_backoff: float = 8.0,
        watch_factory: Callable[[], Any] = RawWatch,
        housekeeping_seconds: float = 5.0,
        retain_deleted_seconds: float = 3600.0,
        vanish_grace_seconds: float = 30.0,
        log_tail_lines: int = 200,
        log_tail_bytes: int = 64 * 1024,
        max_log_bytes: int = 8 * 1024 * 1024,
        log_chunk_bytes: int = LOG_CHUNK_BYTES,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._clock, self._monotonic = clock, monotonic
        self.workload = workload
        self.namespace = settings.ingestion_namespace
        self.label_selector = selector(settings.agent_id)
        self.table = RunTable()
        self.terminate_on_failure = terminate_on_failure
        self._clients, self._core_api = LazyApiClient(api_client), core_api
        self._caller = caller or KubeCaller()
        # A launch that gets through after an outage ends the watches' backoff at once.
        self._caller.on_recovery(self._nudge_watchers)
        self.api = ResourceApi(self._caller, self.namespace)
        self.configs = ConfigSecrets(self.api, settings, secrets_resource(lambda: self.core_api))
        self._init_tracking(
            grace=grace,
            retain_deleted_seconds=retain_deleted_seconds,
            vanish_grace_seconds=vanish_grace_seconds,
            housekeeping_seconds=housekeeping_seconds,
            watch_options={
                "watch_timeout": watch_timeout,
                "stall_timeout": float(settings.watch_stall_seconds),
                "resync_seconds": resync_seconds,
                "backoff": watch_backoff,
                "max_backoff": watch_max_backoff,
                "watch_factory": watch_factory,
                "clock": monotonic,
            },
        )
        self._pod_logs = PodLogs(
            caller=self._caller, core_api=lambda: self.core_api, namespace=self.namespace
        )
        self._pod_logs.set_limits(log_tail_lines, log_tail_bytes, max_log_bytes)
        self.log_chunk_bytes, self._started = log_chunk_bytes, False

    # -- API objects -----------------------------------------------------------------------

    @property
    def core_api(self) -> Any:
        if self._core_api is None:
            self._core_api = CoreV1(self._clients.get())
        return self._core_api

    # -- Executor protocol -------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._ready

    def build(self, spec: LaunchSpec) -> dict[str, Any]:
        """The workload manifest of one run (pure)."""
        return self.workload.build(spec)

    def build_schedule(self, spec: ScheduleSpec) -> dict[str, Any]:
        """The CronWorkflow/CronJob manifest of a scheduled pipeline (pure)."""
        return self.workload.build_schedule(spec)

    def render(self, spec: LaunchSpec) -> list[dict[str, Any]]:
        body = self.build(spec)
        return [body, self.configs.render(body, spec.config, body["metadata"]["labels"])]

    def launch(self, spec: LaunchSpec) -> None:
        body = self.build(spec)
        # Its place in the queue, should it have to wait for a slot (k8s_queue).
        body["metadata"]["annotations"][QUEUED_AT_ANNOTATION] = str(int(self._clock() * 1e6))
        # Not to be resumed by anyone before its config Secret exists.
        self._update(spec.run_id, holding=True)
        try:
            try:
                obj, created = self._create_or_adopt(spec, body)
            except RunnerError as exc:
                if not exc.retryable:
                    self._launch_refused(spec, exc)
                raise
            self._start(spec, obj, created=created, labels=body["metadata"]["labels"])
        finally:
            self._release(spec.run_id)

    def _start(
        self, spec: LaunchSpec, obj: dict[str, Any], *, created: bool, labels: dict[str, str]
    ) -> None:
        """Give the workload (created suspended) its config Secret, then resume it if a slot is
        free (in arrival order: ``_promote``); otherwise it waits, suspended. A re-sent launch
        of a workload that already runs changes nothing. If a step fails, a workload this call
        created is deleted (the Secret goes with it) and the run failed."""
        state = self.object_state(obj)
        name = str(get_path(obj, "metadata", "name"))
        if created or state.suspended:
            try:
                self.configs.provide(obj, spec.config, labels)
            except RunnerError as exc:
                self._failed_start(spec, name, exc, created=created)
        with self._lock:
            run = self._update(spec.run_id, holding=False)
            if run.obj is None or self.table.get(spec.run_id) is None:
                meta = run.meta or RunMeta.from_object(obj) or RunMeta.from_spec(spec)
                self._update(spec.run_id, meta=meta, obj=state, seen_at=self._monotonic())
            self._queue.due()
            # Picked (or not) before its first record: a run that starts at once never says
            # it waited.
            own = self._promote().get(spec.run_id)
            self._refresh(spec.run_id)
        if own is None:
            return  # it waits for a slot, or it runs already
        try:
            own.result()
        except RunnerError as exc:
            self._failed_start(spec, name, exc, created=created)

    def _failed_start(
        self, spec: LaunchSpec, name: str, exc: RunnerError, *, created: bool
    ) -> None:
        if not created:
            raise exc
        # Failed first, so the watch's DELETED event does not report it as deleted by hand.
        self.refuse(spec, reason=type(exc).__name__, message=exc.message)
        try:
            self.api.delete(self.workload.workloads, name, "Background")
        except RunnerError as cleanup:
            log.warning("could not delete %s %s: %s", self.kind_name, name, cleanup)
        # The run is failed for good: sending the same request again answers that.
        raise type(exc)(exc.message, retryable=False) from None

    def _release(self, run_id: str) -> None:
        """The launch is over: the run may be resumed by the queue (or forgotten, never seen)."""
        with self._lock:
            run = self._runs.get(run_id)
            if run == TrackedRun(run_id=run_id, holding=True):
                del self._runs[run_id]  # nothing was made: no stub left behind
            elif run is not None and run.holding:
                self._update(run_id, holding=False)

    def _launch_refused(self, spec: LaunchSpec, exc: RunnerError) -> None:
        """A create refused for good (RBAC, missing namespace or CRD, a foreign object): the
        run is failed, so the server hears it as a run_update too, and the same run id is not
        launched again; the record is forgotten like a deleted run's."""
        self.refuse(spec, reason=type(exc).__name__, message=exc.message)

    def refuse(self, spec: LaunchSpec, *, reason: str, message: str) -> None:
        now = self._now_ms()
        state = ObjectState(
            state=FAILED, reason=reason, message=message, start_date=now, end_date=now
        )
        record = RunMeta.from_spec(spec).record(state)
        with self._lock:
            known = self.table.get(spec.run_id)
            if known is not None and known.final:
                return
            self.table.put(record)
            self._update(spec.run_id, deleted_at=self._monotonic())

    def _create_or_adopt(
        self, spec: LaunchSpec, body: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """The run's workload, and whether this call created it."""
        name = body["metadata"]["name"]
        res = self.workload.workloads
        try:
            return self.api.create(res, body), True
        except Conflict:
            # A re-sent request, or a retry after a timeout that had in fact created it.
            try:
                obj = self.api.get(res, name)
            except NotFound:
                # Deleted between our create and our read (a TTL): create it once more.
                return self.api.create(res, body), True
            owner = get_path(obj, "metadata", "annotations", RUN_ID_ANNOTATION)
            if owner != spec.run_id:
                raise Conflict(
                    f"{self.kind_name} {name} in namespace {self.namespace} exists but belongs "
                    f"to run {owner!r}, not {spec.run_id!r}"
                ) from None
            log.info("adopted existing %s %s for run %s", self.kind_name, name, spec.run_id)
            return obj, False
        except NotFound as exc:
            # A create answered 404: the namespace, or for Argo the CRD, does not exist.
            raise LaunchFailed(f"cannot create {self.kind_name} {name}: {exc.message}") from None

    def kill(self, run_id: str) -> None:
        self._kill(run_id)

    def _kill(self, run_id: str, **options: Any) -> None:
        record = self.table.get(run_id)
        if record is None:
            raise NotFound(f"run {run_id!r} is not known to this runner")
        if record.final:
            return
        name = str(record.extra.get("name") or record.run_name)
        with self._lock:
            queued = waits(self._run(run_id))  # then it never starts: deleted, not stopped
            self._update(run_id, killing=True)
        try:
            gone = self.workload.kill(self.api, name, queued=queued, **options)
        except NotFound:
            gone = True
        except BaseException:
            self._update(run_id, killing=False)
            raise
        if gone:
            before = " before it started (it was waiting for a slot)" if queued else ""
            self._mark_stopped(run_id, f"{self.kind_name} {name} deleted on request{before}")
        self._promote()

    def logs(self, run_id: str, after: int = 0) -> LogChunk:
        """The run's ``main`` container log from byte ``after``: live from its pod while the pod
        exists (up to ``max_log_bytes``), else the tail captured when it finished."""
        record = self.table.get(run_id)
        if record is None:
            raise NotFound(f"run {run_id!r} is not known to this runner")
        final = record.final  # before the log: a final run writes nothing more
        text: str | None = None
        with self._lock:
            pod = self._run(run_id).pod
        if pod is not None and not pod.deleted:
            text = self._pod_logs.live(pod.name)
        if text is None:
            latest = self.table.get(run_id) or record
            text = str(latest.extra.get("log_tail") or "")
        return chunk(text, after, final=final, limit=self.log_chunk_bytes)

    def capture_log_tail(self, run_id: str, pod_name: str) -> None:
        """Keep the last lines of ``main``'s log in the record (bounded)."""
        tail = self._pod_logs.tail(pod_name)
        if tail is None:
            return
        with self._lock:
            record = self.table.get(run_id)
            if record is not None:
                self.table.put(attrs.evolve(record, extra={**record.extra, "log_tail": tail}))

    # -- scheduled pipelines (see k8s_schedules) -------------------------------------------------

    def render_schedule(self, spec: ScheduleSpec) -> list[dict[str, Any]]:
        body = self.build_schedule(spec)
        return [body, self.configs.render(body, spec.config, body["metadata"]["labels"])]

    def deploy_schedule(self, spec: ScheduleSpec) -> ScheduleRef:
        return self._schedules.deploy(spec)

    def toggle_schedule(
        self, pipeline_fqn: str, enabled: bool, *, dry_run: bool = False
    ) -> ScheduleRef:
        return self._schedules.toggle(pipeline_fqn, enabled, dry_run=dry_run)

    def delete_pipeline(self, pipeline_fqn: str, *, dry_run: bool = False) -> PipelineDeletion:
        return self._schedules.delete_pipeline(pipeline_fqn, dry_run=dry_run)

    @property
    def _schedules(self) -> Schedules:
        return Schedules(
            api=self.api,
            workload=self.workload,
            configs=self.configs,
            agent_id=self.settings.agent_id,
            label_selector=self.label_selector,
            run_final=self._run_final,
        )

    # -- health, start / stop --------------------------------------------------------------------

    def health(self) -> dict[str, str]:
        watcher = self._workload_watcher
        if watcher is None:
            out = {"kubernetes": "not started"}
        elif watcher.healthy:
            out = {"kubernetes": "ok"}
        else:
            out = {"kubernetes": f"unavailable: {watcher.last_error or 'connecting'}"}
        healthy = None if watcher is None else watcher.healthy
        out.update(self.workload.health(healthy, None if watcher is None else watcher.last_error))
        return out

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        await asyncio.to_thread(self._start_sync)

    async def stop(self) -> None:
        await asyncio.to_thread(self._stop_sync)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait for background work (log captures, ending failed workloads, resumes); True if
        done."""
        return self._background.wait_idle(timeout) and self._queue.wait_idle(timeout)
